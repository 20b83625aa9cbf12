using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Gradients.Rules;

/// <summary>
/// Normalizations over a group of axes with their statistics computed from the input itself: LayerNormalization,
/// InstanceNormalization, GroupNormalization (scale per group at opset 18, per channel from 21),
/// MeanVarianceNormalization, RMSNormalization (opset 23) and LpNormalization. With x̂ = (x − μ)·r,
/// r = 1/√(var + ε) over the normalized axes and g = dy ⊙ scale, the input gradient is
/// r ⊙ (g − mean(g) − x̂ ⊙ mean(g ⊙ x̂)) (RMSNormalization: no centring, so no mean(g) term). The statistics are
/// recomputed in the backward graph; scale and bias must not depend on the input.
/// </summary>
internal sealed class NormalizationRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes =>
        ["LayerNormalization", "InstanceNormalization", "GroupNormalization", "MeanVarianceNormalization", "RMSNormalization", "LpNormalization"];

    public string? Check(NodeProto node, GradientContext c) =>
        node.OpType == "LpNormalization" && GradientContext.Int(node, "p", 2) is not (1 or 2)
            ? "LpNormalization with p other than 1 or 2 is not an ONNX mode"
            : null;

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        if (wanted.Skip(1).Any(w => w))
        {
            throw new GradientException($"{node.OpType} node '{node.Name}' has a scale or bias that depends on the input");
        }
        if (dOut.Skip(1).Any(g => g is not null))
        {
            throw new GradientException($"{node.OpType} node '{node.Name}': its mean or inverse standard deviation output is used by the graph");
        }
        var dy = dOut[0]!;
        var x = node.Input[0];
        int rank = c.Info(x).Rank;
        var result = new string?[node.Input.Count];
        switch (node.OpType)
        {
            case "LayerNormalization":
                result[0] = Centred(c, x, c.Mul(dy, node.Input[1]), FromAxis(node, rank), GradientContext.Float(node, "epsilon", 1e-5f));
                break;
            case "InstanceNormalization":
            {
                var axes = Enumerable.Range(2, rank - 2).Select(a => (long)a).ToArray();
                var g = c.Mul(dy, PerChannel(c, node.Input[1], rank));
                result[0] = Centred(c, x, g, axes, GradientContext.Float(node, "epsilon", 1e-5f));
                break;
            }
            case "GroupNormalization":
                result[0] = Group(node, dy, x, c);
                break;
            case "MeanVarianceNormalization":
            {
                var axes = (GradientContext.Ints(node, "axes") ?? [0, 2, 3]).Select(a => (long)GradientContext.Axis(a, rank)).ToArray();
                result[0] = MeanVariance(c, x, dy, axes);
                break;
            }
            case "RMSNormalization":
                result[0] = Scaled(c, x, c.Mul(dy, node.Input[1]), FromAxis(node, rank), GradientContext.Float(node, "epsilon", 1e-5f));
                break;
            default:
                result[0] = Lp(node, dy, x, c, rank);
                break;
        }
        return result;
    }

    /// <summary>The normalized axes of LayerNormalization and RMSNormalization: from the axis attribute to the last.</summary>
    private static long[] FromAxis(NodeProto node, int rank)
    {
        int axis = GradientContext.Axis(GradientContext.Int(node, "axis", -1), rank);
        return Enumerable.Range(axis, rank - axis).Select(a => (long)a).ToArray();
    }

    /// <summary>r ⊙ (g − mean(g) − x̂ ⊙ mean(g ⊙ x̂)) with the statistics of x over <paramref name="axes"/>.</summary>
    private static string Centred(GradientContext c, string x, string g, long[] axes, float epsilon)
    {
        var d = c.Sub(x, c.Reduce("ReduceMean", x, axes, keepDims: true));
        var r = c.Op("Reciprocal", [c.Op("Sqrt", [c.Add(c.Reduce("ReduceMean", c.Mul(d, d), axes, keepDims: true), c.Scalar(epsilon))])]);
        var normalized = c.Mul(d, r);
        var meanG = c.Reduce("ReduceMean", g, axes, keepDims: true);
        var meanGx = c.Reduce("ReduceMean", c.Mul(g, normalized), axes, keepDims: true);
        return c.Mul(r, c.Sub(c.Sub(g, meanG), c.Mul(normalized, meanGx)));
    }

    /// <summary>r ⊙ (g − x̂ ⊙ mean(g ⊙ x̂)) with r = 1/√(mean(x²) + ε): RMS normalization has no centring.</summary>
    private static string Scaled(GradientContext c, string x, string g, long[] axes, float epsilon)
    {
        var r = c.Op("Reciprocal", [c.Op("Sqrt", [c.Add(c.Reduce("ReduceMean", c.Mul(x, x), axes, keepDims: true), c.Scalar(epsilon))])]);
        var normalized = c.Mul(x, r);
        var meanGx = c.Reduce("ReduceMean", c.Mul(g, normalized), axes, keepDims: true);
        return c.Mul(r, c.Sub(g, c.Mul(normalized, meanGx)));
    }

    /// <summary>A per-channel vector [C] as [C, 1, …] to broadcast against (N, C, …).</summary>
    private static string PerChannel(GradientContext c, string vector, int rank) =>
        c.Op("Reshape", [vector, c.Ints1D([-1, .. Enumerable.Repeat(1L, rank - 2)])]);

    // Y = reshape((reshape(X, [N, G, −1]) − μ)·r) ⊙ scale + bias, scale per group ([G], opset 18) or per channel
    // ([C], opset 21): the centred rule on the grouped view.
    private static string Group(NodeProto node, string dy, string x, GradientContext c)
    {
        var info = c.Info(x);
        long groups = GradientContext.Int(node, "num_groups", 1);
        long scaleSize = c.Info(node.Input[1]).Count;
        var grouped = c.Ints1D(0, groups, -1);
        // A scale of G values is per group (opset 18); of C values per channel (21). With one channel per group both agree.
        string g = scaleSize != groups
            ? c.Op("Reshape", [c.Mul(dy, PerChannel(c, node.Input[1], info.Rank)), grouped])
            : c.Mul(c.Op("Reshape", [dy, grouped]), c.Op("Reshape", [node.Input[1], c.Ints1D(1, groups, 1)]));
        var dx = Centred(c, c.Op("Reshape", [x, grouped]), g, [2], GradientContext.Float(node, "epsilon", 1e-5f));
        return c.ReshapeLike(dx, x);
    }

    // ONNX's function: Y = (X − μ)/(σ + 1e-9), σ = √(E[X²] − E[X]²). With d = X − μ and s = σ + 1e-9:
    // dX = (g − mean(g))/s − d·mean(g·d)/(σ·s²).
    private static string MeanVariance(GradientContext c, string x, string g, long[] axes)
    {
        var d = c.Sub(x, c.Reduce("ReduceMean", x, axes, keepDims: true));
        var sigma = c.Op("Sqrt", [c.Reduce("ReduceMean", c.Mul(d, d), axes, keepDims: true)]);
        var s = c.Add(sigma, c.Scalar(1e-9f));
        var first = c.Div(c.Sub(g, c.Reduce("ReduceMean", g, axes, keepDims: true)), s);
        var second = c.Div(c.Mul(d, c.Reduce("ReduceMean", c.Mul(g, d), axes, keepDims: true)), c.Mul(sigma, c.Mul(s, s)));
        return c.Sub(first, second);
    }

    // y = x/n, n = ‖x‖ₚ along the axis: dx = (dy − ∂n/∂x ⊙ Σ(dy ⊙ y))/n, with ∂n/∂x = y (p = 2) or sign(x) (p = 1).
    private static string Lp(NodeProto node, string dy, string x, GradientContext c, int rank)
    {
        long[] axes = [GradientContext.Axis(GradientContext.Int(node, "axis", -1), rank)];
        var y = node.Output[0];
        bool l1 = GradientContext.Int(node, "p", 2) == 1;
        var norm = c.Reduce(l1 ? "ReduceL1" : "ReduceL2", x, axes, keepDims: true);
        var slope = l1 ? c.Op("Sign", [x]) : y;
        return c.Div(c.Sub(dy, c.Mul(slope, c.ReduceSum(c.Mul(dy, y), axes, keepDims: true))), norm);
    }
}
