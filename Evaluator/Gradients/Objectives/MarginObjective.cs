namespace RobustEval.Evaluator.Gradients;

/// <summary>
/// Carlini and Wagner's margin: max_{i≠y} z_i − z_y (untargeted), z_t − max_{i≠t} z_i (targeted). Its gradient
/// w.r.t. the logits is onehot(best other class) − onehot(y), resp. onehot(t) − onehot(best other class).
/// </summary>
internal sealed class MarginObjective(bool targeted) : Objective
{
    public override string Seed(GradientContext c, GraphProto graph, string logits, long classes, object batchDim)
    {
        AddClassInputs(graph, targeted, batchDim);
        var anchor = targeted ? TargetsName : LabelsName;
        var (other, otherIndex) = MaxExcept(c, logits, anchor, classes);
        var own = Pick(c, logits, anchor);
        EmitLoss(c, graph, targeted ? c.Sub(own, other) : c.Sub(other, own), batchDim);
        var gradient = c.Sub(OneHot(c, otherIndex, classes), OneHot(c, anchor, classes));
        return targeted ? c.Neg(gradient) : gradient;
    }
}
