using RobustEval.Evaluator.Attacks;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Reports;

/// <summary>
/// One ε-sweep of a report: an attack (any registered one, with its options; the radius is set per point), a norm
/// and its radii.
/// </summary>
internal sealed record SweepSpec(AttackRequest Attack, IReadOnlyList<float> Radii)
{
    public NormKind Norm => Attack.Norm;

    /// <summary>The settings of the point at radius <paramref name="eps"/>.</summary>
    public AttackSettings At(float eps) => AttackRegistry.Resolve(Attack with { Eps = eps });

    /// <summary>"linf" for an FGM sweep, else the attack, its steps and the norm: "pgd20-linf", "apgd100-l2".</summary>
    public string Key => Attack.Name == "fgm" ? Norm.Name() : $"{Attack.Name}{At(1f).Steps}-{Norm.Name()}";

    /// <summary>How the figure names the attack: "FGM", "PGD-20", "APGD-T-100".</summary>
    public string Label => Attack.Name == "fgm" ? "FGM" : $"{Attack.Name.ToUpperInvariant()}-{At(1f).Steps}";
}

/// <summary>An AutoAttack run a report makes on every model: threat model and version.</summary>
internal sealed record AutoAttackSpec(NormKind Norm, float Eps, string Version)
{
    /// <summary>"linf:0.3" or "l2:1.5:plus" (version standard by default).</summary>
    public static AutoAttackSpec Parse(string text)
    {
        var parts = text.Split(':');
        if (parts.Length is < 2 or > 3 || NormKinds.TryParse(parts[0]) is not { } norm || global::RobustEval.Cli.Fractions.TryParse(parts[1]) is not { } eps || !(eps > 0))
        {
            throw new UserErrorException($"--autoattack '{text}' is not NORM:EPS[:VERSION] (e.g. linf:0.3, linf:8/255:plus)");
        }
        var version = parts.Length == 3 ? parts[2].ToLowerInvariant() : "standard";
        if (!AutoAttackPlan.Versions.Contains(version) || version == "custom")
        {
            throw new UserErrorException($"--autoattack '{text}': unknown version '{parts[2]}' ({string.Join(", ", AutoAttackPlan.Versions.Where(v => v != "custom"))})");
        }
        return new AutoAttackSpec(norm, (float)eps, version);
    }
}

/// <summary>What a report covers and how hard it attacks.</summary>
internal sealed record ReportSettings
{
    public required IReadOnlyList<string> Models { get; init; }

    public string? Data { get; init; }

    public string? TransferSet { get; init; }

    /// <summary>
    /// Models with the same file name in different folders are independent seeds of one net: the tables show each
    /// net's mean ± standard deviation over them, and the ε-sweeps error bars.
    /// </summary>
    public bool Replicates { get; init; }

    /// <summary>results.json of <c>transfer summarize</c>: Table 1 over seeds, shown as it is.</summary>
    public string? SeedSummary { get; init; }

    public required IReadOnlyList<SweepSpec> Sweeps { get; init; }

    /// <summary>AutoAttack runs made on every model (on the first <see cref="Limit"/> images).</summary>
    public IReadOnlyList<AutoAttackSpec> AutoAttacks { get; init; } = [];

    /// <summary>results.json files (or their folders) of earlier autoattack or merge runs, matched to the models by SHA-256.</summary>
    public IReadOnlyList<string> AutoAttackResults { get; init; } = [];

    /// <summary>Images attacked for sweeps (the clean accuracy uses all of the data).</summary>
    public int Limit { get; init; } = 1000;

    public NormKind FoscNorm { get; init; } = NormKind.Linf;

    public float FoscEps { get; init; } = 0.1f;

    public int FoscSteps { get; init; } = 20;

    public int FoscLimit { get; init; } = 200;

    public int GridImages { get; init; } = 8;

    /// <summary>Images per model evaluation; null: measured per model (--batch auto).</summary>
    public int? Batch { get; init; } = Runtime.AutoBatch.Default;

    public string Title { get; init; } = "RobustEval robustness report";

    /// <summary>Preprocessing given on the command line for every model (null: each model's sidecar file or card).</summary>
    public Classifiers.Preprocessing? Preprocessing { get; init; }

    /// <summary>--input-shape for models with a dynamic image size (null: the data's size).</summary>
    public Classifiers.InputSize? InputSize { get; init; }
}
