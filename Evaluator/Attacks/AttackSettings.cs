using System.Globalization;
using RobustEval.Evaluator.Gradients;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// Everything that defines an attack run: which attack (its registered name), the ball (norm and radius), the loss
/// it maximises and the goal, how many steps of what size, random start, restarts, the seed, whether examples stop
/// once fooled, and the pixel box results stay in. <see cref="AttackRegistry"/> fills the defaults of each attack.
/// </summary>
public sealed record AttackSettings
{
    /// <summary>The registered attack: fgm, pgd, apgd, … (see <see cref="AttackRegistry"/>).</summary>
    public required string Name { get; init; }

    public required NormKind Norm { get; init; }

    /// <summary>Radius of the ball, in [0, 1] pixel units.</summary>
    public required float Eps { get; init; }

    public Loss Loss { get; init; } = Loss.CrossEntropy;

    public Goal Goal { get; init; } = Goal.Untargeted;

    /// <summary>Gradient steps (iterations) per run.</summary>
    public int Steps { get; init; } = 1;

    /// <summary>The step size of PGD and FGM; APGD's first (2ε, ε for ℓ1), which it then adapts per example.</summary>
    public float StepSize { get; init; }

    public bool RandomStart { get; init; }

    /// <summary>Runs per example; each keeps the worst case so far (with early stopping, later runs attack only unfooled examples).</summary>
    public int Restarts { get; init; } = 1;

    /// <summary>ℓ1 steps of FGM and PGD change this many coordinates (1: the paper's single pixel).</summary>
    public int Pixels { get; init; } = 1;

    public int Seed { get; init; } = 1;

    /// <summary>An example that reaches the goal takes no more steps and costs no more model evaluations.</summary>
    public bool EarlyStop { get; init; }

    public PixelBox Box { get; init; } = PixelBox.Unit;

    /// <summary>
    /// Evaluations averaged per step (expectation over transformation, for randomized models: AutoAttack's "rand"
    /// version uses 20); 1 for a deterministic model.
    /// </summary>
    public int Draws { get; init; } = 1;

    /// <summary>
    /// ℓ1 APGD only: AutoAttack's schedule of decreasing radii (3ε, 2ε, then ε, for 30 %, 30 % and 40 % of the
    /// iterations), which finds sparse adversarial points a run at ε alone misses (Croce &amp; Hein 2021).
    /// </summary>
    public bool DecreasingRadii { get; init; }

    public NormBall Ball => NormBall.For(Norm, Pixels);

    /// <summary>APGD, FAB and their presets count iterations and choose their own steps.</summary>
    private bool IsApgd => Name.StartsWith("apgd", StringComparison.Ordinal) || Name.StartsWith("fab", StringComparison.Ordinal);

    private bool IsSquare => Name == "square";

    /// <summary>Refuses settings no attack can run, with a one-line reason.</summary>
    public void Validate()
    {
        if (!(Eps > 0) || !float.IsFinite(Eps))
        {
            throw new UserErrorException($"--eps must be > 0 (got {Eps.ToString(CultureInfo.InvariantCulture)})");
        }
        if (Steps < 1)
        {
            throw new UserErrorException($"--{(IsApgd ? "iterations" : "steps")} must be at least 1 (got {Steps})");
        }
        if (!(StepSize > 0) || !float.IsFinite(StepSize))
        {
            throw new UserErrorException($"--step-size must be > 0 (got {StepSize.ToString(CultureInfo.InvariantCulture)})");
        }
        if (Restarts < 1)
        {
            throw new UserErrorException($"--restarts must be at least 1 (got {Restarts})");
        }
        if (Pixels < 1)
        {
            throw new UserErrorException($"--pixels must be at least 1 (got {Pixels})");
        }
        if (Draws < 1)
        {
            throw new UserErrorException($"draws per step must be at least 1 (got {Draws})");
        }
        if (Loss.Targeted != Goal.IsTargeted)
        {
            throw new UserErrorException(Loss.Targeted
                ? $"--loss {Loss.Name} aims at a target class: give --target (random, least-likely, top-K) or --target-labels"
                : $"--target {Goal.Name} needs a targeted loss (--loss ce-targeted, dlr-targeted or margin-targeted); {Loss.Name} ignores the target");
        }
    }

    /// <summary>A one-line description, e.g. "pgd ℓ∞ ε=0.3, 20 steps of 0.075, random start".</summary>
    public override string ToString()
    {
        var text = Name == "fgm"
            ? $"{Name} {Norm.Symbol()} ε={Eps:G4}{(Norm == NormKind.L1 && Pixels > 1 ? $" ({Pixels} pixels)" : "")}"
            : $"{Name} {Norm.Symbol()} ε={Eps:G4}, {Steps} {(IsSquare ? "queries" : IsApgd ? "iterations" : $"steps of {StepSize:G4}")}" +
              $"{(RandomStart && !IsApgd && !IsSquare ? ", random start" : "")}{(Restarts > 1 ? $", {Restarts} restarts" : "")}" +
              $"{(Draws > 1 ? $", gradients averaged over {Draws} draws" : "")}{(DecreasingRadii && Norm == NormKind.L1 ? ", radii 3ε, 2ε, ε" : "")}";
        if (Loss != Loss.CrossEntropy && !Name.StartsWith("fab", StringComparison.Ordinal) && !IsSquare)
        {
            text += $", {Loss.Name} loss";
        }
        if (Goal.IsTargeted)
        {
            text += $", {Goal.Name} targets";
        }
        return text;
    }
}
