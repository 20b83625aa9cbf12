using RobustEval.Evaluator.Gradients;
using RobustEval.Evaluator.Runtime;
using RobustEval.Onnx;
using static RobustEval.Evaluator.Tests.GradientChecker;
using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Tests;

/// <summary>Every backward rule against central finite differences, on shapes and attributes that exercise it.</summary>
[TestClass]
public sealed class RuleTests
{
    private static void Unary(string op, Func<Random, float> sample, params AttributeProto[] attributes) =>
        Verify(Model([2, 3, 4], b => b.AddMulti(op, ["x"], ["y"], attributes)), [2, 3, 4], sample);

    [TestMethod]
    public void Relu() => Unary("Relu", Distinct(24));

    [TestMethod]
    public void LeakyRelu() => Unary("LeakyRelu", Distinct(24), Attr("alpha", 0.1f));

    [TestMethod]
    public void PReluWithBroadcastSlope() =>
        Verify(Model([2, 3, 4], b => b.AddMulti("PRelu", ["x", b.Initializer("slope", [0.1f, -0.3f, 0.5f], 3, 1)], ["y"])), [2, 3, 4], Distinct(24));

    [TestMethod]
    public void Sigmoid() => Unary("Sigmoid", r => 3 * Uniform(r));

    [TestMethod]
    public void Tanh() => Unary("Tanh", r => 2 * Uniform(r));

    [TestMethod]
    public void HardSigmoid() => Unary("HardSigmoid", Distinct(24, 10), Attr("alpha", 0.3f), Attr("beta", 0.4f));

    [TestMethod]
    public void HardSwish() => Unary("HardSwish", Distinct(24, 25));

    [TestMethod]
    public void ClipWithBothBounds() =>
        Verify(Model([2, 3, 4], b => b.AddMulti("Clip", ["x", b.Scalar("min", -0.4f), b.Scalar("max", 0.6f)], ["y"])), [2, 3, 4], Distinct(24, 10));

    [TestMethod]
    public void ClipWithOnlyAMinimum() =>
        Verify(Model([2, 3, 4], b => b.AddMulti("Clip", ["x", b.Scalar("min", 0.2f)], ["y"])), [2, 3, 4], Distinct(24, 10));

    [TestMethod]
    public void ElementaryFunctions()
    {
        Unary("Neg", Uniform);
        Unary("Exp", Uniform);
        Unary("Log", r => 0.5f + (float)r.NextDouble());
        Unary("Sqrt", r => 0.5f + (float)r.NextDouble());
        Unary("Erf", r => 1.5f * Uniform(r));
        Unary("Reciprocal", r => 0.5f + (float)r.NextDouble());
        Unary("Abs", Distinct(24));
        Unary("Identity", Uniform);
        Unary("Cast", Uniform, Attr("to", (long)TensorProto.Types.DataType.Float));
    }

    [TestMethod]
    [DataRow(1L)]
    [DataRow(-1L)]
    public void Softmax(long axis) => Unary("Softmax", r => 2 * Uniform(r), Attr("axis", axis));

    [TestMethod]
    public void LogSoftmax() => Unary("LogSoftmax", r => 2 * Uniform(r), Attr("axis", 1L));

    [TestMethod]
    [DataRow("Add")]
    [DataRow("Sub")]
    [DataRow("Mul")]
    [DataRow("Div")]
    public void ArithmeticBroadcastsBothOperands(string op)
    {
        // x holds both operands: A (2,3,4) from its first 24 values, B (3,1) from the last 3.
        var model = Model([1, 27], b =>
        {
            var a = b.Add("Reshape", [b.Add("Slice", ["x", b.Ints("s", 0, 0), b.Ints("e", 1, 24)]), b.Ints("sa", 2, 3, 4)]);
            var c = b.Add("Reshape", [b.Add("Slice", ["x", b.Ints("s", 0, 24), b.Ints("e", 1, 27)]), b.Ints("sb", 3, 1)]);
            b.AddMulti(op, [a, c], ["y"]);
        });
        Verify(model, [1, 27], r => 0.5f + (float)r.NextDouble());
    }

    [TestMethod]
    public void ArithmeticWithAConstantAndAReversedOperandOrder() =>
        Verify(Model([2, 3, 4], b => b.AddMulti("Div", [b.Initializer("k", RandomValues(1, 4, 1, 2), 4), b.Add("Sub", [b.Scalar("one", 1f), "x"])], ["y"])),
            [2, 3, 4], r => (float)r.NextDouble() * 0.5f);

    [TestMethod]
    public void FanOutSumsGradients() =>
        Verify(Model([2, 3, 4], b => b.AddMulti("Mul", [b.Add("Relu", ["x"]), b.Add("Sigmoid", ["x"])], ["y"])), [2, 3, 4], Distinct(24));

    [TestMethod]
    public void ConvWithStridesDilationsAndAsymmetricPads() =>
        Verify(Model([2, 3, 7, 6], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(2, 4 * 3 * 3 * 2), 4, 3, 3, 2), b.Initializer("b", RandomValues(3, 4), 4)],
            ["y"], Attr("strides", [2L, 1]), Attr("pads", [1L, 0, 0, 1]), Attr("dilations", [1L, 2]))), [2, 3, 7, 6], Uniform);

    /// <summary>
    /// Which way Conv's rule took (ConvRule): "flipped" — a stride-1 Conv with the kernel flipped once, taken from
    /// ConvRule.MinimumChannels input channels — "spread" (a strided depthwise Conv as wide: the same over dY spread out
    /// with zeros), "dense" (a strided Conv on a small map: one MatMul with the unrolled convolution) or "transposed"
    /// (ConvTranspose), and the finite-difference check of it.
    /// </summary>
    private static void VerifyConvPath(string expected, long[] dims, Action<GraphBuilder> build)
    {
        var forward = Model(dims, build);
        var (gradient, _) = GradientModel(forward, dims);
        var ops = gradient.Graph.Node.Select(n => n.OpType).ToList();
        bool flipped = gradient.Graph.Initializer.Any(i => i.Name.EndsWith(".flipped_weight", StringComparison.Ordinal));
        bool spread = flipped && ops.Contains("Resize");
        bool dense = gradient.Graph.Node.Any(n => n.OpType == "MatMul" && n.Input[1].EndsWith(".unrolled", StringComparison.Ordinal));
        // The forward Conv is still there: its rule, not the forward rewrite to a Gemm, made the gradient.
        Assert.AreEqual(1, gradient.Graph.Node.Count(n => n.OpType == "Conv" && n.Output[0] == "y"));
        Assert.AreEqual(expected, spread ? "spread" : flipped ? "flipped" : dense ? "dense" : "transposed", $"ops: {string.Join(", ", ops)}");
        Assert.AreEqual(flipped || dense ? 0 : 1, ops.Count(o => o == "ConvTranspose"));
        Verify(forward, dims, Uniform);
    }

    [TestMethod]
    public void ThinStrideOneConvWithAsymmetricPadsTakesConvTranspose() =>
        VerifyConvPath("transposed", [2, 3, 6, 5], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(22, 4 * 3 * 3 * 2), 4, 3, 3, 2)],
            ["y"], Attr("pads", [0L, 1, 2, 0])));

    [TestMethod]
    public void WideStrideOneConvWithAsymmetricPadsRunsAsAFlippedConvolution() =>
        VerifyConvPath("flipped", [2, 16, 6, 5], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(24, 5 * 16 * 3 * 2), 5, 16, 3, 2)],
            ["y"], Attr("pads", [0L, 1, 2, 0])));

    [TestMethod]
    public void WideDepthwiseConvRunsAsAFlippedConvolution() =>
        VerifyConvPath("flipped", [1, 16, 5, 6], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(25, 16 * 1 * 3 * 3), 16, 1, 3, 3)],
            ["y"], Attr("pads", [1L, 1, 1, 1]), Attr("group", 16L)));

    [TestMethod]
    public void WideGroupedConvWithAChannelMultiplierRunsAsAFlippedConvolution() =>
        // 4 groups of 4 input channels, 3 output channels each: the flip also swaps channels within each group.
        VerifyConvPath("flipped", [1, 16, 5, 4], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(26, 12 * 4 * 2 * 3), 12, 4, 2, 3)],
            ["y"], Attr("pads", [1L, 0, 0, 2]), Attr("group", 4L)));

    [TestMethod]
    public void WideStridedConvTakesConvTranspose() =>
        VerifyConvPath("transposed", [1, 16, 7, 6], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(27, 4 * 16 * 3 * 3), 4, 16, 3, 3)],
            ["y"], Attr("strides", [2L, 2]), Attr("pads", [1L, 1, 1, 1])));

    [TestMethod]
    public void StridedConvOnASmallMapRunsAsOneMatMul()
    {
        VerifyConvPath("dense", [2, 16, 4, 4], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(38, 8 * 16 * 3 * 3), 8, 16, 3, 3)],
            ["y"], Attr("strides", [2L, 2]), Attr("pads", [1L, 1, 1, 1])));
        // Dilated, with asymmetric pads and strides (a quarter of the unrolled matrix is taps: the threshold).
        VerifyConvPath("dense", [2, 6, 3, 3], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(39, 4 * 6 * 2 * 2), 4, 6, 2, 2)],
            ["y"], Attr("strides", [2L, 1]), Attr("pads", [1L, 0, 0, 1]), Attr("dilations", [1L, 2])));
        // Two groups: half of each row of the matrix belongs to the other group, so it is sparser — a third here: over
        // a quarter, and under the half at which the forward Conv itself becomes a Gemm (ForwardRewrites.SmallConvsAsGemm).
        VerifyConvPath("dense", [1, 4, 2, 3], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(40, 4 * 2 * 2 * 2), 4, 2, 2, 2)],
            ["y"], Attr("strides", [2L, 2]), Attr("group", 2L)));
    }

    [TestMethod]
    public void WideStridedDepthwiseConvRunsOverTheSpreadOutGradient()
    {
        VerifyConvPath("spread", [1, 16, 6, 5], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(30, 16 * 3 * 3), 16, 1, 3, 3)],
            ["y"], Attr("strides", [2L, 2]), Attr("pads", [1L, 1, 1, 1]), Attr("group", 16L)));
        // No pads, stride 3: on the second axis the spread-out gradient is longer than the input needs and is cut.
        VerifyConvPath("spread", [2, 16, 9, 8], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(31, 16 * 3 * 2), 16, 1, 3, 2)],
            ["y"], Attr("strides", [3L, 3]), Attr("group", 16L)));
        // Asymmetric pads, a kernel smaller than the stride on one axis.
        VerifyConvPath("spread", [1, 16, 7, 8], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(32, 16 * 2 * 1), 16, 1, 2, 1)],
            ["y"], Attr("strides", [2L, 2]), Attr("pads", [1L, 0, 0, 0]), Attr("group", 16L)));
    }

    [TestMethod]
    public void StridedDepthwiseConvWithAChannelMultiplierTakesConvTranspose() =>
        VerifyConvPath("transposed", [1, 16, 6, 5], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(33, 32 * 3 * 3), 32, 1, 3, 3)],
            ["y"], Attr("strides", [2L, 2]), Attr("pads", [1L, 1, 1, 1]), Attr("group", 16L)));

    [TestMethod]
    public void WideConvWithUnequalStridesTakesConvTranspose() =>
        VerifyConvPath("transposed", [1, 16, 7, 6], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(32, 4 * 16 * 3 * 3), 4, 16, 3, 3)],
            ["y"], Attr("strides", [2L, 1]), Attr("pads", [1L, 1, 1, 1])));

    /// <summary>
    /// Kernel taps that only ever read padding are cropped before the gradient graph is built
    /// (ForwardRewrites.CropDeadTaps): the kernel shapes of the gradient graph's forward Convs, and finite differences.
    /// </summary>
    private static void VerifyCroppedKernel(long[] expected, long[] dims, Action<GraphBuilder> build)
    {
        var forward = Model(dims, build);
        // The rewrite alone: on maps this small the Gemm rewrite that follows it may replace the Conv altogether.
        var cropped = forward.Clone();
        ForwardRewrites.CropDeadTaps(cropped.Graph, GradientGraphBuilder.WithPixels(ShapeProbe.Run(forward, "x", dims, dims[0], Sessions), forward.Graph, "x"));
        var shapes = cropped.Graph.Node.Where(n => n.OpType == "Conv" && n.Output[0] == "y")
            .Select(n => cropped.Graph.Initializer.Single(i => i.Name == n.Input[1]).Dims.Skip(2).ToArray()).ToList();
        Assert.HasCount(1, shapes, "the forward Conv");
        CollectionAssert.AreEqual(expected, shapes[0]);
        Verify(forward, dims, Uniform);
    }

    /// <summary>
    /// Whether the gradient graph computes the forward Conv as one Gemm with the unrolled convolution
    /// (ForwardRewrites.SmallConvsAsGemm) — no Conv left, and a Gemm reading an unrolled matrix — and the
    /// finite-difference check (which also compares the rewritten forward's output with the model's).
    /// </summary>
    private static void VerifyGemmPath(bool expected, long[] dims, Action<GraphBuilder> build)
    {
        var forward = Model(dims, build);
        var (gradient, _) = GradientModel(forward, dims);
        var nodes = gradient.Graph.Node;
        bool gemm = nodes.Any(n => n.OpType == "Gemm" && n.Input[1].EndsWith(".unrolled", StringComparison.Ordinal));
        Assert.AreEqual(expected, gemm, $"ops: {string.Join(", ", nodes.Select(n => n.OpType))}");
        Assert.AreEqual(expected ? 0 : 1, nodes.Count(n => n.OpType == "Conv" && n.Output[0] == "y"));
        Verify(forward, dims, Uniform);
    }

    [TestMethod]
    public void ConvOverATwoByTwoMapRunsAsOneGemm() =>
        // Every tap of the 3×3 kernel connects some input and output position of the 2×2 map: the unrolled matrix is dense.
        VerifyGemmPath(true, [2, 16, 2, 2], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(40, 8 * 16 * 3 * 3), 8, 16, 3, 3), b.Initializer("b", RandomValues(41, 8), 8)],
            ["y"], Attr("pads", [1L, 1, 1, 1])));

    [TestMethod]
    public void GroupedStridedConvOverASmallMapRunsAsOneGemm() =>
        // Two groups (half of each row belongs to the other group: exactly the threshold), stride 2 on one axis,
        // a pad on one side only, and a bias shared through an Identity as PyTorch's exporter writes equal parameters.
        VerifyGemmPath(true, [3, 4, 2, 3], b =>
        {
            var bias = b.Add("Identity", [b.Initializer("b", RandomValues(42, 6), 6)]);
            b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(43, 6 * 2 * 3 * 3), 6, 2, 3, 3), bias],
                ["y"], Attr("strides", [1L, 2]), Attr("pads", [1L, 0, 0, 0]), Attr("group", 2L));
        });

    [TestMethod]
    public void StridedConvWithWidePadsOverASmallMapRunsAsOneGemm() =>
        // Stride 2 with pads 2 over a row of 3: the three outputs read 1, 3 and 1 of the inputs (5 of 9 pairs are taps).
        VerifyGemmPath(true, [2, 3, 1, 3], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(45, 4 * 3 * 1 * 3), 4, 3, 1, 3), b.Initializer("b", RandomValues(46, 4), 4)],
            ["y"], Attr("strides", [1L, 2]), Attr("pads", [0L, 2, 0, 2])));

    [TestMethod]
    public void ConvWhoseUnrolledMatrixIsMostlyZerosStaysAConv() =>
        // A 3×3 kernel over a 4×4 map: 100 of the 256 (input, output) position pairs are taps.
        VerifyGemmPath(false, [1, 16, 4, 4], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(44, 4 * 16 * 3 * 3), 4, 16, 3, 3)],
            ["y"], Attr("pads", [1L, 1, 1, 1])));

    [TestMethod]
    public void ConvOverAOneByOneMapKeepsOnlyTheCentreTap() =>
        VerifyCroppedKernel([1, 1], [2, 16, 1, 1], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(34, 4 * 16 * 3 * 3), 4, 16, 3, 3), b.Initializer("b", RandomValues(35, 4), 4)],
            ["y"], Attr("pads", [1L, 1, 1, 1])));

    [TestMethod]
    public void StridedConvOverASmallMapDropsTheTapsThatReadOnlyPadding() =>
        // 2×3 input, 3×3 kernel, stride 2, pads 1: rows: one output reads rows −1..1 (the first tap dead);
        // columns: two outputs read −1..1 and 1..3 (all taps live, the last column reads padding for one output only).
        VerifyCroppedKernel([2, 3], [1, 16, 2, 3], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(36, 8 * 16 * 3 * 3), 8, 16, 3, 3)],
            ["y"], Attr("strides", [2L, 2]), Attr("pads", [1L, 1, 1, 1])));

    [TestMethod]
    public void ConvWhoseTapsAllReadTheInputIsLeftAsItIs() =>
        VerifyCroppedKernel([3, 3], [1, 16, 2, 2], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(37, 4 * 16 * 3 * 3), 4, 16, 3, 3)],
            ["y"], Attr("pads", [1L, 1, 1, 1])));

    [TestMethod]
    public void ConvWithPadsWiderThanTheKernelFallsBackToConvTranspose() =>
        Verify(Model([1, 2, 4, 4], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(23, 3 * 2 * 2 * 2), 3, 2, 2, 2)],
            ["y"], Attr("pads", [2L, 0, 0, 3]))), [1, 2, 4, 4], Uniform);

    [TestMethod]
    public void GroupedConv() =>
        Verify(Model([1, 6, 5, 5], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(4, 6 * 2 * 3 * 3), 6, 2, 3, 3)],
            ["y"], Attr("group", 3L))), [1, 6, 5, 5], Uniform);

    [TestMethod]
    [DataRow("SAME_UPPER")]
    [DataRow("SAME_LOWER")]
    [DataRow("VALID")]
    public void ConvWithAutoPad(string autoPad) =>
        Verify(Model([1, 2, 7, 6], b => b.AddMulti("Conv", ["x", b.Initializer("w", RandomValues(5, 3 * 2 * 3 * 3), 3, 2, 3, 3)],
            ["y"], Attr("strides", [2L, 2]), Attr("auto_pad", autoPad))), [1, 2, 7, 6], Uniform);

    [TestMethod]
    public void ConvTranspose() =>
        Verify(Model([1, 4, 4, 5], b => b.AddMulti("ConvTranspose", ["x", b.Initializer("w", RandomValues(6, 4 * 3 * 3 * 3), 4, 3, 3, 3)],
            ["y"], Attr("strides", [2L, 2]), Attr("pads", [1L, 1, 0, 1]), Attr("output_padding", [1L, 0]))), [1, 4, 4, 5], Uniform);

    [TestMethod]
    public void MaxPoolDroppingTheLastColumn() =>
        Verify(Model([2, 3, 6, 7], b => b.AddMulti("MaxPool", ["x"], ["y"], Attr("kernel_shape", [2L, 2]), Attr("strides", [2L, 2]))),
            [2, 3, 6, 7], Distinct(252), step: 1e-3f);

    [TestMethod]
    public void MaxPoolWithOverlappingWindowsAndPads() =>
        Verify(Model([1, 2, 7, 7], b => b.AddMulti("MaxPool", ["x"], ["y"], Attr("kernel_shape", [3L, 3]), Attr("strides", [2L, 2]),
            Attr("pads", [1L, 1, 1, 1]))), [1, 2, 7, 7], Distinct(98), step: 1e-3f);

    [TestMethod]
    public void MaxPoolInCeilMode() =>
        Verify(Model([1, 2, 7, 7], b => b.AddMulti("MaxPool", ["x"], ["y"], Attr("kernel_shape", [2L, 2]), Attr("strides", [2L, 2]),
            Attr("ceil_mode", 1L))), [1, 2, 7, 7], Distinct(98), step: 1e-3f);

    [TestMethod]
    [DataRow(0L, 0L)]
    [DataRow(1L, 0L)]
    [DataRow(0L, 1L)]
    [DataRow(1L, 1L)]
    public void AveragePool(long countIncludePad, long ceilMode) =>
        // In ceil mode the last column's window is partial (it runs past the input, not into padding: windows that
        // would start inside the padding are where ONNX's shape inference and runtimes have disagreed).
        Verify(Model([2, 2, 7, 7], b => b.AddMulti("AveragePool", ["x"], ["y"], Attr("kernel_shape", [3L, 2]), Attr("strides", [2L, 2]),
            Attr("pads", [1L, 0, 1, 0]), Attr("count_include_pad", countIncludePad), Attr("ceil_mode", ceilMode))), [2, 2, 7, 7], Uniform);

    [TestMethod]
    public void GlobalAveragePool() => Verify(Model([2, 3, 4, 5], b => b.AddMulti("GlobalAveragePool", ["x"], ["y"])), [2, 3, 4, 5], Uniform);

    [TestMethod]
    public void GemmWithTransposesAlphaBetaAndBias() =>
        Verify(Model([3, 5], b => b.AddMulti("Gemm", ["x", b.Initializer("w", RandomValues(7, 20), 4, 5), b.Initializer("c", RandomValues(8, 4), 4)],
            ["y"], Attr("transB", 1L), Attr("alpha", 0.7f), Attr("beta", 1.3f))), [3, 5], Uniform);

    [TestMethod]
    public void GemmWithTransposedA() =>
        Verify(Model([5, 3], b => b.AddMulti("Gemm", ["x", b.Initializer("w", RandomValues(9, 20), 5, 4)], ["y"], Attr("transA", 1L))), [5, 3], Uniform);

    [TestMethod]
    public void GemmWithTheInputAsSecondOperand() =>
        Verify(Model([5, 3], b => b.AddMulti("Gemm", [b.Initializer("w", RandomValues(10, 20), 4, 5), "x"], ["y"], Attr("transB", 0L))), [5, 3], Uniform);

    [TestMethod]
    public void MatMulWithBatchBroadcasting()
    {
        Verify(Model([2, 3, 4, 5], b => b.AddMulti("MatMul", ["x", b.Initializer("w", RandomValues(11, 30), 5, 6)], ["y"])), [2, 3, 4, 5], Uniform);
        Verify(Model([2, 3, 5], b => b.AddMulti("MatMul", [b.Initializer("w", RandomValues(12, 12), 4, 3), "x"], ["y"])), [2, 3, 5], Uniform);
        Verify(Model([2, 4, 3], b => b.AddMulti("MatMul", ["x", b.Add("Transpose", ["x"], attributes: Attr("perm", [0L, 2, 1]))], ["y"])), [2, 4, 3], Uniform);
    }

    [TestMethod]
    public void BatchNormalization()
    {
        AttributeProto eps = Attr("epsilon", 1e-3f);
        Verify(Model([2, 3, 4, 4], b => b.AddMulti("BatchNormalization", ["x", b.Initializer("s", RandomValues(13, 3), 3), b.Initializer("b", RandomValues(14, 3), 3),
            b.Initializer("m", RandomValues(15, 3), 3), b.Initializer("v", RandomValues(16, 3, 0.4, 1), 3)], ["y"], eps)), [2, 3, 4, 4], Uniform);
        Verify(Model([4, 3], b => b.AddMulti("BatchNormalization", ["x", b.Initializer("s", RandomValues(17, 3), 3), b.Initializer("b", RandomValues(18, 3), 3),
            b.Initializer("m", RandomValues(19, 3), 3), b.Initializer("v", RandomValues(20, 3, 0.4, 1), 3)], ["y"])), [4, 3], Uniform);
    }

    [TestMethod]
    public void ReshapingOps()
    {
        Verify(Model([2, 3, 4], b => b.AddMulti("Sigmoid", [b.Add("Flatten", ["x"], attributes: Attr("axis", 2L))], ["y"])), [2, 3, 4], Uniform);
        Verify(Model([2, 3, 4], b => b.AddMulti("Sigmoid", [b.Add("Reshape", ["x", b.Ints("shape", 4, -1)])], ["y"])), [2, 3, 4], Uniform);
        Verify(Model([2, 1, 4], b => b.AddMulti("Sigmoid", [b.Add("Squeeze", ["x", b.Ints("axes", 1)])], ["y"])), [2, 1, 4], Uniform);
        Verify(Model([2, 4], b => b.AddMulti("Sigmoid", [b.Add("Unsqueeze", ["x", b.Ints("axes", 0, 2)])], ["y"])), [2, 4], Uniform);
    }

    [TestMethod]
    public void Transpose()
    {
        Verify(Model([2, 3, 4, 5], b => b.AddMulti("Transpose", ["x"], ["y"], Attr("perm", [0L, 2, 3, 1]))), [2, 3, 4, 5], Uniform);
        Verify(Model([2, 3, 4], b => b.AddMulti("Transpose", ["x"], ["y"])), [2, 3, 4], Uniform);
    }

    [TestMethod]
    public void ConcatOfTwoDependentPartsAndAConstant() =>
        Verify(Model([2, 3, 4], b => b.AddMulti("Concat", ["x", b.Initializer("k", RandomValues(21, 8), 2, 1, 4), b.Add("Tanh", ["x"])], ["y"], Attr("axis", 1L))),
            [2, 3, 4], Uniform);

    [TestMethod]
    public void SplitWithAnUnusedPart() =>
        Verify(Model([2, 6, 3], b =>
        {
            var parts = b.AddMulti("Split", ["x", b.Ints("split", 2, 4)], ["s0", "s1"], Attr("axis", 1L));
            b.AddMulti("Sigmoid", [parts[1]], ["y"]);
        }), [2, 6, 3], Uniform);

    [TestMethod]
    public void SplitWithBothParts() =>
        Verify(Model([2, 6, 3], b =>
        {
            var parts = b.AddMulti("Split", ["x", b.Ints("split", 2, 4)], ["s0", "s1"], Attr("axis", 1L));
            b.AddMulti("Concat", [b.Add("Tanh", [parts[1]]), b.Add("Neg", [parts[0]])], ["y"], Attr("axis", 1L));
        }), [2, 6, 3], Uniform);

    [TestMethod]
    public void Slice() =>
        Verify(Model([2, 5, 6], b => b.AddMulti("Slice", ["x", b.Ints("starts", 1, -4), b.Ints("ends", 4, 100), b.Ints("axes", 1, 2)], ["y"])),
            [2, 5, 6], Uniform);

    [TestMethod]
    public void Pad() =>
        Verify(Model([2, 3, 4], b => b.AddMulti("Tanh", [b.Add("Pad", ["x", b.Ints("pads", 0, 1, 2, 0, 0, 1)], attributes: Attr("mode", "constant"))], ["y"])),
            [2, 3, 4], Uniform);

    [TestMethod]
    public void GatherWithRepeatedAndScalarIndices()
    {
        Verify(Model([2, 5, 3], b => b.AddMulti("Gather", ["x", b.Ints("i", 4, 0, 4, -1)], ["y"], Attr("axis", 1L))), [2, 5, 3], Uniform);
        Verify(Model([2, 5, 3], b => b.AddMulti("Gather", ["x", b.Initializer("i", [2L])], ["y"], Attr("axis", 2L))), [2, 5, 3], Uniform);
    }

    [TestMethod]
    public void GatherElements()
    {
        // One element per line chosen by ArgMax (the Equal form), by constant indices with negatives (Mod first),
        // and several per line with repeats (ScatterElements).
        Verify(Model([2, 4, 3], b => b.AddMulti("GatherElements", ["x", b.Add("ArgMax", ["x"], attributes: [Attr("axis", 1L), Attr("keepdims", 1L)])], ["y"],
            Attr("axis", 1L))), [2, 4, 3], Distinct(24));
        Verify(Model([2, 4, 3], b => b.AddMulti("GatherElements", ["x", b.Initializer("i", [3L, -1, 0, 1, 2, -4], 2, 1, 3)], ["y"], Attr("axis", 1L))),
            [2, 4, 3], Uniform);
        Verify(Model([2, 4, 3], b => b.AddMulti("GatherElements", ["x", b.Initializer("i", [2L, 2, 0, -1, 1, 2, 0, 0, 2, 1, 1, 1], 2, 2, 3)], ["y"],
            Attr("axis", -1L))), [2, 4, 3], Uniform);
    }

    /// <summary>A thin convolution (few input channels) feeding a MaxPool whose windows tile its output.</summary>
    private static ModelProto ConvThenPool(long[] inputDims, long channels, long[] kernel, long[] poolKernel, bool bias, params AttributeProto[] convAttributes) =>
        Model(inputDims, b =>
        {
            var w = b.Initializer("w", RandomValues(31, (int)(channels * inputDims[1] * kernel[0] * kernel[1])), channels, inputDims[1], kernel[0], kernel[1]);
            var conv = b.Add("Conv", bias ? ["x", w, b.Initializer("b", RandomValues(32, (int)channels), channels)] : ["x", w], attributes: convAttributes);
            b.AddMulti("MaxPool", [conv], ["y"], Attr("kernel_shape", poolKernel), Attr("strides", poolKernel));
        });

    private static void AssertFused(ModelProto forward, long[] inputDims)
    {
        var ops = GradientModel(forward, inputDims).Model.Graph.Node.Select(n => n.OpType).ToList();
        CollectionAssert.DoesNotContain(ops, "MaxPool", "the pool was folded into the convolution");
        CollectionAssert.DoesNotContain(ops, "ScatterElements", "no scatter");
    }

    [TestMethod]
    public void ThinConvFollowedByATilingMaxPoolIsFused()
    {
        // Square pool dropping a column, with asymmetric conv pads; rectangular pool with SAME padding dropping rows; no bias.
        var square = ConvThenPool([2, 2, 9, 8], 3, [3, 3], [2, 2], true, Attr("pads", [1L, 0, 0, 1]));
        AssertFused(square, [2, 2, 9, 8]);
        Verify(square, [2, 2, 9, 8], Distinct(288), step: 1e-3f);
        var rectangular = ConvThenPool([1, 1, 11, 8], 4, [3, 2], [3, 2], false, Attr("auto_pad", "SAME_UPPER"));
        AssertFused(rectangular, [1, 1, 11, 8]);
        Verify(rectangular, [1, 1, 11, 8], Distinct(88), seed: 2, step: 1e-3f);
    }

    [TestMethod]
    public void WideConvFollowedByAPoolIsNotFused()
    {
        var wide = ConvThenPool([1, 16, 4, 4], 2, [1, 1], [2, 2], true);
        CollectionAssert.Contains(GradientModel(wide, [1, 16, 4, 4]).Model.Graph.Node.Select(n => n.OpType).ToList(), "MaxPool");
        Verify(wide, [1, 16, 4, 4], Distinct(256), step: 1e-3f);
    }

    [TestMethod]
    public void FusedPoolGivesTiesToTheFirstMaximumInRowMajorOrder()
    {
        // A 1×1 convolution with weight 1 copies its input exactly, so windows of equal pixels are exact ties; like
        // MaxPool's Indices (and PyTorch), the first maximum in row-major window order takes the whole gradient.
        long[] dims = [1, 1, 7, 6];
        var model = Model(dims, b => b.AddMulti("MaxPool", [b.Add("Conv", ["x", b.Initializer("w", [1f], 1, 1, 1, 1)])], ["y"],
            Attr("kernel_shape", [3L, 3]), Attr("strides", [3L, 3])));
        var x = new float[] { 1, 1, 1, 0, 2, 2, 1, 1, 1, 2, 0, 2, 1, 1, 1, 2, 2, 0, 0, 3, 3, 3, 3, 0, 0, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0, 0, 5, 5, 5, 5, 5, 5 };
        var (gradientModel, yDims) = GradientModel(model, dims);
        CollectionAssert.DoesNotContain(gradientModel.Graph.Node.Select(n => n.OpType).ToList(), "MaxPool");
        var gradient = GradientAt(gradientModel, x, dims, [10f, 20f, 30f, 40f], yDims);
        var expected = new float[42];
        expected[0] = 10;      // all ones: the window's first pixel
        expected[4] = 20;      // 2s at (0,4), (0,5), (1,3), ...: the first in row-major order is (0,4)
        expected[19] = 30;     // rows 3–5, columns 0–2: the 3 at (3,1)
        expected[21] = 40;     // rows 3–5, columns 3–5: the 3 at (3,3); row 6 is past the last window
        CollectionAssert.AreEqual(expected, gradient);
    }

    [TestMethod]
    public void Reductions()
    {
        Verify(Model([2, 3, 4], b => b.AddMulti("ReduceMean", ["x"], ["y"], Attr("axes", [1L, 2]), Attr("keepdims", 0L))), [2, 3, 4], Uniform);
        Verify(Model([2, 3, 4], b => b.AddMulti("ReduceSum", ["x", b.Ints("axes", -2)], ["y"])), [2, 3, 4], Uniform);
        Verify(Model([2, 3, 4], b => b.AddMulti("ReduceMean", ["x"], ["y"])), [2, 3, 4], Uniform);
        Verify(Model([2, 3, 4], b => b.AddMulti("ReduceSum", ["x"], ["y"], Attr("keepdims", 0L))), [2, 3, 4], Uniform);
    }
}
