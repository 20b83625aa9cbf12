using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Gradients;

/// <summary>
/// What is differentiated: the objective's extra inputs and outputs and the gradient it seeds the backward pass
/// with at the logits.
/// </summary>
internal abstract class Objective
{
    /// <summary>Adds inputs/outputs to <paramref name="graph"/> and returns the gradient of the objective w.r.t. the logits.</summary>
    public abstract string Seed(GradientContext c, GraphProto graph, string logits, long classes, object batchDim);
}

/// <summary>
/// Each example's cross-entropy loss: loss_i = −log softmax(z_i)[y_i], whose gradient w.r.t. the logits is
/// softmax(z_i) − onehot(y_i). The examples' losses are summed, so each input's gradient is its own loss's.
/// </summary>
internal sealed class CrossEntropyObjective : Objective
{
    public const string LabelsName = "robusteval/labels";
    public const string LossName = "robusteval/loss";

    public override string Seed(GradientContext c, GraphProto graph, string logits, long classes, object batchDim)
    {
        graph.Input.Add(TensorValue(LabelsName, TensorProto.Types.DataType.Int64, batchDim));
        var logProbabilities = c.Op("LogSoftmax", [logits], Attr("axis", 1L));
        var picked = c.Op("GatherElements", [logProbabilities, c.Unsqueeze(LabelsName, [1])], Attr("axis", 1L));
        var loss = c.Op("Squeeze", [c.Neg(picked), c.Ints1D(1)]);
        c.Op("Identity", [loss]);
        var lossNode = c.BackwardNodes[^1];
        lossNode.Output[0] = LossName;
        graph.Output.Add(TensorValue(LossName, TensorProto.Types.DataType.Float, batchDim));
        var oneHot = c.Op("OneHot", [LabelsName, c.Builder.Initializer("depth", [classes], 1), c.Builder.Initializer("onehot_values", [0f, 1f], 2)],
            Attr("axis", -1L));
        return c.Sub(c.Op("Exp", [logProbabilities]), oneHot);
    }
}

/// <summary>
/// Σ Y ⊙ W for a weights input W shaped like the output: its gradient w.r.t. Y is W. The finite-difference tests
/// of each rule use it on graphs whose output is not a vector of scores.
/// </summary>
internal sealed class WeightedSumObjective(long[] outputDims) : Objective
{
    public const string WeightsName = "robusteval/weights";
    public const string ValueName = "robusteval/value";

    public override string Seed(GradientContext c, GraphProto graph, string logits, long classes, object batchDim)
    {
        graph.Input.Add(TensorValue(WeightsName, TensorProto.Types.DataType.Float, [.. outputDims.Cast<object>()]));
        var value = c.Op("ReduceSum", [c.Mul(logits, WeightsName)], Attr("keepdims", 0L));
        c.BackwardNodes[^1].Output[0] = ValueName;
        graph.Output.Add(TensorValue(ValueName, TensorProto.Types.DataType.Float));
        return WeightsName;
    }
}
