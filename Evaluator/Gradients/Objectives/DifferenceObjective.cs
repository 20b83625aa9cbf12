namespace RobustEval.Evaluator.Gradients;

/// <summary>
/// The logit difference z_t − z_y of the target and the true class: FAB linearises the decision boundary between
/// the two with it. Its gradient w.r.t. the logits is onehot(t) − onehot(y).
/// </summary>
internal sealed class DifferenceObjective : Objective
{
    public override string Seed(GradientContext c, GraphProto graph, string logits, long classes, object batchDim)
    {
        AddClassInputs(graph, targeted: true, batchDim);
        EmitLoss(c, graph, c.Sub(Pick(c, logits, TargetsName), Pick(c, logits, LabelsName)), batchDim);
        return c.Sub(OneHot(c, TargetsName, classes), OneHot(c, LabelsName, classes));
    }
}
