using RobustEval.Evaluator.Classifiers;
using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Gradients.Rules;

/// <summary>Window geometry shared by convolutions and pooling: strides, dilations and explicit pads per spatial axis.</summary>
internal sealed record Window(long[] Kernel, long[] Strides, long[] Dilations, long[] PadsBegin, long[] PadsEnd)
{
    /// <summary>
    /// The window geometry of a Conv/MaxPool/AveragePool node over input <paramref name="x"/> with output
    /// <paramref name="y"/>; auto_pad SAME_UPPER/SAME_LOWER/VALID is turned into explicit pads using the shapes.
    /// </summary>
    public static Window Of(NodeProto node, long[] kernel, TensorInfo x, TensorInfo y)
    {
        int spatial = kernel.Length;
        long[] Fill(string name, long value) => GradientContext.Ints(node, name) is { Length: > 0 } v ? v : Enumerable.Repeat(value, spatial).ToArray();
        var strides = Fill("strides", 1);
        var dilations = Fill("dilations", 1);
        var pads = GradientContext.Ints(node, "pads") is { Length: > 0 } p ? p : new long[2 * spatial];
        var begin = pads[..spatial];
        var end = pads[spatial..];
        var autoPad = GradientContext.String(node, "auto_pad") ?? "NOTSET";
        if (autoPad is "SAME_UPPER" or "SAME_LOWER")
        {
            for (int i = 0; i < spatial; i++)
            {
                long input = x.Dims[2 + i];
                long output = y.Dims[2 + i];
                long total = Math.Max((output - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - input, 0);
                begin[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
                end[i] = total - begin[i];
            }
        }
        else if (autoPad == "VALID")
        {
            begin = new long[spatial];
            end = new long[spatial];
        }
        return new Window(kernel, strides, dilations, begin, end);
    }

    /// <summary>
    /// Pads and output padding for the ConvTranspose that maps a gradient of the output back onto the input:
    /// it must start at −pads_begin and end exactly at the input's size, so the end pad is whatever the windows
    /// covered past the input (a negative amount becomes output padding).
    /// </summary>
    public (long[] Pads, long[] OutputPadding) Transposed(TensorInfo x, TensorInfo y)
    {
        int spatial = Kernel.Length;
        var end = new long[spatial];
        var outputPadding = new long[spatial];
        for (int i = 0; i < spatial; i++)
        {
            long covered = (y.Dims[2 + i] - 1) * Strides[i] + (Kernel[i] - 1) * Dilations[i] + 1;
            long past = covered - x.Dims[2 + i] - PadsBegin[i];
            end[i] = Math.Max(past, 0);
            outputPadding[i] = Math.Max(-past, 0);
        }
        return ([.. PadsBegin, .. end], outputPadding);
    }
}

/// <summary>Conv: the input gradient is ConvTranspose(dY, W) with the forward strides, dilations, pads and group.</summary>
internal sealed class ConvRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["Conv"];

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        if (wanted.Length > 1 && (wanted[1] || (wanted.Length > 2 && wanted[2])))
        {
            throw new GradientException($"Conv node '{node.Name}' has weights that depend on the input; only input gradients are supported");
        }
        var x = c.Info(node.Input[0]);
        var y = c.Info(node.Output[0]);
        var w = c.Info(node.Input[1]);
        var window = Window.Of(node, w.Dims[2..], x, y);
        long group = GradientContext.Int(node, "group", 1);
        var result = new string?[node.Input.Count];
        if (AsConvolution(node, window, w, group, c) is { } flipped)
        {
            // Stride 1: the input gradient is the "full" correlation of dY with the kernel flipped in space and with
            // input and output channels swapped, padded by k − 1 − p on each side. ONNX Runtime runs Conv far faster
            // than ConvTranspose (its blocked NCHWc kernels), so constant kernels are flipped once, here.
            var pads = window.Kernel.Select((k, i) => k - 1 - window.PadsBegin[i]).Concat(window.Kernel.Select((k, i) => k - 1 - window.PadsEnd[i])).ToArray();
            result[0] = c.Op("Conv", [dOut[0]!, flipped], Attr("pads", pads), Attr("group", group), Attr("kernel_shape", window.Kernel));
            return result;
        }
        if (AsSpreadDepthwiseConvolution(node, dOut[0]!, window, w, group, x, y, c) is { } spread)
        {
            result[0] = spread;
            return result;
        }
        if (AsDenseMatMul(node, dOut[0]!, window, w, group, x, y, c) is { } dense)
        {
            result[0] = dense;
            return result;
        }
        var (transposedPads, outputPadding) = window.Transposed(x, y);
        var dx = c.Op("ConvTranspose", [dOut[0]!, node.Input[1]],
            Attr("strides", window.Strides), Attr("dilations", window.Dilations), Attr("pads", transposedPads),
            Attr("output_padding", outputPadding), Attr("group", group), Attr("kernel_shape", window.Kernel));
        result[0] = dx;
        return result;
    }

    /// <summary>
    /// Below this many input channels the flipped convolution's output (the input gradient) is too thin for ONNX
    /// Runtime's blocked Conv kernels, and ConvTranspose is faster (measured on shaham-mnist's 1-channel first layer).
    /// </summary>
    internal const long MinimumChannels = 16;

    /// <summary>
    /// The input gradient of a strided depthwise convolution (one output channel per input channel, the same stride s on
    /// both axes, no dilation) as the stride-1 flipped convolution of dY spread out with s − 1 zeros between its values,
    /// or null when this does not apply. ONNX Runtime's ConvTranspose runs a depthwise kernel as one small GEMM per
    /// channel; its blocked depthwise Conv is several times faster even over the s² larger spread-out gradient
    /// (bench/NOTES.md). Position j of the padded input receives Σ_k W[k]·dY[(j − k)/s] over the k where s divides
    /// j − k, the full convolution of the spread-out dY with W; the Conv's pads start it at the first real input.
    /// </summary>
    private static string? AsSpreadDepthwiseConvolution(NodeProto node, string dy, Window window, TensorInfo w, long group, TensorInfo x, TensorInfo y, GradientContext c)
    {
        if (window.Strides.Length != 2 || window.Strides[0] != window.Strides[1] || window.Strides[0] < 2 || window.Dilations.Any(d => d != 1)
            || w.FloatValue is null || w.Rank != 4 || w.Dims[1] != 1 || w.Dims[0] != group || group < MinimumChannels
            || x.Dims.Skip(2).Any(d => d <= 0) || y.Dims.Skip(2).Any(d => d <= 0))
        {
            return null;
        }
        long s = window.Strides[0];
        var begin = new long[2];
        var end = new long[2];
        for (int i = 0; i < 2; i++)
        {
            begin[i] = window.Kernel[i] - 1 - window.PadsBegin[i];
            end[i] = x.Dims[2 + i] + window.Kernel[i] - 1 - y.Dims[2 + i] * s - begin[i];
            if (begin[i] < 0)
            {
                return null;
            }
        }
        // dY repeated over s×s blocks (nearest-neighbour Resize), times a mask that keeps each block's first value:
        // [N, C, H·s, W·s] with s − 1 zeros after each value. (A 6-D Pad or broadcast Mul does the same several
        // times slower: their innermost axes have length 1 or s.)
        long hs = y.Dims[2] * s, ws = y.Dims[3] * s;
        var corners = new float[hs * ws];
        for (long i = 0; i < hs; i += s)
        {
            for (long j = 0; j < ws; j += s)
            {
                corners[i * ws + j] = 1;
            }
        }
        var repeated = c.Op("Resize", [dy, "", c.SharedFloats("spread_scales", [1f, 1f, s, s], 4)], Attr("mode", "nearest"),
            Attr("nearest_mode", "floor"), Attr("coordinate_transformation_mode", "asymmetric"));
        var merged = c.Mul(repeated, c.SharedFloats("spread_mask", corners, 1, 1, hs, ws));
        if (end.Any(e => e < 0))
        {
            merged = c.Op("Slice", [merged, c.Ints1D(0, 0), c.Ints1D(y.Dims[2] * s + Math.Min(0, end[0]), y.Dims[3] * s + Math.Min(0, end[1])), c.Ints1D(2, 3)]);
        }
        return c.Op("Conv", [merged, FlippedKernel(node, w, group, c)], Attr("pads", [begin[0], begin[1], Math.Max(0, end[0]), Math.Max(0, end[1])]),
            Attr("group", group), Attr("kernel_shape", window.Kernel));
    }

    /// <summary>Largest unrolled matrix <see cref="AsDenseMatMul"/> builds, in floats (16 MB).</summary>
    internal const long MaximumDenseEntries = 1 << 22;

    /// <summary>
    /// The input gradient of a strided convolution over a small map as one MatMul with the convolution unrolled into
    /// a constant matrix, A[(m, o), (c, i)] = W[m, c, k] where input position i = o·s + k·d − pad, or null when this
    /// does not apply: dX = dY · A over the whole batch at once. ONNX Runtime's ConvTranspose runs one GEMM per image
    /// whose width is the number of output positions (4 on a 2×2 map), far below what its GEMM kernels are built
    /// for. Taken only while A stays small (<see cref="MaximumDenseEntries"/>) and at least a quarter of it is taps,
    /// so the zeros it multiplies cost less than the per-image GEMMs (bench/NOTES.md).
    /// </summary>
    private static string? AsDenseMatMul(NodeProto node, string dy, Window window, TensorInfo w, long group, TensorInfo x, TensorInfo y, GradientContext c)
    {
        if (window.Strides.Length != 2 || window.Strides.All(s => s == 1) || w.FloatValue is null || w.Rank != 4
            || x.Dims.Skip(1).Any(d => d <= 0) || y.Dims.Skip(1).Any(d => d <= 0))
        {
            return null;
        }
        long channels = w.Dims[1] * group, hi = x.Dims[2], wi = x.Dims[3];
        long rows = w.Dims[0] * y.Dims[2] * y.Dims[3], columns = channels * hi * wi;
        if (rows * columns > MaximumDenseEntries || 4 * Taps(w.Dims, window, x, y) < rows * columns)
        {
            return null;
        }
        var flat = c.Op("Reshape", [dy, c.Ints1D(0, rows)]);
        var product = c.Op("MatMul", [flat, c.Builder.Initializer($"{node.Name}.unrolled", Unrolled(w.FloatValue, w.Dims, window, group, x, y), rows, columns)]);
        return c.Op("Reshape", [product, c.Ints1D(0, channels, hi, wi)]);
    }

    /// <summary>
    /// A 2-D convolution over static spatial sizes unrolled into a matrix, A[(m, o), (c, i)] = W[m, c, k] where input
    /// position i = o·s + k·d − pad (rows: output channel and position; columns: input channel and position; zero
    /// where no tap connects them). The forward Conv is x · Aᵀ per image, its input gradient dY · A.
    /// </summary>
    internal static float[] Unrolled(float[] weight, long[] weightDims, Window window, long group, TensorInfo x, TensorInfo y)
    {
        long m = weightDims[0], cPerGroup = weightDims[1], kh = weightDims[2], kw = weightDims[3];
        long mPerGroup = m / group, channels = cPerGroup * group;
        long hi = x.Dims[2], wi = x.Dims[3], ho = y.Dims[2], wo = y.Dims[3];
        long columns = channels * hi * wi;
        var matrix = new float[m * ho * wo * columns];
        for (long mo = 0; mo < m; mo++)
        {
            long g = mo / mPerGroup;
            for (long oh = 0; oh < ho; oh++)
            {
                for (long ow = 0; ow < wo; ow++)
                {
                    long row = (mo * ho + oh) * wo + ow;
                    for (long ci = 0; ci < cPerGroup; ci++)
                    {
                        for (long u = 0; u < kh; u++)
                        {
                            long ih = oh * window.Strides[0] + u * window.Dilations[0] - window.PadsBegin[0];
                            for (long v = 0; v < kw && ih >= 0 && ih < hi; v++)
                            {
                                long iw = ow * window.Strides[1] + v * window.Dilations[1] - window.PadsBegin[1];
                                if (iw >= 0 && iw < wi)
                                {
                                    matrix[row * columns + ((g * cPerGroup + ci) * hi + ih) * wi + iw] = weight[((mo * cPerGroup + ci) * kh + u) * kw + v];
                                }
                            }
                        }
                    }
                }
            }
        }
        return matrix;
    }

    /// <summary>
    /// How many entries of <see cref="Unrolled"/>'s matrix are taps: per output channel and input channel of its
    /// group, the (output position, kernel tap) pairs that read a real input position, counted per axis.
    /// </summary>
    internal static long Taps(long[] weightDims, Window window, TensorInfo x, TensorInfo y)
    {
        long pairs = weightDims[0] * weightDims[1];
        for (int i = 0; i < 2; i++)
        {
            long live = 0;
            for (long o = 0; o < y.Dims[2 + i]; o++)
            {
                for (long u = 0; u < weightDims[2 + i]; u++)
                {
                    long at = o * window.Strides[i] + u * window.Dilations[i] - window.PadsBegin[i];
                    live += at >= 0 && at < x.Dims[2 + i] ? 1 : 0;
                }
            }
            pairs *= live;
        }
        return pairs;
    }

    /// <summary>
    /// The kernel of the equivalent stride-1 convolution — W′[g·C/g + c, m] = W[g·M/g + m, c] flipped in space — as a new
    /// initializer, or null when the shortcut does not apply (strides or dilations ≠ 1, a kernel computed at run
    /// time, or pads larger than the kernel).
    /// </summary>
    private static string? AsConvolution(NodeProto node, Window window, TensorInfo w, long group, GradientContext c)
    {
        if (window.Strides.Any(s => s != 1) || window.Dilations.Any(d => d != 1) || w.FloatValue is null || w.Rank != 4 || w.Dims[1] * group < MinimumChannels
            || window.PadsBegin.Concat(window.PadsEnd).Select((p, i) => p > window.Kernel[i % window.Kernel.Length] - 1).Any(t => t))
        {
            return null;
        }
        return FlippedKernel(node, w, group, c);
    }

    /// <summary>W′[g·C/g + c, m] = W[g·M/g + m, c] flipped in space, as an initializer (made once per node).</summary>
    private static string FlippedKernel(NodeProto node, TensorInfo w, long group, GradientContext c)
    {
        long m = w.Dims[0], cPerGroup = w.Dims[1], kh = w.Dims[2], kw = w.Dims[3];
        long mPerGroup = m / group;
        var source = w.FloatValue!;
        var flipped = new float[source.Length];
        for (long g = 0; g < group; g++)
        {
            for (long mo = 0; mo < mPerGroup; mo++)
            {
                for (long ci = 0; ci < cPerGroup; ci++)
                {
                    for (long i = 0; i < kh; i++)
                    {
                        for (long j = 0; j < kw; j++)
                        {
                            long from = (((g * mPerGroup + mo) * cPerGroup + ci) * kh + i) * kw + j;
                            long to = (((g * cPerGroup + ci) * mPerGroup + mo) * kh + (kh - 1 - i)) * kw + (kw - 1 - j);
                            flipped[to] = source[from];
                        }
                    }
                }
            }
        }
        return c.Builder.Initializer($"{node.Name}.flipped_weight", flipped, group * cPerGroup, mPerGroup, kh, kw);
    }
}

/// <summary>ConvTranspose: the input gradient is Conv(dY, W) with the same strides, dilations, pads and group.</summary>
internal sealed class ConvTransposeRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["ConvTranspose"];

    public string? Check(NodeProto node, GradientContext c) =>
        GradientContext.Ints(node, "output_shape") is { Length: > 0 } || (GradientContext.String(node, "auto_pad") ?? "NOTSET") is "SAME_UPPER" or "SAME_LOWER"
            ? "ConvTranspose with output_shape or SAME padding is not supported (give explicit pads)"
            : null;

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        if (wanted.Length > 1 && (wanted[1] || (wanted.Length > 2 && wanted[2])))
        {
            throw new GradientException($"ConvTranspose node '{node.Name}' has weights that depend on the input; only input gradients are supported");
        }
        var w = c.Info(node.Input[1]);
        int spatial = w.Rank - 2;
        long[] Fill(string name, long value) => GradientContext.Ints(node, name) is { Length: > 0 } v ? v : Enumerable.Repeat(value, spatial).ToArray();
        var pads = (GradientContext.String(node, "auto_pad") ?? "NOTSET") == "VALID"
            ? new long[2 * spatial]
            : GradientContext.Ints(node, "pads") is { Length: > 0 } p ? p : new long[2 * spatial];
        var dx = c.Op("Conv", [dOut[0]!, node.Input[1]],
            Attr("strides", Fill("strides", 1)), Attr("dilations", Fill("dilations", 1)), Attr("pads", pads),
            Attr("group", GradientContext.Int(node, "group", 1)), Attr("kernel_shape", w.Dims[2..]));
        var result = new string?[node.Input.Count];
        result[0] = dx;
        return result;
    }
}
