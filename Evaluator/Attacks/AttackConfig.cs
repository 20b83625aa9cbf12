using RobustEval.Geometry;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// Everything that defines a gradient attack: the ball (norm, radius), how many steps of what size, whether it
/// starts at a random point of the ball, how many restarts, and the pixel box results are clipped to.
/// </summary>
internal sealed record AttackConfig
{
    public required string Name { get; init; }

    public required NormKind Norm { get; init; }

    public required float Eps { get; init; }

    public int Steps { get; init; } = 1;

    public float StepSize { get; init; }

    public bool RandomStart { get; init; }

    public int Restarts { get; init; } = 1;

    /// <summary>ℓ1 steps change this many coordinates (1: the paper's single pixel).</summary>
    public int Pixels { get; init; } = 1;

    public int Seed { get; init; } = 1;

    public PixelBox Box { get; init; } = PixelBox.Unit;

    public NormBall Ball => NormBall.For(Norm, Pixels);

    public void Validate()
    {
        if (!(Eps > 0) || !float.IsFinite(Eps))
        {
            throw new UserErrorException($"--eps must be > 0 (got {Eps})");
        }
        if (Steps < 1)
        {
            throw new UserErrorException($"--steps must be at least 1 (got {Steps})");
        }
        if (!(StepSize > 0) || !float.IsFinite(StepSize))
        {
            throw new UserErrorException($"--step-size must be > 0 (got {StepSize})");
        }
        if (Restarts < 1)
        {
            throw new UserErrorException($"--restarts must be at least 1 (got {Restarts})");
        }
        if (Pixels < 1)
        {
            throw new UserErrorException($"--pixels must be at least 1 (got {Pixels})");
        }
    }

    public override string ToString() =>
        Steps == 1 && !RandomStart
            ? $"{Name} {Norm.Symbol()} ε={Eps:G4}{(Norm == NormKind.L1 && Pixels > 1 ? $" ({Pixels} pixels)" : "")}"
            : $"{Name} {Norm.Symbol()} ε={Eps:G4}, {Steps} steps of {StepSize:G4}{(RandomStart ? ", random start" : "")}{(Restarts > 1 ? $", {Restarts} restarts" : "")}";
}
