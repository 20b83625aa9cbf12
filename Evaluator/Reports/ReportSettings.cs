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

/// <summary>What a report covers and how hard it attacks.</summary>
internal sealed record ReportSettings
{
    public required IReadOnlyList<string> Models { get; init; }

    public string? Data { get; init; }

    public string? TransferSet { get; init; }

    public required IReadOnlyList<SweepSpec> Sweeps { get; init; }

    /// <summary>Images attacked for sweeps (the clean accuracy uses all of the data).</summary>
    public int Limit { get; init; } = 1000;

    public NormKind FoscNorm { get; init; } = NormKind.Linf;

    public float FoscEps { get; init; } = 0.1f;

    public int FoscSteps { get; init; } = 20;

    public int FoscLimit { get; init; } = 200;

    public int GridImages { get; init; } = 8;

    public int Batch { get; init; } = 256;

    public string Title { get; init; } = "RobustEval robustness report";
}
