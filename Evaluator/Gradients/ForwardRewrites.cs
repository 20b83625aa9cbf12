using Microsoft.ML.OnnxRuntime.Tensors;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Gradients.Rules;
using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Gradients;

/// <summary>
/// Rewrites of the forward graph that leave every output unchanged but make the gradient graph cheaper.
/// </summary>
internal static class ForwardRewrites
{
    /// <summary>
    /// Relu → MaxPool becomes MaxPool → Relu: max and relu commute (relu is monotone), so the pooled values are the
    /// same, and with PyTorch's convention that relu's gradient at 0 is 0 the input gradients are the same too — but
    /// the backward Relu mask then covers the pooled tensor (a quarter to a ninth of the size) instead of the
    /// full activation map. Applies when the Relu's output feeds only that MaxPool (and is not a graph output).
    /// Returns the shape table extended with the tensors the rewrite creates.
    /// </summary>
    public static IReadOnlyDictionary<string, TensorInfo> SwapReluAndMaxPool(GraphProto graph, IReadOnlyDictionary<string, TensorInfo> tensors)
    {
        var singleUse = SingleUse(graph);
        var producers = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < graph.Node.Count; i++)
        {
            foreach (var output in graph.Node[i].Output)
            {
                producers[output] = i;
            }
        }
        var extended = new Dictionary<string, TensorInfo>(tensors, StringComparer.Ordinal);
        var builder = new GraphBuilder(graph, "rewrite/");
        for (int p = 0; p < graph.Node.Count; p++)
        {
            var pool = graph.Node[p];
            if (pool.OpType != "MaxPool" || pool.Domain is not ("" or "ai.onnx") || pool.Output.Count != 1
                || !producers.TryGetValue(pool.Input[0], out int r))
            {
                continue;
            }
            var relu = graph.Node[r];
            var activation = relu.Output[0];
            if (relu.OpType != "Relu" || relu.Domain is not ("" or "ai.onnx") || !singleUse(activation)
                || !tensors.TryGetValue(pool.Output[0], out var pooledInfo))
            {
                continue;
            }
            var pooled = builder.Fresh(pool.Output[0] + ".before_relu");
            var result = pool.Output[0];
            pool.Input[0] = relu.Input[0];
            pool.Output[0] = pooled;
            relu.Input[0] = pooled;
            relu.Output[0] = result;
            // The Relu now reads the pool's output, so it must come after it.
            graph.Node.RemoveAt(r);
            graph.Node.Insert(p, relu);
            extended[pooled] = pooledInfo;
        }
        return extended;
    }

    /// <summary>
    /// Conv → MaxPool, where the pool's k_h×k_w windows tile the convolution's output (stride = kernel, no pads)
    /// and the convolution is thin (fewer input channels than <see cref="ConvRule.MinimumChannels"/>, as in a first
    /// layer: its input gradient is a ConvTranspose anyway, where wider convolutions keep their faster flipped-Conv
    /// gradient), becomes one convolution that computes every window's k_h·k_w values as channels of their own —
    /// stride k, kernel K + k − 1, weight W′[p·C + c, :, b_i + u, b_j + v] = W[c, :, u, v] for window slot
    /// p = b_i·k_w + b_j — followed by ArgMax over the slots and GatherElements of the maximum. The pooled values are
    /// the same sums (the added kernel taps are zeros), the first maximum in row-major window order wins as in
    /// MaxPool's Indices, and the gradient needs no scatter: GatherElements along a one-wide index axis is undone by
    /// an Equal against the slot numbers, and the strided convolution's input gradient is a single ConvTranspose that
    /// puts each window's gradient back where its maximum was. ONNX Runtime's MaxPool with Indices runs a generic
    /// kernel, and the scatter needs a zeroed buffer the size of the convolution's output; this form avoids both.
    /// Returns the shape table extended with the tensors the rewrite creates.
    /// </summary>
    public static IReadOnlyDictionary<string, TensorInfo> FuseThinConvAndTilingMaxPool(GraphProto graph, IReadOnlyDictionary<string, TensorInfo> tensors)
    {
        var singleUse = SingleUse(graph);
        var initializers = Constants(graph);
        var extended = new Dictionary<string, TensorInfo>(tensors, StringComparer.Ordinal);
        var builder = new GraphBuilder(graph, "rewrite/");
        for (int p = 0; p < graph.Node.Count; p++)
        {
            var pool = graph.Node[p];
            if (pool.OpType != "MaxPool" || pool.Domain is not ("" or "ai.onnx") || pool.Output.Count != 1)
            {
                continue;
            }
            int q = graph.Node.ToList().FindIndex(n => n.Output.Contains(pool.Input[0]));
            if (q < 0 || graph.Node[q] is not { OpType: "Conv", Domain: "" or "ai.onnx" } conv
                || !singleUse(conv.Output[0])
                || Fusion(conv, pool, tensors, initializers) is not { } fusion)
            {
                continue;
            }
            var weight = initializers[conv.Input[1]];
            var bias = conv.Input.Count > 2 && conv.Input[2].Length > 0 ? initializers[conv.Input[2]] : null;
            var (kh, kw) = (fusion.PoolKernel[0], fusion.PoolKernel[1]);
            long slots = kh * kw;
            long cout = weight.Dims[0], cin = weight.Dims[1], kernelH = weight.Dims[2], kernelW = weight.Dims[3];
            long fusedH = kernelH + kh - 1, fusedW = kernelW + kw - 1;
            var w = OnnxTensors.ToFloats(weight);
            var fusedWeight = new float[slots * cout * cin * fusedH * fusedW];
            for (long bi = 0; bi < kh; bi++)
            {
                for (long bj = 0; bj < kw; bj++)
                {
                    for (long c = 0; c < cout; c++)
                    {
                        for (long ci = 0; ci < cin; ci++)
                        {
                            for (long u = 0; u < kernelH; u++)
                            {
                                for (long v = 0; v < kernelW; v++)
                                {
                                    long to = ((((bi * kw + bj) * cout + c) * cin + ci) * fusedH + bi + u) * fusedW + bj + v;
                                    fusedWeight[to] = w[((c * cin + ci) * kernelH + u) * kernelW + v];
                                }
                            }
                        }
                    }
                }
            }
            var inputs = new List<string> { conv.Input[0], builder.Initializer(conv.Input[1] + ".pooled", fusedWeight, slots * cout, cin, fusedH, fusedW) };
            if (bias is not null)
            {
                var b = OnnxTensors.ToFloats(bias);
                inputs.Add(builder.Initializer(conv.Input[2] + ".pooled", Enumerable.Range(0, (int)(slots * cout)).Select(i => b[i % cout]).ToArray(), slots * cout));
            }
            var y = tensors[pool.Output[0]];
            long batch = y.Dims[0], height = y.Dims[2], width = y.Dims[3];
            var windows = builder.Fresh(conv.Output[0] + ".windows");
            var bySlot = builder.Fresh(conv.Output[0] + ".by_slot");
            var first = builder.Fresh(conv.Output[0] + ".first_max");
            var maxima = builder.Fresh(conv.Output[0] + ".maxima");
            var fused = new NodeProto { OpType = "Conv", Name = conv.Name };
            fused.Input.AddRange(inputs);
            fused.Output.Add(windows);
            fused.Attribute.AddRange(
            [
                Attr("kernel_shape", [fusedH, fusedW]), Attr("strides", [kh, kw]), Attr("dilations", [1L, 1]),
                Attr("pads", [fusion.PadsBegin[0], fusion.PadsBegin[1], fusion.PadsEnd[0], fusion.PadsEnd[1]]),
            ]);
            graph.Node[q] = fused;
            graph.Node.RemoveAt(p);
            graph.Node.Insert(p, builder.Node("Reshape", [windows, builder.Ints("shape", 0, slots, cout, height, width)], [bySlot]));
            graph.Node.Insert(p + 1, builder.Node("ArgMax", [bySlot], [first], Attr("axis", 1L), Attr("keepdims", 1L), Attr("select_last_index", 0L)));
            graph.Node.Insert(p + 2, builder.Node("GatherElements", [bySlot, first], [maxima], Attr("axis", 1L)));
            graph.Node.Insert(p + 3, builder.Node("Reshape", [maxima, builder.Ints("shape", 0, cout, height, width)], [pool.Output[0]]));
            p += 3;
            bool[] batchAxes(int rank) => Enumerable.Range(0, rank).Select(i => i == 0 && y.IsBatchAxis(0)).ToArray();
            extended[windows] = new TensorInfo([batch, slots * cout, height, width], batchAxes(4), TensorElementType.Float, null, null);
            extended[bySlot] = new TensorInfo([batch, slots, cout, height, width], batchAxes(5), TensorElementType.Float, null, null);
            extended[first] = new TensorInfo([batch, 1, cout, height, width], batchAxes(5), TensorElementType.Int64, null, null);
            extended[maxima] = new TensorInfo([batch, 1, cout, height, width], batchAxes(5), TensorElementType.Float, null, null);
        }
        return extended;
    }

    /// <summary>
    /// Kernel taps that only ever read padding are cropped from each convolution: on a small feature map (a 3×3
    /// kernel with pads 1 over a 1×1 map reads its input with the centre tap alone) the others multiply zeros, in the
    /// forward pass and again in the input gradient. The cropped Conv starts its windows where the first live tap
    /// did (pad − cropped taps), keeps its strides, group and bias, and has the same output; only live taps are
    /// dropped, so every output is the same sum. Applies to 2-D, undilated convolutions with constant float weights
    /// and static spatial sizes; at 32×32 input this removes about a fifth of torchvision resnet18's multiply-adds.
    /// </summary>
    public static void CropDeadTaps(GraphProto graph, IReadOnlyDictionary<string, TensorInfo> tensors)
    {
        var initializers = Constants(graph);
        var builder = new GraphBuilder(graph, "rewrite/");
        for (int n = 0; n < graph.Node.Count; n++)
        {
            var conv = graph.Node[n];
            if (ConstantConv2D(conv, initializers, tensors) is not var (weight, x, y)
                || Enumerable.Range(2, 2).Any(i => x.IsBatchAxis(i) || y.IsBatchAxis(i) || x.Dims[i] <= 0 || y.Dims[i] <= 0))
            {
                continue;
            }
            long[] kernel = [weight.Dims[2], weight.Dims[3]];
            var window = Window.Of(conv, kernel, x, y);
            if (window.Dilations.Any(d => d != 1))
            {
                continue;
            }
            // Tap u of axis i is live when some output position o reads a real input row: 0 ≤ o·s + u − pad < size.
            var first = new long[2];
            var last = new long[2];
            for (int i = 0; i < 2; i++)
            {
                var live = Enumerable.Range(0, (int)kernel[i]).Where(u => Enumerable.Range(0, (int)y.Dims[2 + i])
                    .Any(o => o * window.Strides[i] + u - window.PadsBegin[i] is var row && row >= 0 && row < x.Dims[2 + i])).ToList();
                (first[i], last[i]) = live.Count > 0 ? (live[0], live[^1]) : (0, kernel[i] - 1);
            }
            long[] cropped = [last[0] - first[0] + 1, last[1] - first[1] + 1];
            if (cropped.SequenceEqual(kernel))
            {
                continue;
            }
            long[] begin = [window.PadsBegin[0] - first[0], window.PadsBegin[1] - first[1]];
            var end = new long[2];
            bool same = true;
            for (int i = 0; i < 2; i++)
            {
                end[i] = Math.Max(0, (y.Dims[2 + i] - 1) * window.Strides[i] + cropped[i] - x.Dims[2 + i] - begin[i]);
                same &= begin[i] >= 0 && (x.Dims[2 + i] + begin[i] + end[i] - cropped[i]) / window.Strides[i] + 1 == y.Dims[2 + i];
            }
            if (!same)
            {
                continue;
            }
            var w = OnnxTensors.ToFloats(weight);
            long m = weight.Dims[0], c = weight.Dims[1];
            var taps = new float[m * c * cropped[0] * cropped[1]];
            for (long mc = 0; mc < m * c; mc++)
            {
                for (long u = 0; u < cropped[0]; u++)
                {
                    for (long v = 0; v < cropped[1]; v++)
                    {
                        taps[(mc * cropped[0] + u) * cropped[1] + v] = w[(mc * kernel[0] + first[0] + u) * kernel[1] + first[1] + v];
                    }
                }
            }
            var replacement = new NodeProto { OpType = "Conv", Name = conv.Name };
            replacement.Input.AddRange(conv.Input);
            replacement.Input[1] = builder.Initializer(conv.Input[1] + ".cropped", taps, m, c, cropped[0], cropped[1]);
            replacement.Output.AddRange(conv.Output);
            replacement.Attribute.AddRange(
            [
                Attr("kernel_shape", cropped), Attr("strides", window.Strides), Attr("pads", [begin[0], begin[1], end[0], end[1]]),
                Attr("group", GradientContext.Int(conv, "group", 1)),
            ]);
            graph.Node[n] = replacement;
        }
    }

    /// <summary>
    /// A convolution over a small map becomes one Gemm with the convolution unrolled into a constant matrix
    /// (<see cref="ConvRule.Unrolled"/>): Flatten → Gemm(x, A, bias, transB = 1) → Reshape, the whole batch in one
    /// matrix product, and the input gradient dY · A is a Gemm over the same matrix. ONNX Runtime runs a Conv one
    /// image at a time, and on a 2×2 or 1×1 map (torchvision resnet18's layer3 and layer4 at 32×32 input) its
    /// kernels spend far more than the multiply-adds; the Gemm multiplies only A's zeros besides, so it is taken
    /// only while A stays small (<see cref="ConvRule.MaximumDenseEntries"/>) and at least
    /// <see cref="GemmDensity"/> of it is taps (bench/NOTES.md). Every output is the same sum of the same products,
    /// in another order. Returns the shape table extended with the tensors the rewrite creates.
    /// </summary>
    public static IReadOnlyDictionary<string, TensorInfo> SmallConvsAsGemm(GraphProto graph, IReadOnlyDictionary<string, TensorInfo> tensors)
    {
        var initializers = Constants(graph);
        var extended = new Dictionary<string, TensorInfo>(tensors, StringComparer.Ordinal);
        var builder = new GraphBuilder(graph, "rewrite/");
        for (int n = 0; n < graph.Node.Count; n++)
        {
            var conv = graph.Node[n];
            if (ConstantConv2D(conv, initializers, tensors) is not var (weight, x, y)
                || Enumerable.Range(1, 3).Any(i => x.IsBatchAxis(i) || y.IsBatchAxis(i) || x.Dims[i] <= 0 || y.Dims[i] <= 0)
                || !ConstantBias(conv, initializers, out var bias) || bias is { Dims.Count: not 1 })
            {
                continue;
            }
            var window = Window.Of(conv, [weight.Dims[2], weight.Dims[3]], x, y);
            long group = GradientContext.Int(conv, "group", 1);
            long rows = y.Dims[1] * y.Dims[2] * y.Dims[3], columns = x.Dims[1] * x.Dims[2] * x.Dims[3];
            if (rows * columns > ConvRule.MaximumDenseEntries || ConvRule.Taps([.. weight.Dims], window, x, y) < GemmDensity * rows * columns)
            {
                continue;
            }
            var matrix = ConvRule.Unrolled(OnnxTensors.ToFloats(weight), [.. weight.Dims], window, group, x, y);
            var flat = builder.Fresh(conv.Output[0] + ".flat");
            var product = builder.Fresh(conv.Output[0] + ".gemm");
            var inputs = new List<string> { flat, builder.Initializer(conv.Input[1] + ".unrolled", matrix, rows, columns) };
            if (bias is not null)
            {
                var b = OnnxTensors.ToFloats(bias);
                long positions = y.Dims[2] * y.Dims[3];
                inputs.Add(builder.Initializer(conv.Input[2] + ".unrolled", Enumerable.Range(0, (int)rows).Select(i => b[i / positions]).ToArray(), rows));
            }
            graph.Node[n] = builder.Node("Flatten", [conv.Input[0]], [flat], Attr("axis", 1L));
            graph.Node.Insert(n + 1, builder.Node("Gemm", inputs, [product], Attr("transB", 1L)));
            graph.Node.Insert(n + 2, builder.Node("Reshape", [product, builder.Ints("shape", 0, y.Dims[1], y.Dims[2], y.Dims[3])], [conv.Output[0]]));
            n += 2;
            extended[flat] = new TensorInfo([x.Dims[0], columns], [x.IsBatchAxis(0), false], TensorElementType.Float, null, null);
            extended[product] = new TensorInfo([y.Dims[0], rows], [y.IsBatchAxis(0), false], TensorElementType.Float, null, null);
        }
        return extended;
    }

    /// <summary>The least fraction of taps in the unrolled matrix for <see cref="SmallConvsAsGemm"/>.</summary>
    internal const double GemmDensity = 0.5;

    /// <summary>
    /// A 2-D convolution the forward rewrites may rebuild: a standard-domain Conv whose weight is a constant 4-D float
    /// initializer and whose input and output have known rank-4 shapes; null otherwise. Each rewrite adds its own
    /// conditions (static spatial sizes, channel counts, group, bias).
    /// </summary>
    private static (TensorProto Weight, TensorInfo X, TensorInfo Y)? ConstantConv2D(NodeProto conv, Dictionary<string, TensorProto> initializers,
        IReadOnlyDictionary<string, TensorInfo> tensors) =>
        conv is { OpType: "Conv", Domain: "" or "ai.onnx" } && conv.Input.Count >= 2
            && initializers.TryGetValue(conv.Input[1], out var weight) && weight.Dims.Count == 4 && weight.DataType == (int)TensorProto.Types.DataType.Float
            && tensors.TryGetValue(conv.Input[0], out var x) && tensors.TryGetValue(conv.Output[0], out var y) && x.Rank == 4 && y.Rank == 4
            ? (weight, x, y)
            : null;

    /// <summary>
    /// Whether a convolution's bias, if it has one, is a constant float tensor (given in <paramref name="bias"/>; null
    /// when there is no bias).
    /// </summary>
    private static bool ConstantBias(NodeProto conv, Dictionary<string, TensorProto> initializers, out TensorProto? bias)
    {
        bias = null;
        return conv.Input.Count <= 2 || conv.Input[2].Length == 0
            || (initializers.TryGetValue(conv.Input[2], out bias) && bias.DataType == (int)TensorProto.Types.DataType.Float);
    }

    /// <summary>
    /// The graph's float and integer constants by name: its initializers, and the outputs of Identity nodes that
    /// copy one (PyTorch's exporter writes a single initializer for equal parameters, such as the zero biases of
    /// freshly folded batch norms, and an Identity for each further use).
    /// </summary>
    private static Dictionary<string, TensorProto> Constants(GraphProto graph)
    {
        var constants = graph.Initializer.ToDictionary(i => i.Name, StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            if (node is { OpType: "Identity", Domain: "" or "ai.onnx" } && constants.TryGetValue(node.Input[0], out var source))
            {
                constants[node.Output[0]] = source;
            }
        }
        return constants;
    }

    /// <summary>
    /// Whether a tensor (as the graph stands now) is read by exactly one node and is not a graph output, so the
    /// node producing it may be rewritten together with that reader.
    /// </summary>
    private static Func<string, bool> SingleUse(GraphProto graph)
    {
        var consumers = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var input in graph.Node.SelectMany(n => n.Input))
        {
            consumers[input] = consumers.GetValueOrDefault(input) + 1;
        }
        var outputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        return name => consumers.GetValueOrDefault(name) == 1 && !outputs.Contains(name);
    }

    private sealed record FusionGeometry(long[] PoolKernel, long[] PadsBegin, long[] PadsEnd);

    /// <summary>
    /// The fused convolution's pads when <paramref name="conv"/> → <paramref name="pool"/> can be fused: a 2-D,
    /// ungrouped, stride-1, undilated convolution with constant float weights (and bias) and fewer than 16 input
    /// channels, and a pool whose windows tile its output (stride = kernel, no pads or dilation, static sizes).
    /// The fused convolution starts where the original did and ends after the last whole window.
    /// </summary>
    private static FusionGeometry? Fusion(NodeProto conv, NodeProto pool, IReadOnlyDictionary<string, TensorInfo> tensors,
        Dictionary<string, TensorProto> initializers)
    {
        if (ConstantConv2D(conv, initializers, tensors) is not var (weight, x, z)
            || weight.Dims[1] >= ConvRule.MinimumChannels || GradientContext.Int(conv, "group", 1) != 1
            || !ConstantBias(conv, initializers, out _)
            || !tensors.TryGetValue(pool.Output[0], out var y) || y.Rank != 4 || z.IsBatchAxis(1) || z.IsBatchAxis(2) || z.IsBatchAxis(3))
        {
            return null;
        }
        var convWindow = Window.Of(conv, [weight.Dims[2], weight.Dims[3]], x, z);
        if (convWindow.Strides.Any(s => s != 1) || convWindow.Dilations.Any(d => d != 1)
            || GradientContext.Ints(pool, "kernel_shape") is not [var kh, var kw])
        {
            return null;
        }
        var poolWindow = Window.Of(pool, [kh, kw], z, y);
        long[] kernel = [kh, kw];
        bool tiles = poolWindow.Strides.SequenceEqual(kernel) && poolWindow.Dilations.All(d => d == 1)
            && poolWindow.PadsBegin.Concat(poolWindow.PadsEnd).All(v => v == 0)
            && y.Dims[2] * kh <= z.Dims[2] && y.Dims[3] * kw <= z.Dims[3] && kh * kw > 1;
        if (!tiles)
        {
            return null;
        }
        // The original end pad, less what the pool leaves unused past its last whole window (never below zero:
        // a stride-k convolution drops a remainder shorter than k by itself).
        var end = new long[2];
        for (int i = 0; i < 2; i++)
        {
            end[i] = Math.Max(y.Dims[2 + i] * kernel[i] - z.Dims[2 + i] + convWindow.PadsEnd[i], 0);
        }
        return new FusionGeometry(kernel, convWindow.PadsBegin, end);
    }
}
