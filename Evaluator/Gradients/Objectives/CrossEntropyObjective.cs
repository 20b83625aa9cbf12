using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Gradients;

/// <summary>
/// Each example's cross-entropy: loss_i = −log softmax(z_i)[y_i], whose gradient w.r.t. the logits is
/// softmax(z_i) − onehot(y_i); targeted, loss_i = log softmax(z_i)[t_i] with gradient onehot(t_i) − softmax(z_i).
/// The examples' losses are summed, so each input's gradient is its own loss's.
/// </summary>
internal sealed class CrossEntropyObjective(bool targeted) : Objective
{
    public override string Seed(GradientContext c, GraphProto graph, string logits, long classes, object batchDim)
    {
        AddClassInputs(graph, targeted, batchDim);
        var classesName = targeted ? TargetsName : LabelsName;
        var logProbabilities = c.Op("LogSoftmax", [logits], Attr("axis", 1L));
        var picked = Pick(c, logProbabilities, classesName);
        EmitLoss(c, graph, targeted ? picked : c.Neg(picked), batchDim);
        var oneHot = OneHot(c, classesName, classes);
        var probabilities = c.Op("Exp", [logProbabilities]);
        return targeted ? c.Sub(oneHot, probabilities) : c.Sub(probabilities, oneHot);
    }
}
