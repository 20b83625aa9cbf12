using RobustEval.Evaluator.Gradients;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// Which attacks an AutoAttack run chains, with what settings (Croce &amp; Hein 2020), and the flags the choice
/// itself raises (attacks dropped because the model has too few classes or ops without a gradient rule).
/// </summary>
public sealed record AutoAttackPlan
{
    public static IReadOnlyList<string> Versions { get; } = ["standard", "plus", "rand", "blackbox", "custom"];

    public required string Version { get; init; }

    public required NormKind Norm { get; init; }

    public required float Eps { get; init; }

    public required int Seed { get; init; }

    /// <summary>The attacks in the order they run; each attacks only the points all earlier ones left robust.</summary>
    public required IReadOnlyList<AttackSettings> Attacks { get; init; }

    public IReadOnlyList<ReliabilityFlag> Flags { get; init; } = [];

    /// <summary>
    /// The attacks of <paramref name="version"/>: standard (ℓ∞, ℓ2: APGD-CE, APGD-T, FAB-T, Square with 5,000 queries;
    /// ℓ1: APGD-CE with 5 restarts and APGD-T, both with AutoAttack's decreasing radii 3ε, 2ε, ε), plus (APGD-CE and APGD-DLR with 5 restarts, FAB with 5 restarts,
    /// Square, APGD-T, FAB-T), rand (APGD-CE and APGD-DLR, each gradient the mean of 20 draws), blackbox (Square
    /// alone) or custom (<paramref name="custom"/>, by registered name, with their defaults). Attacks the model cannot
    /// run are dropped with a flag: DLR losses below 3 (targeted: 4) classes, white-box attacks when
    /// <paramref name="gradientBlockers"/> names ops without a gradient rule.
    /// </summary>
    public static AutoAttackPlan Create(string version, NormKind norm, float eps, int seed, IReadOnlyList<string>? custom, int classes,
        IReadOnlyList<string> gradientBlockers)
    {
        version = version.Trim().ToLowerInvariant();
        if (!Versions.Contains(version))
        {
            throw new UserErrorException($"unknown --version '{version}' ({string.Join(", ", Versions)})");
        }
        if (custom is { Count: > 0 } && version != "custom")
        {
            throw new UserErrorException($"--attacks chooses the attacks of --version custom, not of {version}");
        }
        bool l1 = norm == NormKind.L1;
        (string Name, int? Restarts, int? Eot)[] names = version switch
        {
            "standard" when l1 => [("apgd-ce", 5, null), ("apgd-t", null, null)],
            "standard" => [("apgd-ce", null, null), ("apgd-t", null, null), ("fab-t", null, null), ("square", null, null)],
            "plus" when l1 => [("apgd-ce", 5, null), ("apgd-dlr", 5, null), ("fab", 5, null), ("apgd-t", null, null), ("fab-t", null, null)],
            "plus" => [("apgd-ce", 5, null), ("apgd-dlr", 5, null), ("fab", 5, null), ("square", null, null), ("apgd-t", null, null), ("fab-t", null, null)],
            "rand" => [("apgd-ce", null, RandomizedDraws), ("apgd-dlr", null, RandomizedDraws)],
            "blackbox" => [("square", null, null)],
            _ => custom is { Count: > 0 }
                ? custom.Select(n => (AttackRegistry.Get(n).Name, (int?)null, (int?)null)).ToArray()
                : throw new UserErrorException("--version custom needs --attacks, e.g. --attacks apgd-ce,square"),
        };
        if (names.Select(n => n.Name).Distinct().Count() != names.Length)
        {
            throw new UserErrorException($"--attacks names an attack twice ({string.Join(",", names.Select(n => n.Name))})");
        }
        var flags = new List<ReliabilityFlag>();
        var attacks = new List<AttackSettings>();
        foreach (var (name, restarts, eot) in names)
        {
            // ℓ1 APGD takes AutoAttack's decreasing radii in the published versions (not in custom lists, which get the defaults).
            var settings = AttackRegistry.Resolve(new AttackRequest { Name = name, Norm = norm, Eps = eps, Restarts = restarts, Seed = seed }) with
            {
                Draws = eot ?? 1,
                DecreasingRadii = l1 && version != "custom" && name.StartsWith("apgd", StringComparison.Ordinal),
            };
            if (settings.Loss.MinimumClasses > classes)
            {
                flags.Add(ReliabilityFlag.DlrClasses(name, settings.Loss, classes));
                continue;
            }
            if (name != "square" && gradientBlockers.Count > 0)
            {
                continue;
            }
            attacks.Add(settings);
        }
        if (gradientBlockers.Count > 0)
        {
            flags.Add(ReliabilityFlag.WhiteBoxBlocked(gradientBlockers, attacks.Count > 0));
        }
        if (attacks.Count == 0)
        {
            throw new UserErrorException(gradientBlockers.Count == 0 ? $"no attack of --version {version} can run on this model"
                : l1 ? $"no gradient rule for {string.Join(", ", gradientBlockers)}, so no white-box attack is possible, and square runs in the linf and l2 balls only"
                : $"no gradient rule for {string.Join(", ", gradientBlockers)}, so no white-box attack is possible and --version {version} has no other; use --version blackbox (square)");
        }
        return new AutoAttackPlan { Version = version, Norm = norm, Eps = eps, Seed = seed, Attacks = attacks, Flags = flags };
    }

    /// <summary>Draws per gradient of the "rand" version (AutoAttack's expectation over transformation, EOT).</summary>
    public const int RandomizedDraws = 20;

    /// <summary>"standard ℓ∞ ε=0.3: apgd-ce, apgd-t, fab-t, square".</summary>
    public override string ToString() => $"{Version} {Norm.Symbol()} ε={Eps:G4}: {string.Join(", ", Attacks.Select(a => a.Name))}";
}
