namespace RobustEval.Evaluator.Gradients;

/// <summary>
/// What an attack maximises, per example, from the logits z (true class y, target t): the gradient graph computes
/// it and its gradient with respect to the pixels in one evaluation, for the whole batch. Untargeted losses grow as
/// the true class loses; targeted ones as the target wins. Choose one by name (<see cref="Parse"/>) or use the
/// static instances.
/// </summary>
public sealed class Loss
{
    private Loss(string name, bool targeted, int minimumClasses, string formula, Func<Objective> objective)
    {
        Name = name;
        Targeted = targeted;
        MinimumClasses = minimumClasses;
        Formula = formula;
        _objective = objective;
    }

    private readonly Func<Objective> _objective;

    /// <summary>Cross-entropy, −log softmax(z)_y (Goodfellow et al.; the loss FGSM and PGD use).</summary>
    public static Loss CrossEntropy { get; } = new("ce", false, 2, "−log softmax(z)_y", () => new CrossEntropyObjective(targeted: false));

    /// <summary>
    /// Difference of logits ratio (Croce &amp; Hein 2020): −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3), π the classes by
    /// decreasing logit. Invariant to shifting and scaling the logits, so saturated softmax outputs do not hide
    /// the gradient. Needs 3 classes.
    /// </summary>
    public static Loss Dlr { get; } = new("dlr", false, 3, "−(z_y − max_{i≠y} z_i) / (z_π1 − z_π3)", () => new DlrObjective(targeted: false));

    /// <summary>Carlini–Wagner margin, max_{i≠y} z_i − z_y: positive exactly when the example is misclassified.</summary>
    public static Loss Margin { get; } = new("margin", false, 2, "max_{i≠y} z_i − z_y", () => new MarginObjective(targeted: false));

    /// <summary>Targeted cross-entropy, log softmax(z)_t.</summary>
    public static Loss CrossEntropyTargeted { get; } = new("ce-targeted", true, 2, "log softmax(z)_t", () => new CrossEntropyObjective(targeted: true));

    /// <summary>
    /// Targeted DLR (APGD-T): −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2), the target's logit against the true one.
    /// Needs 4 classes.
    /// </summary>
    public static Loss DlrTargeted { get; } = new("dlr-targeted", true, 4, "−(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2)", () => new DlrObjective(targeted: true));

    /// <summary>Targeted margin, z_t − max_{i≠t} z_i: positive exactly when the target wins.</summary>
    public static Loss MarginTargeted { get; } = new("margin-targeted", true, 2, "z_t − max_{i≠t} z_i", () => new MarginObjective(targeted: true));

    /// <summary>
    /// The logit difference z_t − z_y (FAB-T's linearised boundary between the true class and the target): zero on
    /// the boundary, positive past it.
    /// </summary>
    public static Loss Difference { get; } = new("difference", true, 2, "z_t − z_y", () => new DifferenceObjective());

    /// <summary>Every loss, in the order help texts list them.</summary>
    public static IReadOnlyList<Loss> All { get; } = [CrossEntropy, Dlr, Margin, CrossEntropyTargeted, DlrTargeted, MarginTargeted, Difference];

    /// <summary>The command-line name: ce, dlr, margin, ce-targeted, dlr-targeted, margin-targeted, difference.</summary>
    public string Name { get; }

    /// <summary>True when the loss needs a target class per example.</summary>
    public bool Targeted { get; }

    /// <summary>The fewest classes the loss is defined for (DLR divides by the gap to the third logit).</summary>
    public int MinimumClasses { get; }

    /// <summary>The loss in symbols, for help texts and results.</summary>
    public string Formula { get; }

    /// <summary>The loss named <paramref name="name"/>; an unknown name is a one-line error listing the known ones.</summary>
    public static Loss Parse(string name) =>
        All.FirstOrDefault(l => string.Equals(l.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new UserErrorException($"unknown loss '{name}' ({string.Join(", ", All.Select(l => l.Name))})");

    /// <summary>Refuses a model with too few classes for this loss, saying which loss would work.</summary>
    public void CheckClasses(int classes, string model)
    {
        if (classes < MinimumClasses)
        {
            throw new UserErrorException(
                $"--loss {Name} needs at least {MinimumClasses} classes ({Formula}) but {model} has {classes}; use --loss {(Targeted ? "margin-targeted" : "margin")} or {(Targeted ? "ce-targeted" : "ce")}");
        }
    }

    internal Objective CreateObjective() => _objective();

    public override string ToString() => Name;
}
