using System.Text.Json.Serialization;
using RobustEval.Evaluator.Gradients;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// A reason a robustness number may be lying (AutoAttack's checks and ours), with what to do about it: one line
/// on the terminal, one entry of results.json's <c>flags</c>. The id is stable, for scripts to gate on.
/// </summary>
public sealed record ReliabilityFlag(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("advice")] string Advice)
{
    public override string ToString() => $"{Message} — {Advice}";

    public static ReliabilityFlag Probabilities() => new("probabilities",
        "the model's outputs are probabilities (rows of non-negative scores summing to 1), which flattens the cross-entropy's gradient",
        "export the model without its final softmax, or check that --output names the logits");

    public static ReliabilityFlag Randomized(double change) => new("randomized",
        $"the scores change between two identical evaluations (by up to {change:G3}): the model is randomized",
        "use --version rand, which averages each gradient over 20 draws");

    public static ReliabilityFlag ZeroGradient(int count, int attacked, string attack) => new("zero-gradient",
        $"{count:N0} of {attacked:N0} points have an all-zero gradient at the start of {attack}: gradients may be masked there",
        "trust the black-box attack (square) on those points, and look for a non-differentiable or saturating op");

    public static ReliabilityFlag GradientMasking(int fooled, int examples) => new("gradient-masking",
        $"square, a black-box attack, fooled {fooled:N0} points ({(double)fooled / examples:P1} of the data) the white-box attacks left robust",
        "a sign of gradient masking: white-box numbers on this model overestimate its robustness; report the ensemble's result only");

    public static ReliabilityFlag DlrClasses(string attack, Loss loss, int classes) => new("dlr-classes",
        $"{attack} was skipped: its {loss.Name} loss needs at least {loss.MinimumClasses} classes and the model has {classes}",
        "the result rests on the other attacks; add --version custom --attacks with margin-based attacks (fab-t, square) if they were dropped too");

    public static ReliabilityFlag WhiteBoxBlocked(IReadOnlyList<string> blockers, bool squareRan) => new("white-box-blocked",
        $"no gradient rule for {string.Join(", ", blockers)}: no white-box attack is possible" + (squareRan ? ", so the number comes from square alone" : ""),
        "a black-box number is an upper bound on robust accuracy that white-box attacks usually lower further; report it as such");

    /// <summary>The fewest images on which a clean accuracy is judged.</summary>
    public const int CleanAccuracyMinimumImages = 20;

    /// <summary>
    /// A clean accuracy that says the model is being fed wrongly: at most min(2/k, 1/k + 0.1) for k classes (near
    /// chance), or more than 10 points below the model card's and with the card's value above the 95 % interval.
    /// Null when it looks sane or fewer than <see cref="CleanAccuracyMinimumImages"/> images were classified.
    /// </summary>
    public static ReliabilityFlag? CleanAccuracy(int correct, int examples, int classes, double? card)
    {
        if (examples < CleanAccuracyMinimumImages || classes < 2)
        {
            return null;
        }
        double accuracy = (double)correct / examples;
        if (accuracy <= Math.Min(2.0 / classes, 1.0 / classes + 0.1))
        {
            return NearChance(accuracy, classes);
        }
        var upper = Wilson.Interval(correct, examples).Upper;
        return card is { } expected && accuracy < expected - 0.10 && upper < expected ? BelowCard(accuracy, upper, expected) : null;
    }

    public const string CleanAccuracyAdvice = "the preprocessing is probably wrong (check --input-range, --mean, --std, --layout, --label-map), or the data are not the model's data set";

    public static ReliabilityFlag NearChance(double accuracy, int classes) => new("clean-accuracy-chance",
        $"clean accuracy {accuracy:P1} is near chance ({1.0 / classes:P1} for {classes} classes)", CleanAccuracyAdvice);

    public static ReliabilityFlag BelowCard(double accuracy, double upper, double card) => new("clean-accuracy-card",
        $"clean accuracy {accuracy:P1} (95 % interval up to {upper:P1}) is more than 10 points below the {card:P1} of the model card", CleanAccuracyAdvice);

    public static ReliabilityFlag NotConverged(IReadOnlyList<(string Attack, double MeanRelativeFosc, int Points)> attacks) => new("not-converged",
        "the final iterates on the points that survived are far from stationary (mean FOSC relative to ε‖∇‖; 0 is converged): " +
        string.Join(", ", attacks.Select(a => $"{a.Attack} {a.MeanRelativeFosc:G3} on {a.Points:N0} points")),
        "the inner maximisation did not converge: run more iterations or restarts (--version plus) before trusting the number");

    public static ReliabilityFlag NonFinite(int count) => new("non-finite",
        $"{count:N0} points gave NaN or infinite scores, losses or gradients during the attacks",
        "those points took no steps; look for overflowing ops (Exp, Log, Div) in the model");

    public static ReliabilityFlag Recheck(int count) => new("recheck",
        $"{count:N0} adversarial points were classified differently when evaluated again at the end",
        "the reported accuracy is the re-evaluated one; differences point to a non-deterministic model or numerics at the decision boundary");

    public static ReliabilityFlag OutsideBall(int count, double largest) => new("outside-ball",
        $"{count:N0} adversarial points lie outside the ball (largest norm {largest:G6}) and were not counted as fooled",
        "this is a bug in RobustEval; please report it with results.json");
}
