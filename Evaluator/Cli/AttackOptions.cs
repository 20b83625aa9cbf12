using System.CommandLine;
using System.Globalization;
using RobustEval.Cli;
using RobustEval.Data;
using RobustEval.Evaluator.Attacks;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Gradients;
using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Cli;

/// <summary>
/// The options that choose and tune an attack, shared by every command that runs one (attack, sweep, report,
/// transfer-set build). They only describe the request; <see cref="AttackRegistry"/> supplies each attack's
/// defaults and refuses options the chosen attack does not use.
/// </summary>
internal sealed class AttackOptions(string defaultAttack = "fgm", bool withNorm = true)
{
    public Option<string> Norm { get; } = new("--norm")
    {
        Description = "Ball of the perturbation: l1 (single pixel for fgm), l2, linf",
        Required = true,
    };

    public Option<string> Attack { get; } = new("--attack")
    {
        Description = string.Join(" | ", AttackRegistry.All.Select(a => $"{a.Name}: {a.Summary}")),
        DefaultValueFactory = _ => defaultAttack,
    };

    public Option<string?> Loss { get; } = new("--loss")
    {
        Description = "What the attack maximises: " + string.Join(", ", Gradients.Loss.All.Select(l => $"{l.Name} ({l.Formula})")) +
            ". Default ce, or the targeted form when --target is given",
    };

    public Option<string?> Target { get; } = new("--target")
    {
        Description = "untargeted (default) | random | least-likely | top-K (each of the K most likely wrong classes in turn, as AutoAttack's APGD-T; " +
            "success is any misclassification). Random and least-likely targets count as fooled only when the model predicts the target",
    };

    public Option<string?> TargetLabels { get; } = new("--target-labels")
    {
        Description = "A target class per example (the data's labels, in its order): an .npy of integers or a text file of integers separated by spaces, commas or lines",
    };

    public Option<int?> Steps { get; } = new("--steps", "--iterations") { Description = "pgd, apgd: steps (iterations) per run (default pgd 40, apgd 100)" };

    public Option<string?> StepSize { get; } = new("--step-size") { Description = "pgd: step size, e.g. 0.01 or 2/255 (default eps/4)" };

    public Option<int?> Restarts { get; } = new("--restarts") { Description = "pgd, apgd: runs per example, each from a new random start; the worst case is kept (default 1)" };

    public Option<int?> Pixels { get; } = new("--pixels") { Description = "fgm, pgd with l1: coordinates changed per step (default 1: the single-pixel attack)" };

    public Option<int?> Seed { get; } = new("--seed") { Description = "Seed of random starts and random targets (default 1)" };

    public Option<bool?> EarlyStop { get; } = new("--early-stop")
    {
        Description = "pgd, apgd: an example that is fooled takes no more steps and costs no more model evaluations; --early-stop false turns it off " +
            "(default: on for apgd, off for pgd, whose result is its final iterate)",
        Arity = ArgumentArity.ZeroOrOne,
    };

    public Option<string> Batch { get; } = new("--batch")
    {
        Description = "Images per model evaluation, or auto: the largest batch that fits in half the free memory and takes about a second, " +
            $"at most {AutoBatch.Largest} (measured on the model's gradient graph; the choice is printed and kept in results.json). Random starts are drawn " +
            "per batch, so give a number where runs on other machines must match",
        DefaultValueFactory = _ => AutoBatch.Default.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public void AddTo(Command command)
    {
        if (withNorm)
        {
            Norm.AcceptOnlyFromAmong("l1", "l2", "linf");
            command.Options.Add(Norm);
        }
        Attack.AcceptOnlyFromAmong([.. AttackRegistry.Names]);
        foreach (var option in new Option[] { Attack, Loss, Target, TargetLabels, Steps, StepSize, Restarts, Pixels, Seed, EarlyStop, Batch })
        {
            command.Options.Add(option);
        }
    }

    public NormKind ChosenNorm(ParseResult parse) => NormKinds.Parse(parse.GetValue(Norm)!);

    /// <summary>
    /// The batch size, checked (a model with a fixed batch size takes only that one); null for auto, which
    /// <see cref="ResolveBatch"/> measures once the model is loaded.
    /// </summary>
    public int? BatchSize(ParseResult parse, Classifier? classifier = null) => ParseBatch(parse.GetValue(Batch)!, classifier, parse.GetResult(Batch) is { Implicit: false });

    /// <summary>"--batch N" or "--batch auto", checked the same way by every command that has one.</summary>
    public static int? ParseBatch(string text, Classifier? classifier, bool given)
    {
        if (string.Equals(text, "auto", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        if (!int.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var b) || b < 1)
        {
            throw new UserErrorException($"--batch must be a whole number of at least 1, or auto (got '{text}')");
        }
        if (classifier?.FixedBatch is { } fixedBatch && fixedBatch != b && given)
        {
            throw new UserErrorException($"--batch {b}: {classifier.Path} takes batches of exactly {fixedBatch}; leave --batch out");
        }
        return b;
    }

    /// <summary>The batch to run with: the number given, or what auto measures on the model's gradient graph (said on standard error).</summary>
    public BatchChoice ResolveBatch(ParseResult parse, GradientSessions gradients, Dataset data, bool announce = true) =>
        AutoBatch.Resolve(BatchSize(parse, gradients.Classifier), gradients, data, n =>
        {
            if (announce)
            {
                Console.Error.WriteLine($"notice: {n}");
            }
        });

    /// <summary>
    /// The attack asked for at radius <paramref name="eps"/> and norm <paramref name="norm"/> (default: --norm), its
    /// name <paramref name="attack"/> (default: --attack) and steps (default: --steps). Target labels from a file need
    /// the <paramref name="classifier"/> to map them to its classes; without one they are checked later.
    /// </summary>
    public AttackRequest Request(ParseResult parse, float eps, Classifier? classifier, NormKind? norm = null, string? attack = null, int? steps = null)
    {
        BatchSize(parse);
        var goal = parse.GetValue(Target) is { } target ? Goal.Parse(target) : null;
        if (parse.GetValue(TargetLabels) is { } file)
        {
            if (goal is not null)
            {
                throw new UserErrorException("give either --target or --target-labels, not both");
            }
            var labels = ReadTargets(file);
            goal = Goal.GivenTargets(classifier is null ? labels : labels.Select(l => MapLabel(classifier, l)).ToArray());
        }
        return new AttackRequest
        {
            Name = attack ?? parse.GetValue(Attack)!,
            Norm = norm ?? ChosenNorm(parse),
            Eps = eps,
            Loss = parse.GetValue(Loss) is { } loss ? Gradients.Loss.Parse(loss) : null,
            Goal = goal,
            Steps = steps ?? parse.GetValue(Steps),
            StepSize = parse.GetValue(StepSize) is { } size ? (float)Fractions.ParsePositive(size, "--step-size") : null,
            Restarts = parse.GetValue(Restarts),
            Pixels = parse.GetValue(Pixels),
            Seed = parse.GetValue(Seed),
            EarlyStop = parse.GetResult(EarlyStop) is null ? null : parse.GetValue(EarlyStop) ?? true,
        };
    }

    /// <summary>Resolves <see cref="Request"/> against the registry: complete, checked settings.</summary>
    public AttackSettings Settings(ParseResult parse, float eps, Classifier? classifier, NormKind? norm = null, string? attack = null, int? steps = null) =>
        AttackRegistry.Resolve(Request(parse, eps, classifier, norm, attack, steps));

    private static long MapLabel(Classifier classifier, long label)
    {
        int dataClasses = classifier.Preprocessing.LabelMap?.Length ?? classifier.Classes;
        return label >= 0 && label < dataClasses
            ? classifier.ModelLabel(label)
            : throw new UserErrorException($"--target-labels: target {label} is not a class of the model (0–{dataClasses - 1})");
    }

    /// <summary>Target classes from an .npy of integers or a text file of integers.</summary>
    internal static long[] ReadTargets(string path)
    {
        if (!File.Exists(path))
        {
            throw new UserErrorException($"--target-labels {path}: file not found");
        }
        if (path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
        {
            using var stream = File.OpenRead(path);
            var array = Npy.Read(stream, path, 64L << 20);
            return array.IsInteger && array.Shape.Length == 1 ? array.ToInt64()
                : throw new UserErrorException($"--target-labels {path}: expected a 1-D array of integers");
        }
        var text = new FileInfo(path).Length <= 64L << 20 ? File.ReadAllText(path) : throw new UserErrorException($"--target-labels {path}: too large");
        var parts = text.Split([' ', ',', '\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries);
        return parts.Select(p => long.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
            : throw new UserErrorException($"--target-labels {path}: '{p}' is not an integer")).ToArray();
    }

    /// <summary>ε as a number or a fraction such as 8/255.</summary>
    public static float ParseEps(string text) => (float)Fractions.ParsePositive(text, "--eps");
}
