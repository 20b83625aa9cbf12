using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Gradients;

/// <summary>
/// What is differentiated: the objective's extra inputs and outputs and the gradient it seeds the backward pass
/// with at the logits.
/// </summary>
internal abstract class Objective
{
    public const string LabelsName = "robusteval/labels";
    public const string TargetsName = "robusteval/targets";
    public const string LossName = "robusteval/loss";

    /// <summary>Adds inputs/outputs to <paramref name="graph"/> and returns the gradient of the objective w.r.t. the logits.</summary>
    public abstract string Seed(GradientContext c, GraphProto graph, string logits, long classes, object batchDim);

    /// <summary>Adds the labels input and, for a targeted objective, the targets input.</summary>
    protected static void AddClassInputs(GraphProto graph, bool targeted, object batchDim)
    {
        graph.Input.Add(TensorValue(LabelsName, TensorProto.Types.DataType.Int64, batchDim));
        if (targeted)
        {
            graph.Input.Add(TensorValue(TargetsName, TensorProto.Types.DataType.Int64, batchDim));
        }
    }

    /// <summary>Makes <paramref name="perExample"/> (shape [batch, 1]) the graph's per-example loss output.</summary>
    protected static void EmitLoss(GradientContext c, GraphProto graph, string perExample, object batchDim)
    {
        c.Op("Squeeze", [perExample, c.Ints1D(1)]);
        c.BackwardNodes[^1].Output[0] = LossName;
        graph.Output.Add(TensorValue(LossName, TensorProto.Types.DataType.Float, batchDim));
    }

    /// <summary>One-hot rows (float, [batch, classes]) of the class indices <paramref name="indices"/> ([batch]).</summary>
    protected static string OneHot(GradientContext c, string indices, long classes) =>
        c.Op("OneHot", [indices, c.Builder.Initializer("depth", [classes], 1), c.Builder.Initializer("onehot_values", [0f, 1f], 2)], Attr("axis", -1L));

    /// <summary>Each row's logit of class <paramref name="indices"/>[row], as [batch, 1].</summary>
    protected static string Pick(GradientContext c, string logits, string indices) =>
        c.Op("GatherElements", [logits, c.Unsqueeze(indices, [1])], Attr("axis", 1L));

    /// <summary>
    /// The largest logit of each row other than class <paramref name="excluded"/>[row]: its value ([batch, 1]) and
    /// its class ([batch]); ties go to the lowest class, as ArgMax breaks them.
    /// </summary>
    protected static (string Value, string Index) MaxExcept(GradientContext c, string logits, string excluded, long classes)
    {
        var isExcluded = c.Op("Cast", [OneHot(c, excluded, classes)], Attr("to", (long)TensorProto.Types.DataType.Bool));
        var others = c.Where(isExcluded, c.Scalar(float.MinValue), logits);
        var index = c.Op("ArgMax", [others], Attr("axis", 1L), Attr("keepdims", 0L));
        return (Pick(c, logits, index), index);
    }

    /// <summary>
    /// The <paramref name="count"/> largest logits of each row in decreasing order: the k-th value as [batch, 1]
    /// and its class as [batch].
    /// </summary>
    protected static (Func<int, string> Value, Func<int, string> Index) Largest(GradientContext c, string logits, int count)
    {
        var sorted = c.OpMulti("TopK", [logits, c.Ints1D(count)], 2, Attr("axis", 1L), Attr("largest", 1L), Attr("sorted", 1L));
        return (k => c.Op("Gather", [sorted[0], c.Ints1D(k)], Attr("axis", 1L)),
            k => c.Op("Gather", [sorted[1], c.Builder.Initializer("rank", [(long)k])], Attr("axis", 1L)));
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
