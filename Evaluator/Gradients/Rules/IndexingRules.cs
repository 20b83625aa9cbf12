using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Gradients.Rules;

/// <summary>
/// Ops that copy, move or mask values — each one linear in its float inputs, so its gradient is the transposed
/// copy: Expand and Tile sum the copies back; DepthToSpace and SpaceToDepth undo their permutation; Trilu masks the
/// gradient the same way; CumSum sums it the other way; GatherND scatters it back (adding where indices repeat);
/// ScatterND and ScatterElements send it to the updates at their positions and to the data everywhere else; TopK
/// sends the values' gradient to the positions it took them from.
/// </summary>
internal sealed class IndexingRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes =>
        ["Expand", "Tile", "DepthToSpace", "SpaceToDepth", "Trilu", "CumSum", "GatherND", "ScatterND", "ScatterElements", "TopK"];

    public string? Check(NodeProto node, GradientContext c) => node.OpType switch
    {
        "Tile" when c.Ints(node.Input[1]) is null => "Tile with repeats that depend on the input is not supported",
        "CumSum" when c.Ints(node.Input[1]) is null => "CumSum with an axis that depends on the input is not supported",
        "GatherND" when GradientContext.Int(node, "batch_dims", 0) != 0 => "GatherND with batch_dims is not supported",
        "ScatterND" or "ScatterElements" when GradientContext.String(node, "reduction") is { } r && r is not ("none" or "add") =>
            $"{node.OpType} with reduction '{r}' is not supported",
        "DepthToSpace" or "SpaceToDepth" when c.Info(node.Input[0]).Rank != 4 => $"{node.OpType} needs a 4-D input",
        _ => null,
    };

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var dy = dOut[0];
        var x = node.Input[0];
        var result = new string?[node.Input.Count];
        switch (node.OpType)
        {
            case "Expand":
                result[0] = c.Unbroadcast(dy!, node.Output[0], x);
                break;
            case "Tile":
                result[0] = Tile(node, dy!, c);
                break;
            case "DepthToSpace":
                result[0] = DepthToSpace(node, dy!, c);
                break;
            case "SpaceToDepth":
                result[0] = SpaceToDepth(node, dy!, c);
                break;
            case "Trilu":
                result[0] = c.Op("Trilu", node.Input.Count > 1 ? [dy!, node.Input[1]] : [dy!], [.. node.Attribute.Select(a => a.Clone())]);
                break;
            case "CumSum":
                result[0] = c.Op("CumSum", [dy!, node.Input[1]], Attr("exclusive", GradientContext.Int(node, "exclusive", 0)),
                    Attr("reverse", 1 - GradientContext.Int(node, "reverse", 0)));
                break;
            case "GatherND":
                result[0] = c.Op("ScatterND", [c.ZerosLike(x), node.Input[1], dy!], Attr("reduction", "add"));
                break;
            case "ScatterND":
                if (wanted[0])
                {
                    result[0] = GradientContext.String(node, "reduction") == "add"
                        ? dy
                        : c.Op("ScatterND", [dy!, node.Input[1], c.ZerosLike(node.Input[2])]);
                }
                if (wanted[2])
                {
                    result[2] = c.Op("GatherND", [dy!, node.Input[1]]);
                }
                break;
            case "ScatterElements":
            {
                var axis = Attr("axis", GradientContext.Int(node, "axis", 0));
                if (wanted[0])
                {
                    result[0] = GradientContext.String(node, "reduction") == "add"
                        ? dy
                        : c.Op("ScatterElements", [dy!, node.Input[1], c.ZerosLike(node.Input[2])], axis);
                }
                if (wanted[2])
                {
                    result[2] = c.Op("GatherElements", [dy!, node.Input[1]], axis);
                }
                break;
            }
            default:
                // TopK: only the values (output 0) carry a gradient; the indices say where they came from.
                result[0] = dy is null
                    ? null
                    : c.Op("ScatterElements", [c.ZerosLike(x), node.Output[1], dy],
                        Attr("axis", GradientContext.Int(node, "axis", -1)), Attr("reduction", "add"));
                break;
        }
        return result;
    }

    // y = tile(x, r): view dy as [r₀, d₀, r₁, d₁, …] and sum over the repeat axes.
    private static string Tile(NodeProto node, string dy, GradientContext c)
    {
        var x = c.Info(node.Input[0]);
        var repeats = c.Ints(node.Input[1])!;
        var shape = new List<long>();
        for (int i = 0; i < x.Rank; i++)
        {
            shape.Add(repeats[i]);
            shape.Add(x.IsBatchAxis(i) ? -1 : x.Dims[i]);
        }
        var sums = Enumerable.Range(0, x.Rank).Select(i => 2L * i).ToArray();
        return c.ReshapeLike(c.ReduceSum(c.Op("Reshape", [dy, c.Ints1D([.. shape])]), sums, keepDims: false), node.Input[0]);
    }

    // DepthToSpace = reshape → transpose → reshape; the gradient runs the three steps backwards.
    private static string DepthToSpace(NodeProto node, string dy, GradientContext c)
    {
        var x = c.Info(node.Input[0]);
        long b = GradientContext.Int(node, "blocksize", 1);
        long channels = x.Dims[1] / (b * b), h = x.Dims[2], w = x.Dims[3];
        bool crd = GradientContext.String(node, "mode") == "CRD";
        // Forward: DCR views x as [N, b, b, C', H, W] and permutes (0, 3, 4, 1, 5, 2); CRD views it as
        // [N, C', b, b, H, W] and permutes (0, 1, 4, 2, 5, 3). Both give [N, C', H, b, W, b].
        long[] permutation = crd ? [0, 1, 4, 2, 5, 3] : [0, 3, 4, 1, 5, 2];
        return Unpermute(c, dy, [0, channels, h, b, w, b], permutation, node.Input[0]);
    }

    // SpaceToDepth views x as [N, C, H', b, W', b] and permutes (0, 3, 5, 1, 2, 4) to [N, b, b, C, H', W'].
    private static string SpaceToDepth(NodeProto node, string dy, GradientContext c)
    {
        var x = c.Info(node.Input[0]);
        long b = GradientContext.Int(node, "blocksize", 1);
        return Unpermute(c, dy, [0, b, b, x.Dims[1], x.Dims[2] / b, x.Dims[3] / b], [0, 3, 5, 1, 2, 4], node.Input[0]);
    }

    /// <summary>
    /// Undoes "view as some shape, transpose by <paramref name="permutation"/>, reshape": views the gradient as
    /// the transposed shape <paramref name="permuted"/> (0 keeps the batch), applies the inverse permutation and
    /// takes the input's shape back.
    /// </summary>
    private static string Unpermute(GradientContext c, string dy, long[] permuted, long[] permutation, string input)
    {
        var inverse = new long[permutation.Length];
        for (int i = 0; i < permutation.Length; i++)
        {
            inverse[permutation[i]] = i;
        }
        return c.ReshapeLike(c.Transpose(c.Op("Reshape", [dy, c.Ints1D(permuted)]), inverse), input);
    }
}
