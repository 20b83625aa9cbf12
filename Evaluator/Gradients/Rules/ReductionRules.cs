using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Gradients.Rules;

/// <summary>
/// Every Reduce* op (axes as an attribute or, from opset 13/18, as an input; keepdims; noop_with_empty_axes) and
/// the global pools that are reductions over the spatial axes. The output's gradient is broadcast back over the
/// reduced axes and multiplied by ∂y/∂x: 1 (sum), 1/n (mean), the tie-split indicator of the extreme (max, min:
/// ties share the gradient evenly, as PyTorch's amax/amin do), sign(x) (L1), x/y (L2), 2x (sum of squares),
/// 1/Σx (log-sum), e^{x−y} (log-sum-exp), y/x (product; undefined where an element is 0),
/// sign(x)·|x|^{p−1}/y^{p−1} (GlobalLpPool).
/// </summary>
internal sealed class ReduceRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes =>
    [
        "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum",
        "ReduceLogSumExp", "ReduceProd", "GlobalMaxPool", "GlobalLpPool",
    ];

    private static long[]? Axes(NodeProto node, GradientContext c, int rank) =>
        node.OpType.StartsWith("Global", StringComparison.Ordinal)
            ? Enumerable.Range(2, rank - 2).Select(a => (long)a).ToArray()
            : GradientContext.Ints(node, "axes") ?? (node.Input.Count > 1 && node.Input[1].Length > 0 ? c.Ints(node.Input[1]) : []);

    public string? Check(NodeProto node, GradientContext c) =>
        Axes(node, c, c.Info(node.Input[0]).Rank) is null ? $"{node.OpType} with axes that depend on the input is not supported" : null;

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var x = node.Input[0];
        var y = node.Output[0];
        var info = c.Info(x);
        var axes = Axes(node, c, info.Rank)!.Select(a => (long)GradientContext.Axis(a, info.Rank)).Order().ToArray();
        var result = new string?[node.Input.Count];
        if (axes.Length == 0 && GradientContext.Int(node, "noop_with_empty_axes", 0) != 0)
        {
            // Nothing is reduced: ReduceSum/Mean/Max/Min/Prod are the identity; the others apply their function elementwise.
            result[0] = node.OpType switch
            {
                "ReduceL1" => c.Mul(dOut[0]!, c.Op("Sign", [x])),
                "ReduceL2" => c.Mul(dOut[0]!, c.Op("Sign", [x])),
                "ReduceSumSquare" => c.Mul(dOut[0]!, c.Mul(x, c.Scalar(2f))),
                "ReduceLogSum" => c.Div(dOut[0]!, x),
                _ => dOut[0],
            };
            return result;
        }
        if (axes.Length == 0)
        {
            axes = Enumerable.Range(0, info.Rank).Select(i => (long)i).ToArray();
        }
        bool keep = node.OpType.StartsWith("Global", StringComparison.Ordinal) || GradientContext.Int(node, "keepdims", 1) != 0;
        var dy = keep ? dOut[0]! : c.Unsqueeze(dOut[0]!, axes);
        var kept = keep ? y : c.Unsqueeze(y, axes);
        switch (node.OpType)
        {
            case "ReduceSum":
                result[0] = c.Op("Expand", [dy, c.ShapeOf(x)]);
                break;
            case "ReduceMean":
            {
                string count = axes.Any(a => info.IsBatchAxis((int)a))
                    ? c.Div(c.Op("Cast", [c.Op("Size", [x])], Attr("to", (long)TensorProto.Types.DataType.Float)),
                            c.Op("Cast", [c.Op("Size", [y])], Attr("to", (long)TensorProto.Types.DataType.Float)))
                    : c.Scalar(axes.Aggregate(1L, (p, a) => p * info.Dims[a]));
                result[0] = c.Op("Expand", [c.Div(dy, count), c.ShapeOf(x)]);
                break;
            }
            case "ReduceMax" or "ReduceMin" or "GlobalMaxPool":
            {
                var mask = c.FloatOf(c.Op("Equal", [x, kept]));
                result[0] = c.Mul(c.Div(dy, c.ReduceSum(mask, axes, keepDims: true)), mask);
                break;
            }
            case "ReduceL1":
                result[0] = c.Mul(dy, c.Op("Sign", [x]));
                break;
            case "ReduceL2":
                result[0] = c.Mul(dy, c.Div(x, kept));
                break;
            case "ReduceSumSquare":
                result[0] = c.Mul(dy, c.Mul(x, c.Scalar(2f)));
                break;
            case "ReduceLogSum":
                result[0] = c.Op("Expand", [c.Div(dy, c.Op("Exp", [kept])), c.ShapeOf(x)]);
                break;
            case "ReduceLogSumExp":
                result[0] = c.Mul(dy, c.Op("Exp", [c.Sub(x, kept)]));
                break;
            case "ReduceProd":
                result[0] = c.Mul(dy, c.Div(kept, x));
                break;
            default:
            {
                // GlobalLpPool: y = (Σ|x|ᵖ)^{1/p}.
                float p = GradientContext.Int(node, "p", 2);
                var ratio = c.Div(c.Op("Abs", [x]), kept);
                var power = p == 2 ? ratio : c.Op("Pow", [ratio, c.Scalar(p - 1)]);
                result[0] = c.Mul(dy, c.Mul(c.Op("Sign", [x]), power));
                break;
            }
        }
        return result;
    }
}
