using RobustEval.Evaluator.Gradients;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Attacks;

/// <summary>The settings an attack can take, by the command-line option that sets each.</summary>
public enum AttackOption
{
    Loss,
    Target,
    Steps,
    StepSize,
    Restarts,
    Pixels,
    Seed,
    EarlyStop,
}

/// <summary>
/// What a user asked for: an attack by name, the ball, and whichever options were given (null: the attack's
/// default). <see cref="AttackRegistry.Resolve"/> turns it into complete <see cref="AttackSettings"/>, refusing
/// options the attack does not use.
/// </summary>
public sealed record AttackRequest
{
    public required string Name { get; init; }

    public required NormKind Norm { get; init; }

    public required float Eps { get; init; }

    public Loss? Loss { get; init; }

    public Goal? Goal { get; init; }

    public int? Steps { get; init; }

    public float? StepSize { get; init; }

    public int? Restarts { get; init; }

    public int? Pixels { get; init; }

    public int? Seed { get; init; }

    public bool? EarlyStop { get; init; }

    /// <summary>The options this request sets.</summary>
    public IEnumerable<AttackOption> Given()
    {
        if (Loss is not null) yield return AttackOption.Loss;
        if (Goal is not null) yield return AttackOption.Target;
        if (Steps is not null) yield return AttackOption.Steps;
        if (StepSize is not null) yield return AttackOption.StepSize;
        if (Restarts is not null) yield return AttackOption.Restarts;
        if (Pixels is not null) yield return AttackOption.Pixels;
        if (Seed is not null) yield return AttackOption.Seed;
        if (EarlyStop is not null) yield return AttackOption.EarlyStop;
    }

    /// <summary>The command-line spelling of an option, for messages.</summary>
    public static string Flag(AttackOption option) => option switch
    {
        AttackOption.Loss => "--loss",
        AttackOption.Target => "--target",
        AttackOption.Steps => "--steps",
        AttackOption.StepSize => "--step-size",
        AttackOption.Restarts => "--restarts",
        AttackOption.Pixels => "--pixels",
        AttackOption.Seed => "--seed",
        AttackOption.EarlyStop => "--early-stop",
        _ => throw new ArgumentOutOfRangeException(nameof(option), option, "not an attack option"),
    };
}
