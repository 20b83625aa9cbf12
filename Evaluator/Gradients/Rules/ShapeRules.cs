using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Gradients.Rules;

/// <summary>Ops that only rearrange values: the gradient takes the input's shape back.</summary>
internal sealed class ReshapeRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["Flatten", "Reshape", "Squeeze", "Unsqueeze"];

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var result = new string?[node.Input.Count];
        result[0] = c.ReshapeLike(dOut[0]!, node.Input[0]);
        return result;
    }
}

/// <summary>Transpose: the inverse permutation.</summary>
internal sealed class TransposeRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["Transpose"];

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        int rank = c.Info(node.Input[0]).Rank;
        var perm = GradientContext.Ints(node, "perm") ?? Enumerable.Range(0, rank).Reverse().Select(i => (long)i).ToArray();
        var inverse = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            inverse[perm[i]] = i;
        }
        return [c.Transpose(dOut[0]!, inverse)];
    }
}

/// <summary>Concat: the gradient is split back into the inputs' extents along the axis.</summary>
internal sealed class ConcatRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["Concat"];

    public string? Check(NodeProto node, GradientContext c)
    {
        var y = c.Info(node.Output[0]);
        int axis = GradientContext.Axis(GradientContext.Int(node, "axis", 0), y.Rank);
        return y.IsBatchAxis(axis) ? "Concat along the batch axis is not supported" : null;
    }

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var y = c.Info(node.Output[0]);
        int axis = GradientContext.Axis(GradientContext.Int(node, "axis", 0), y.Rank);
        var sizes = node.Input.Select(i => c.Info(i).Dims[axis]).ToArray();
        var parts = c.OpMulti("Split", [dOut[0]!, c.Ints1D(sizes)], node.Input.Count, Attr("axis", (long)axis));
        return node.Input.Select((_, i) => wanted[i] ? parts[i] : null).ToArray();
    }
}

/// <summary>Split: the outputs' gradients concatenated back (zeros for outputs the loss does not use).</summary>
internal sealed class SplitRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["Split"];

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        int axis = GradientContext.Axis(GradientContext.Int(node, "axis", 0), c.Info(node.Input[0]).Rank);
        var parts = node.Output.Select((o, i) => dOut[i] ?? c.ZerosLike(o)).ToArray();
        var result = new string?[node.Input.Count];
        result[0] = parts.Length == 1 ? parts[0] : c.Op("Concat", parts, Attr("axis", (long)axis));
        return result;
    }
}

/// <summary>Slice with constant bounds and step 1: the gradient padded back with zeros.</summary>
internal sealed class SliceRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["Slice"];

    public string? Check(NodeProto node, GradientContext c)
    {
        if (c.Ints(node.Input[1]) is null || c.Ints(node.Input[2]) is null
            || (node.Input.Count > 3 && node.Input[3].Length > 0 && c.Ints(node.Input[3]) is null)
            || (node.Input.Count > 4 && node.Input[4].Length > 0 && c.Ints(node.Input[4]) is null))
        {
            return "Slice bounds that depend on the input are not supported";
        }
        if (node.Input.Count > 4 && node.Input[4].Length > 0 && c.Ints(node.Input[4])!.Any(s => s == 0))
        {
            return "Slice with a step of 0 is not valid ONNX";
        }
        return null;
    }

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var x = c.Info(node.Input[0]);
        var starts = c.Ints(node.Input[1])!;
        var ends = c.Ints(node.Input[2])!;
        var axes = node.Input.Count > 3 && node.Input[3].Length > 0 ? c.Ints(node.Input[3])! : Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
        var steps = node.Input.Count > 4 && node.Input[4].Length > 0 ? c.Ints(node.Input[4])! : Enumerable.Repeat(1L, starts.Length).ToArray();
        var pads = new long[2 * x.Rank];
        var gradient = dOut[0]!;
        for (int i = 0; i < axes.Length; i++)
        {
            int axis = GradientContext.Axis(axes[i], x.Rank);
            long dim = x.Dims[axis];
            long step = steps[i];
            // ONNX's clamping: [0, dim] for a positive step, [0, dim − 1] (start) and [−1, dim − 1] (end) for a negative one.
            long start = starts[i] < 0 ? starts[i] + dim : starts[i];
            long end = ends[i] < 0 ? ends[i] + dim : ends[i];
            start = step > 0 ? Math.Clamp(start, 0, dim) : Math.Clamp(start, 0, dim - 1);
            end = step > 0 ? Math.Clamp(end, 0, dim) : Math.Clamp(end, -1, dim - 1);
            if (x.IsBatchAxis(axis) && (start != 0 || end != dim || step != 1))
            {
                throw new GradientException($"Slice node '{node.Name}' cuts the batch axis");
            }
            if (step == 1)
            {
                pads[axis] = start;
                pads[x.Rank + axis] = dim - Math.Max(end, start);
                continue;
            }
            var positions = new List<long>();
            for (long p = start; step > 0 ? p < end : p > end; p += step)
            {
                positions.Add(p);
            }
            gradient = Scatter(c, gradient, axis, x.Rank, dim, [.. positions]);
        }
        var result = new string?[node.Input.Count];
        result[0] = pads.All(p => p == 0) ? gradient : c.Op("Pad", [gradient, c.Ints1D(pads)], Attr("mode", "constant"));
        return result;
    }

    /// <summary>
    /// Puts the slices of <paramref name="gradient"/> along <paramref name="axis"/> back at <paramref name="positions"/>
    /// of an axis of length <paramref name="dim"/> (zeros elsewhere): a strided or reversed slice.
    /// </summary>
    private static string Scatter(GradientContext c, string gradient, int axis, int rank, long dim, long[] positions)
    {
        var indexShape = Enumerable.Repeat(1L, rank).ToArray();
        indexShape[axis] = positions.Length;
        var shape = c.Op("Shape", [gradient]);
        var indices = c.Op("Expand", [c.Builder.Initializer("slice_positions", positions, indexShape), shape]);
        var keep = Enumerable.Repeat(1L, rank).ToArray();
        keep[axis] = 0;
        var put = new long[rank];
        put[axis] = dim;
        var zerosShape = c.Add(c.Mul(shape, c.Ints1D(keep)), c.Ints1D(put));
        var zeros = c.Op("ConstantOfShape", [zerosShape], Attr("value", OnnxTensors.Float("zero", [0f], 1)));
        return c.Op("ScatterElements", [zeros, indices, gradient], Attr("axis", (long)axis));
    }
}

/// <summary>Pad (constant mode, constant non-negative pads): the gradient of the unpadded region.</summary>
internal sealed class PadRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["Pad"];

    public string? Check(NodeProto node, GradientContext c)
    {
        if ((GradientContext.String(node, "mode") ?? "constant") != "constant")
        {
            return "Pad modes other than constant are not supported";
        }
        var pads = node.Input.Count > 1 ? c.Ints(node.Input[1]) : null;
        if (pads is null)
        {
            return "Pad with pads that depend on the input is not supported";
        }
        if (pads.Any(p => p < 0))
        {
            return "Pad with negative (cropping) pads is not supported";
        }
        return node.Input.Count > 3 && node.Input[3].Length > 0 ? "Pad with an axes input is not supported" : null;
    }

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var x = c.Info(node.Input[0]);
        var pads = c.Ints(node.Input[1])!;
        var axes = new List<long>();
        var starts = new List<long>();
        var ends = new List<long>();
        for (int axis = 0; axis < x.Rank; axis++)
        {
            if (pads[axis] == 0 && pads[x.Rank + axis] == 0)
            {
                continue;
            }
            if (x.IsBatchAxis(axis))
            {
                throw new GradientException($"Pad node '{node.Name}' pads the batch axis");
            }
            axes.Add(axis);
            starts.Add(pads[axis]);
            ends.Add(pads[axis] + x.Dims[axis]);
        }
        var result = new string?[node.Input.Count];
        result[0] = axes.Count == 0
            ? dOut[0]
            : c.Op("Slice", [dOut[0]!, c.Ints1D([.. starts]), c.Ints1D([.. ends]), c.Ints1D([.. axes])]);
        return result;
    }
}

/// <summary>
/// Gather with constant indices (a scalar or a list): the gradient is accumulated through a one-hot matrix,
/// dX = dY · M with M[j, index_j] = 1, so repeated indices add up.
/// </summary>
internal sealed class GatherRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["Gather"];

    public string? Check(NodeProto node, GradientContext c)
    {
        if (c.Ints(node.Input[1]) is null)
        {
            return "Gather with indices that depend on the input is not supported";
        }
        if (c.Info(node.Input[1]).Rank > 1)
        {
            return "Gather with multi-dimensional indices is not supported";
        }
        var x = c.Info(node.Input[0]);
        return x.IsBatchAxis(GradientContext.Axis(GradientContext.Int(node, "axis", 0), x.Rank)) ? "Gather along the batch axis is not supported" : null;
    }

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var x = c.Info(node.Input[0]);
        int rank = x.Rank;
        int axis = GradientContext.Axis(GradientContext.Int(node, "axis", 0), rank);
        long dim = x.Dims[axis];
        var indices = c.Ints(node.Input[1])!.Select(i => i < 0 ? i + dim : i).ToArray();
        var dy = c.Info(node.Input[1]).Rank == 0 ? c.Unsqueeze(dOut[0]!, [axis]) : dOut[0]!;
        var oneHot = new float[indices.Length * dim];
        for (int j = 0; j < indices.Length; j++)
        {
            oneHot[j * dim + indices[j]] = 1f;
        }
        var matrix = c.Builder.Initializer("gather_onehot", oneHot, indices.Length, dim);
        var toLast = Enumerable.Range(0, rank).Where(i => i != axis).Append(axis).Select(i => (long)i).ToArray();
        var back = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            back[toLast[i]] = i;
        }
        var moved = axis == rank - 1 ? dy : c.Transpose(dy, toLast);
        var spread = c.Op("MatMul", [moved, matrix]);
        var result = new string?[2];
        result[0] = axis == rank - 1 ? spread : c.Transpose(spread, back);
        return result;
    }
}

/// <summary>
/// GatherElements: each output's gradient goes back to the element it was taken from. When the indices are one
/// wide along the axis and match the data elsewhere (one element taken per line, as after an ArgMax with keepdims),
/// that is an Equal against the positions 0…n−1, cast to 0/1 and multiplied by the gradient; otherwise a
/// ScatterElements with reduction "add" into zeros, so repeated indices add up.
/// </summary>
internal sealed class GatherElementsRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["GatherElements"];

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var x = c.Info(node.Input[0]);
        var indices = c.Info(node.Input[1]);
        int axis = GradientContext.Axis(GradientContext.Int(node, "axis", 0), x.Rank);
        var result = new string?[2];
        bool oneWide = indices.Dims[axis] == 1 && !indices.IsBatchAxis(axis) && !x.IsBatchAxis(axis)
            && Enumerable.Range(0, x.Rank).All(i => i == axis || (indices.Dims[i] == x.Dims[i] && indices.IsBatchAxis(i) == x.IsBatchAxis(i)));
        if (oneWide)
        {
            long dim = x.Dims[axis];
            var index = node.Input[1];
            if (!c.Builder.Graph.Node.Any(n => n.OpType is "ArgMax" or "ArgMin" && n.Output.Contains(index)))
            {
                // Negative indices count from the end; Mod (integer, divisor's sign) maps them onto 0…n−1.
                index = c.Op("Mod", [index, c.Builder.Initializer("gather_dim", [dim])]);
            }
            var positions = c.Builder.Initializer("gather_positions", Enumerable.Range(0, (int)dim).Select(i => (long)i).ToArray(),
                [dim, .. Enumerable.Repeat(1L, x.Rank - axis - 1)]);
            // Cast and Mul: ONNX Runtime's Where is several times slower when it has to broadcast the gradient.
            var chosen = c.Op("Cast", [c.Op("Equal", [index, positions])], Attr("to", (long)TensorProto.Types.DataType.Float));
            result[0] = c.Mul(chosen, dOut[0]!);
            return result;
        }
        result[0] = c.Op("ScatterElements", [c.ZerosLike(node.Input[0]), node.Input[1], dOut[0]!], Attr("axis", (long)axis), Attr("reduction", "add"));
        return result;
    }
}
