using RobustEval.Evaluator.Gradients;
using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Attacks;

/// <summary>One registered attack: its name, what it does, which options it takes and how it is built.</summary>
public sealed class AttackDefinition
{
    internal AttackDefinition(string name, string summary, AttackOption[] options, Func<AttackRequest, AttackSettings> defaults,
        Func<GradientSessions, AttackSettings, IAttack> core)
    {
        Name = name;
        Summary = summary;
        Options = options.ToHashSet();
        Defaults = defaults;
        Core = core;
    }

    public string Name { get; }

    public string Summary { get; }

    /// <summary>The options this attack uses; any other one given is an error, never silently ignored.</summary>
    public IReadOnlySet<AttackOption> Options { get; }

    internal Func<AttackRequest, AttackSettings> Defaults { get; }

    internal Func<GradientSessions, AttackSettings, IAttack> Core { get; }
}

/// <summary>
/// Every attack RobustEval runs, registered once by name with its options and defaults. The commands (attack,
/// sweep, report, transfer-set) and library users all resolve and build attacks here, so <c>--attack apgd --loss
/// dlr</c> means the same thing everywhere.
/// </summary>
public static class AttackRegistry
{
    private static readonly AttackOption[] Common = [AttackOption.Target, AttackOption.Seed];

    /// <summary>AutoAttack's number of target classes for APGD-T.</summary>
    public const int DefaultTopK = 9;

    public static IReadOnlyList<AttackDefinition> All { get; } =
    [
        new("fgm", "one steepest-ascent step of size eps from the clean image (Shaham et al. eq. 11: FGSM for linf, the single-pixel attack for l1)",
            [AttackOption.Loss, AttackOption.Pixels, .. Common],
            r => Base(r, steps: 1, stepSize: r.Eps, randomStart: false, earlyStop: false),
            (session, settings) => new Pgd(session, settings)),
        new("pgd", "projected gradient descent (Madry et al.): random start, --steps steps of --step-size (default eps/4), the final iterate",
            [AttackOption.Loss, AttackOption.Steps, AttackOption.StepSize, AttackOption.Restarts, AttackOption.Pixels, AttackOption.EarlyStop, .. Common],
            r => Base(r, steps: 40, stepSize: r.StepSize ?? r.Eps / 4, randomStart: true, earlyStop: false),
            (session, settings) => new Pgd(session, settings)),
        Apgd("apgd", "Auto-PGD (Croce & Hein 2020; l1: 2021): no step size to tune, per-example step halving, --steps iterations (default 100)", null),
        Apgd("apgd-ce", "APGD on the cross-entropy (AutoAttack's first attack)", Loss.CrossEntropy),
        Apgd("apgd-dlr", "APGD on the DLR loss", Loss.Dlr),
        Apgd("apgd-t", $"APGD-T: targeted DLR against each of the top-{DefaultTopK} wrong classes in turn (AutoAttack's second attack)", Loss.DlrTargeted),
        new("fab-t", $"FAB-T (Croce & Hein 2020): smallest perturbation across the linearised boundary to each of the top-{DefaultTopK} wrong classes in turn, " +
            "--steps iterations (default 100); fooled when within eps (AutoAttack's third attack)",
            [AttackOption.Steps, AttackOption.Restarts, AttackOption.EarlyStop, .. Common],
            r => Base(r with { Loss = Loss.Difference, Goal = TopKOnly(r.Goal, "fab-t") ?? Goal.TopK(DefaultTopK) }, steps: 100, stepSize: r.Eps, randomStart: false,
                earlyStop: true),
            (sessions, settings) => new Fab(sessions, settings)),
        new("fab", "untargeted FAB: each iteration towards the nearest linearised boundary (one gradient per class), --steps iterations (default 100)",
            [AttackOption.Steps, AttackOption.Restarts, AttackOption.EarlyStop, AttackOption.Seed],
            r => Base(r with { Loss = Loss.Margin }, steps: 100, stepSize: r.Eps, randomStart: false, earlyStop: true),
            (sessions, settings) => new Fab(sessions, settings)),
        new("square", "Square (Andriushchenko et al. 2020): score-based random search on the margin, --steps queries (default 5000); forward passes only, " +
            "so it runs on models without gradient rules and sees through gradient masking (linf, l2)",
            [AttackOption.Steps, AttackOption.Restarts, AttackOption.Seed],
            r => r.Norm is NormKind.Linf or NormKind.L2
                ? Base(r with { Loss = Loss.Margin }, steps: 5000, stepSize: r.Eps, randomStart: true, earlyStop: true)
                : throw new UserErrorException($"square runs in the linf and l2 balls, not {r.Norm.Name()}"),
            (sessions, settings) => new Square(sessions, settings)),
    ];

    public static IEnumerable<string> Names => All.Select(a => a.Name);

    /// <summary>The attack registered as <paramref name="name"/>; an unknown name is a one-line error listing the known ones.</summary>
    public static AttackDefinition Get(string name) =>
        All.FirstOrDefault(a => string.Equals(a.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new UserErrorException($"unknown attack '{name}' ({string.Join(", ", Names)})");

    /// <summary>Complete, checked settings for <paramref name="request"/>: the attack's defaults for what was not given.</summary>
    public static AttackSettings Resolve(AttackRequest request)
    {
        var definition = Get(request.Name);
        foreach (var option in request.Given())
        {
            if (!definition.Options.Contains(option))
            {
                throw new UserErrorException(
                    $"{AttackRequest.Flag(option)} has no effect with --attack {definition.Name} (it takes {string.Join(", ", definition.Options.Order().Select(AttackRequest.Flag))})");
            }
        }
        if (request.Pixels is not null && request.Norm != NormKind.L1)
        {
            throw new UserErrorException($"--pixels applies to l1 steps only, not --norm {request.Norm.Name()}");
        }
        var settings = definition.Defaults(request) with { Name = definition.Name };
        settings.Validate();
        return settings;
    }

    /// <summary>
    /// Builds the attack <paramref name="settings"/> describe on the classifier of <paramref name="sessions"/>: the
    /// attack itself, wrapped in <see cref="Restarts"/> and, for a top-k goal, <see cref="TopTargets"/> (each target
    /// gets its restarts, as in AutoAttack).
    /// </summary>
    public static IAttack Create(AttackSettings settings, GradientSessions sessions)
    {
        settings.Validate();
        IAttack attack = Get(settings.Name).Core(sessions, settings);
        // FAB runs its own restarts: only the first starts at the clean image.
        if (settings.Restarts > 1 && attack is not Fab)
        {
            attack = new Restarts(attack, settings.Restarts);
        }
        if (settings.Goal.Targets == TargetChoice.TopK)
        {
            attack = new TopTargets(attack, settings.Goal.K);
        }
        return attack;
    }

    /// <summary>Resolves and builds in one call.</summary>
    public static IAttack Create(AttackRequest request, GradientSessions sessions) => Create(Resolve(request), sessions);

    /// <summary>The radius used when none is given: that of the project's MNIST transfer set for each norm.</summary>
    public static float DefaultEps(NormKind norm) => norm switch
    {
        NormKind.L1 => 1.0f,
        NormKind.L2 => 1.5f,
        NormKind.Linf => 0.1f,
        _ => throw new ArgumentOutOfRangeException(nameof(norm), norm, "not a norm"),
    };

    private static AttackDefinition Apgd(string name, string summary, Loss? fixedLoss) =>
        new(name, summary,
            fixedLoss is null ? [AttackOption.Loss, AttackOption.Steps, AttackOption.Restarts, AttackOption.EarlyStop, .. Common]
                : [AttackOption.Steps, AttackOption.Restarts, AttackOption.EarlyStop, .. Common],
            r => Base(r with { Loss = fixedLoss ?? r.Loss }, steps: 100, stepSize: (r.Norm == NormKind.L1 ? 1 : 2) * r.Eps, randomStart: true, earlyStop: true),
            (session, settings) => new Apgd(session, settings));

    /// <summary>FAB-T aims at targets only to find a misclassification: it takes top-K goals and nothing else.</summary>
    private static Goal? TopKOnly(Goal? goal, string name) =>
        goal is null or { Targets: TargetChoice.TopK } ? goal : throw new UserErrorException($"--attack {name} takes --target top-K only (got {goal.Name})");

    /// <summary>
    /// The request's values over an attack's defaults. A target without a loss takes the targeted form of the
    /// default loss; a targeted loss without a target aims at the top-9 classes in turn, as AutoAttack's APGD-T.
    /// </summary>
    private static AttackSettings Base(AttackRequest r, int steps, float stepSize, bool randomStart, bool earlyStop)
    {
        var goal = r.Goal;
        var loss = r.Loss ?? (goal is { IsTargeted: true } ? Loss.CrossEntropyTargeted : Loss.CrossEntropy);
        goal ??= loss.Targeted ? Goal.TopK(DefaultTopK) : Goal.Untargeted;
        return new AttackSettings
        {
            Name = r.Name,
            Norm = r.Norm,
            Eps = r.Eps,
            Loss = loss,
            Goal = goal,
            Steps = r.Steps ?? steps,
            StepSize = stepSize,
            RandomStart = randomStart,
            Restarts = r.Restarts ?? 1,
            Pixels = r.Pixels ?? 1,
            Seed = r.Seed ?? 1,
            EarlyStop = r.EarlyStop ?? earlyStop,
        };
    }
}
