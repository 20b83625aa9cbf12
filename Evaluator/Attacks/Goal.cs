using RobustEval.Evaluator.Classifiers;

namespace RobustEval.Evaluator.Attacks;

/// <summary>Where an attack's target classes come from.</summary>
public enum TargetChoice
{
    /// <summary>Untargeted: any wrong class will do.</summary>
    None,

    /// <summary>A target per example, given by the user (<c>--target-labels FILE</c>).</summary>
    Given,

    /// <summary>A class other than the true one, drawn uniformly per example from the seed.</summary>
    Random,

    /// <summary>The class the model finds least likely on the clean image.</summary>
    LeastLikely,

    /// <summary>AutoAttack's APGD-T: each of the k most likely wrong classes in turn, keeping the worst case.</summary>
    TopK,
}

/// <summary>
/// What an attack is after (Foolbox's criterion): a misclassification, or a given class. With given, random or
/// least-likely targets an example counts as fooled only when the model predicts its target; with top-k targets
/// (AutoAttack's APGD-T, which aims at several classes in turn only to find a misclassification) any wrong
/// prediction counts, as untargeted.
/// </summary>
public sealed record Goal
{
    private Goal(TargetChoice targets, int k = 0, IReadOnlyList<long>? given = null)
    {
        Targets = targets;
        K = k;
        Given = given;
    }

    public static Goal Untargeted { get; } = new(TargetChoice.None);

    public static Goal RandomTarget { get; } = new(TargetChoice.Random);

    public static Goal LeastLikely { get; } = new(TargetChoice.LeastLikely);

    /// <summary>The <paramref name="k"/> most likely wrong classes in turn (AutoAttack uses 9).</summary>
    public static Goal TopK(int k) =>
        k >= 1 ? new(TargetChoice.TopK, k) : throw new UserErrorException($"--target top-{k}: k must be at least 1");

    /// <summary>One target per example of the data, as the model's class indices.</summary>
    public static Goal GivenTargets(IReadOnlyList<long> targets) => new(TargetChoice.Given, given: targets);

    public TargetChoice Targets { get; }

    /// <summary>How many classes a top-k goal tries.</summary>
    public int K { get; }

    /// <summary>The given targets, one per example of the data (model class indices).</summary>
    public IReadOnlyList<long>? Given { get; }

    public bool IsTargeted => Targets != TargetChoice.None;

    /// <summary>True when success means predicting the target rather than any wrong class.</summary>
    public bool SuccessIsTarget => Targets is TargetChoice.Given or TargetChoice.Random or TargetChoice.LeastLikely;

    /// <summary>Whether a prediction reaches the goal for an example with this label and target.</summary>
    public bool Reached(long prediction, long label, long target) => SuccessIsTarget ? prediction == target : prediction != label;

    /// <summary>The command-line spelling: untargeted, given, random, least-likely, top-K.</summary>
    public string Name => Targets switch
    {
        TargetChoice.None => "untargeted",
        TargetChoice.Given => "given",
        TargetChoice.Random => "random",
        TargetChoice.LeastLikely => "least-likely",
        TargetChoice.TopK => $"top-{K}",
        _ => throw new ArgumentOutOfRangeException(nameof(Targets), Targets, "not a target choice"),
    };

    /// <summary>
    /// <c>untargeted</c>, <c>random</c>, <c>least-likely</c> or <c>top-K</c> (given targets come from a file, see
    /// <see cref="GivenTargets"/>).
    /// </summary>
    public static Goal Parse(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        if (t.StartsWith("top", StringComparison.Ordinal))
        {
            var digits = t[3..].TrimStart('-');
            return int.TryParse(digits, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var k)
                ? TopK(k)
                : throw new UserErrorException($"--target {text}: write top-K with K a number of classes, e.g. top-9");
        }
        return t switch
        {
            "untargeted" or "none" => Untargeted,
            "random" => RandomTarget,
            "least-likely" or "leastlikely" or "ll" => LeastLikely,
            _ => throw new UserErrorException($"unknown target '{text}' (untargeted, random, least-likely, top-K; or --target-labels FILE)"),
        };
    }

    /// <summary>
    /// The target of each example whose target does not depend on the model's output (given and random ones), or
    /// null. Random targets are drawn in the data's order from <paramref name="seed"/>, so they do not depend on the
    /// batch size.
    /// </summary>
    public long[]? FixedTargets(IReadOnlyList<long> labels, int classes, int seed)
    {
        switch (Targets)
        {
            case TargetChoice.Given:
                return Given!.Take(labels.Count).ToArray();
            case TargetChoice.Random:
            {
                var random = new Random(unchecked(seed * 7_919 + 17));
                return labels.Select(label =>
                {
                    long target = random.Next(classes - 1);
                    return target >= label ? target + 1 : target;
                }).ToArray();
            }
            default:
                return null;
        }
    }

    /// <summary>The target of rank <paramref name="rank"/> (1: the most likely wrong class) from an example's clean logits.</summary>
    public static long WrongClassOfRank(ReadOnlySpan<float> logits, long label, int rank)
    {
        var order = Scores.Ranking(logits);
        int seen = 0;
        foreach (int c in order)
        {
            if (c != label && ++seen == rank)
            {
                return c;
            }
        }
        return order[^1] == label ? order[^2] : order[^1];
    }

    /// <summary>The class with the lowest clean logit other than the true one.</summary>
    public static long LeastLikelyClass(ReadOnlySpan<float> logits, long label) => WrongClassOfRank(logits, label, logits.Length - 1);

    /// <summary>Checks given targets against the data: one per example, model classes, never the true label.</summary>
    public void CheckGiven(IReadOnlyList<long> labels, int classes)
    {
        if (Given is null)
        {
            return;
        }
        if (Given.Count < labels.Count)
        {
            throw new UserErrorException($"--target-labels has {Given.Count} targets but the data has {labels.Count} examples");
        }
        for (int i = 0; i < labels.Count; i++)
        {
            if (Given[i] < 0 || Given[i] >= classes)
            {
                throw new UserErrorException($"--target-labels: example {i}'s target {Given[i]} is not a class of the model (0–{classes - 1})");
            }
            if (Given[i] == labels[i])
            {
                throw new UserErrorException($"--target-labels: example {i}'s target {Given[i]} is its true label");
            }
        }
    }

    public override string ToString() => Name;
}
