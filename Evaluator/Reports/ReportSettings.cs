using RobustEval.Geometry;

namespace RobustEval.Evaluator.Reports;

/// <summary>One ε-sweep of a report: a norm and its radii.</summary>
internal sealed record SweepSpec(NormKind Norm, IReadOnlyList<float> Radii)
{
    /// <summary>"linf:0:0.3:0.025" or "l2:0.5,1,2".</summary>
    public static SweepSpec Parse(string text)
    {
        int colon = text.IndexOf(':');
        if (colon < 0 || NormKinds.TryParse(text[..colon]) is not { } norm)
        {
            throw new UserErrorException($"--eps-sweep '{text}' is not NORM:START:STOP:STEP or NORM:R1,R2,… (e.g. linf:0:0.3:0.025)");
        }
        return new SweepSpec(norm, Cli.SweepCommand.ParseRadii(text[(colon + 1)..]));
    }
}

/// <summary>What a report covers and how hard it attacks.</summary>
internal sealed record ReportSettings
{
    public required IReadOnlyList<string> Models { get; init; }

    public string? Data { get; init; }

    public string? TransferSet { get; init; }

    public required IReadOnlyList<SweepSpec> Sweeps { get; init; }

    /// <summary>fgm (the paper's fresh examples, eq. 2/11) or pgd.</summary>
    public string SweepAttack { get; init; } = "fgm";

    public int SweepSteps { get; init; } = 10;

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
