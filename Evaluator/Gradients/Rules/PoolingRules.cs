using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Gradients.Rules;

/// <summary>
/// MaxPool: the forward node is asked for its Indices output (flat positions of each maximum in the input), and
/// the gradient is scattered there with ScatterElements(reduction = "add"), which sums the contributions of
/// overlapping windows that share a maximum.
/// </summary>
internal sealed class MaxPoolRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["MaxPool"];

    public string? Check(NodeProto node, GradientContext c) =>
        GradientContext.Int(node, "storage_order", 0) != 0 ? "MaxPool with column-major storage_order is not supported" : null;

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        if (node.Output.Count < 2 || node.Output[1].Length == 0)
        {
            var indices = c.Builder.Fresh("maxpool_indices");
            if (node.Output.Count < 2)
            {
                node.Output.Add(indices);
            }
            else
            {
                node.Output[1] = indices;
            }
        }
        var x = node.Input[0];
        var size = c.Op("Reshape", [c.Op("Size", [x]), c.Ints1D(1)]);
        var zeros = c.Op("ConstantOfShape", [size], Attr("value", OnnxTensors.Float("zero", [0f], 1)));
        var flatIndices = c.Op("Reshape", [node.Output[1], c.Ints1D(-1)]);
        var flatGradient = c.Op("Reshape", [dOut[0]!, c.Ints1D(-1)]);
        var scattered = c.Op("ScatterElements", [zeros, flatIndices, flatGradient], Attr("axis", 0L), Attr("reduction", "add"));
        return [c.ReshapeLike(scattered, x)];
    }
}

/// <summary>
/// AveragePool: each output's gradient is divided by the number of inputs its window averaged (counted for the
/// exact pads, ceil mode and count_include_pad), then spread over the window by a depthwise ConvTranspose with an
/// all-ones kernel.
/// </summary>
internal sealed class AveragePoolRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["AveragePool"];

    public string? Check(NodeProto node, GradientContext c) =>
        GradientContext.Ints(node, "dilations") is { } d && d.Any(v => v != 1) ? "AveragePool with dilations is not supported" : null;

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var x = c.Info(node.Input[0]);
        var y = c.Info(node.Output[0]);
        var kernel = GradientContext.Ints(node, "kernel_shape")!;
        var window = Window.Of(node, kernel, x, y);
        bool includePad = GradientContext.Int(node, "count_include_pad", 0) != 0;
        int spatial = kernel.Length;
        var outputDims = y.Dims[2..];
        var counts = new float[outputDims.Aggregate(1L, (a, b) => a * b)];
        for (long flat = 0; flat < counts.Length; flat++)
        {
            long remainder = flat;
            long count = 1;
            for (int i = spatial - 1; i >= 0; i--)
            {
                long position = remainder % outputDims[i];
                remainder /= outputDims[i];
                long start = position * window.Strides[i] - window.PadsBegin[i];
                long end = start + kernel[i];
                long lower = includePad ? -window.PadsBegin[i] : 0;
                long upper = includePad ? x.Dims[2 + i] + window.PadsEnd[i] : x.Dims[2 + i];
                count *= Math.Max(Math.Min(end, upper) - Math.Max(start, lower), 1);
            }
            counts[flat] = count;
        }
        var countTensor = c.Builder.Initializer("pool_counts", counts, [1, 1, .. outputDims]);
        return [SpreadOverWindows(node, c.Div(dOut[0]!, countTensor), c)];
    }

    /// <summary>
    /// The gradient of a sum over each pooling window (the node's kernel, strides and pads): every window's output
    /// gradient added to each of its inputs — a depthwise ConvTranspose with an all-ones kernel.
    /// </summary>
    public static string SpreadOverWindows(NodeProto node, string windowGradient, GradientContext c)
    {
        var x = c.Info(node.Input[0]);
        var y = c.Info(node.Output[0]);
        var kernel = GradientContext.Ints(node, "kernel_shape")!;
        var window = Window.Of(node, kernel, x, y);
        if (x.IsBatchAxis(1))
        {
            throw new GradientException($"{node.OpType} node '{node.Name}': the channel axis varies with the batch");
        }
        long channels = x.Dims[1];
        var ones = c.Builder.Initializer("pool_ones", Enumerable.Repeat(1f, (int)(channels * kernel.Aggregate(1L, (a, b) => a * b))).ToArray(),
            [channels, 1, .. kernel]);
        var (pads, outputPadding) = window.Transposed(x, y);
        return c.Op("ConvTranspose", [windowGradient, ones],
            Attr("strides", window.Strides), Attr("pads", pads), Attr("output_padding", outputPadding),
            Attr("group", channels), Attr("kernel_shape", kernel));
    }
}

/// <summary>
/// LpPool: y = (Σ_window |x|ᵖ)^{1/p} (zero pads add nothing). With s = yᵖ, ∂y/∂s = y^{1−p}/p and ∂|x|ᵖ/∂x =
/// p·sign(x)|x|^{p−1}, so dx = spread(dy·y^{1−p}) ⊙ sign(x)|x|^{p−1}, spread being the window-sum gradient.
/// </summary>
internal sealed class LpPoolRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["LpPool"];

    public string? Check(NodeProto node, GradientContext c) =>
        GradientContext.Ints(node, "dilations") is { } d && d.Any(v => v != 1) ? "LpPool with dilations is not supported" : null;

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var x = node.Input[0];
        var y = node.Output[0];
        float p = GradientContext.Int(node, "p", 2);
        var scaled = p == 2 ? c.Div(dOut[0]!, y) : c.Mul(dOut[0]!, c.Op("Pow", [y, c.Scalar(1 - p)]));
        var spread = AveragePoolRule.SpreadOverWindows(node, scaled, c);
        var slope = p == 2 ? x : c.Mul(c.Op("Sign", [x]), c.Op("Pow", [c.Op("Abs", [x]), c.Scalar(p - 1)]));
        return [c.Mul(spread, slope)];
    }
}

/// <summary>GlobalAveragePool: dY / (H·W) broadcast back over the spatial axes.</summary>
internal sealed class GlobalAveragePoolRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["GlobalAveragePool"];

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var x = c.Info(node.Input[0]);
        long area = x.Dims[2..].Aggregate(1L, (a, b) => a * b);
        var scaled = c.Div(dOut[0]!, c.Scalar(area));
        return [c.Op("Expand", [scaled, c.ShapeOf(node.Input[0])])];
    }
}
