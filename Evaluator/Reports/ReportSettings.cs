using RobustEval.Geometry;

namespace RobustEval.Evaluator.Reports;

/// <summary>One ε-sweep of a report: an attack (fgm, or pgd with a number of steps), a norm and its radii.</summary>
internal sealed record SweepSpec(string Attack, int Steps, NormKind Norm, IReadOnlyList<float> Radii)
{
    /// <summary>
    /// "linf:0:0.3:0.025", "l2:0.5,1,2", or with an attack in front: "pgd20:linf:0.3" (PGD, 20 steps of ε/4),
    /// "fgm:linf:0.1". Without one, <paramref name="defaultAttack"/> and <paramref name="defaultSteps"/> apply.
    /// </summary>
    public static SweepSpec Parse(string text, string defaultAttack, int defaultSteps)
    {
        var (attack, steps, rest) = (defaultAttack, defaultSteps, text);
        var head = text.Split(':')[0].ToLowerInvariant();
        if (head == "fgm" || head.StartsWith("pgd", StringComparison.Ordinal))
        {
            attack = head == "fgm" ? "fgm" : "pgd";
            if (attack == "pgd" && head.Length > 3 && !(int.TryParse(head[3..], out steps) && steps > 0))
            {
                throw new UserErrorException($"--eps-sweep '{text}': '{head}' is not pgd followed by a number of steps (e.g. pgd20)");
            }
            rest = text[(head.Length + 1)..];
        }
        int colon = rest.IndexOf(':');
        if (colon < 0 || NormKinds.TryParse(rest[..colon]) is not { } norm)
        {
            throw new UserErrorException($"--eps-sweep '{text}' is not [ATTACK:]NORM:START:STOP:STEP or [ATTACK:]NORM:R1,R2,… (e.g. linf:0:0.3:0.025, pgd20:linf:0.3)");
        }
        return new SweepSpec(attack, steps, norm, Cli.SweepCommand.ParseRadii(rest[(colon + 1)..]));
    }

    public string Key => Attack == "pgd" ? $"pgd{Steps}-{Norm.Name()}" : Norm.Name();
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
