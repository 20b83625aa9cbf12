using RobustEval.Onnx;
using static RobustEval.Evaluator.Tests.GradientChecker;
using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Tests;

/// <summary>
/// The rules for transformer-era and less common ops (functions, normalizations, reductions, indexing, Einsum)
/// against central finite differences, at the opsets where their forms differ.
/// </summary>
[TestClass]
public sealed class NewRuleTests
{
    private static void Unary(string op, Func<Random, float> sample, long opset = 17, params AttributeProto[] attributes) =>
        Verify(Model([2, 3, 4], b => b.AddMulti(op, ["x"], ["y"], attributes), opset), [2, 3, 4], sample);

    private static float Inside(Random r) => 0.9f * Uniform(r);

    [TestMethod]
    public void TrigonometricAndHyperbolicFunctions()
    {
        foreach (var op in new[] { "Sin", "Cos", "Tan", "Sinh", "Cosh", "Asin", "Acos", "Atan", "Asinh", "Atanh" })
        {
            Unary(op, Inside);
        }
        Unary("Acosh", r => 1.5f + (float)r.NextDouble());
    }

    [TestMethod]
    public void ExponentialUnits()
    {
        Unary("Elu", Distinct(24, 10), attributes: Attr("alpha", 0.7f));
        Unary("Selu", Distinct(24, 10));
        Unary("Celu", Distinct(24, 10), attributes: Attr("alpha", 2f));
        Unary("Softplus", r => 3 * Uniform(r));
        Unary("Softsign", Distinct(24, 10));
        Unary("Mish", r => 3 * Uniform(r), 18);
        Unary("ThresholdedRelu", Distinct(24, 10), attributes: Attr("alpha", 0.35f));
        Unary("Shrink", Distinct(24, 10), attributes: [Attr("lambd", 0.35f), Attr("bias", 0.1f)]);
    }

    [TestMethod]
    [DataRow("none")]
    [DataRow("tanh")]
    public void Gelu(string approximate) => Unary("Gelu", r => 3 * Uniform(r), 20, Attr("approximate", approximate));

    [TestMethod]
    public void PowWithAConstantExponentAndAVariableOne()
    {
        Verify(Model([2, 3, 4], b => b.AddMulti("Pow", ["x", b.Scalar("two", 2f)], ["y"])), [2, 3, 4], Uniform);
        Verify(Model([2, 3, 4], b => b.AddMulti("Pow", ["x", b.Initializer("e", [0.5f, 1.5f, 3f, -1f], 4)], ["y"])), [2, 3, 4],
            r => 0.5f + (float)r.NextDouble());
        Verify(Model([2, 3, 4], b => b.AddMulti("Pow", ["x", b.Initializer("three", [3L], 1)], ["y"])), [2, 3, 4], Uniform);
        // Base and exponent both depend on x: x^(sigmoid(x)).
        Verify(Model([2, 3, 4], b => b.AddMulti("Pow", ["x", b.Add("Sigmoid", ["x"])], ["y"])), [2, 3, 4], r => 0.5f + (float)r.NextDouble());
    }

    [TestMethod]
    public void ModOfFloats() =>
        // x mod (x/3 + 2): both operands depend on x.
        Verify(Model([2, 3, 4], b => b.AddMulti("Mod", [b.Add("Mul", ["x", b.Scalar("five", 5f)]), b.Add("Add", [b.Add("Div", ["x", b.Scalar("three", 3f)]), b.Scalar("two", 2f)])],
            ["y"], Attr("fmod", 1L))), [2, 3, 4], Distinct(24, 3));

    [TestMethod]
    public void WhereSendsTheGradientToTheChosenBranch() =>
        Verify(Model([2, 3, 4], b => b.AddMulti("Where", [b.Add("Greater", ["x", b.Scalar("zero", 0f)]), b.Add("Tanh", ["x"]),
            b.Add("Mul", ["x", b.Initializer("k", RandomValues(1, 4), 4)])], ["y"])), [2, 3, 4], Distinct(24));

    [TestMethod]
    [DataRow("Max")]
    [DataRow("Min")]
    [DataRow("Sum")]
    [DataRow("Mean")]
    public void VariadicOpsWithBroadcasting(string op) =>
        Verify(Model([2, 3, 4], b => b.AddMulti(op, ["x", b.Add("Neg", ["x"]), b.Initializer("k", RandomValues(2, 4, 0.5), 4),
            b.Add("ReduceMean", ["x"], attributes: Attr("axes", [1L]))], ["y"])), [2, 3, 4], Distinct(24, 3));

    [TestMethod]
    public void MaxSplitsTiesEvenlyAsPyTorchDoes()
    {
        // max(x, x) at x: each operand receives half, so the total is 1 (PyTorch's maximum(x, x).backward() gives 1).
        var (model, yDims) = GradientModel(Model([1, 4], b => b.AddMulti("Max", ["x", b.Add("Identity", ["x"])], ["y"])), [1, 4]);
        var gradient = GradientAt(model, [1f, -2f, 3f, 0.5f], [1, 4], [1f, 1f, 1f, 1f], yDims);
        CollectionAssert.AreEqual(new[] { 1f, 1f, 1f, 1f }, gradient);
        // max(x, c) with a tie at the constant: half of the gradient reaches x.
        (model, yDims) = GradientModel(Model([1, 2], b => b.AddMulti("Max", ["x", b.Initializer("c", [1f, 5f], 2)], ["y"])), [1, 2]);
        CollectionAssert.AreEqual(new[] { 0.5f, 1f }, GradientAt(model, [1f, 7f], [1, 2], [1f, 1f], yDims));
    }

    [TestMethod]
    [DataRow(-1L, 17L)]
    [DataRow(1L, 17L)]
    [DataRow(-2L, 21L)]
    public void LayerNormalization(long axis, long opset) =>
        Verify(Model([2, 3, 4], b => b.AddMulti("LayerNormalization", ["x", b.Initializer("s", RandomValues(3, axis == 1 ? 12 : axis == -2 ? 12 : 4, 1, 1), axis == -1 ? [4] : [3, 4]),
            b.Initializer("b", RandomValues(4, axis == -1 ? 4 : 12), axis == -1 ? [4] : [3, 4])], ["y"], Attr("axis", axis), Attr("epsilon", 1e-3f)), opset),
            [2, 3, 4], r => 2 * Uniform(r));

    [TestMethod]
    public void LayerNormalizationWrittenOutAsOpset16ExportsDo() =>
        // ReduceMean, Sub, Pow(2), ReduceMean, Add ε, Sqrt, Div — PyTorch's exporter below opset 17.
        Verify(Model([2, 3, 4], b =>
        {
            var centred = b.Add("Sub", ["x", b.Add("ReduceMean", ["x"], attributes: [Attr("axes", [-1L]), Attr("keepdims", 1L)])]);
            var variance = b.Add("ReduceMean", [b.Add("Pow", [centred, b.Scalar("two", 2f)])], attributes: [Attr("axes", [-1L]), Attr("keepdims", 1L)]);
            b.AddMulti("Div", [centred, b.Add("Sqrt", [b.Add("Add", [variance, b.Scalar("eps", 1e-5f)])])], ["y"]);
        }, opset: 16), [2, 3, 4], r => 2 * Uniform(r));

    [TestMethod]
    public void InstanceNormalization() =>
        Verify(Model([2, 3, 2, 3], b => b.AddMulti("InstanceNormalization", ["x", b.Initializer("s", RandomValues(5, 3, 1, 1), 3), b.Initializer("b", RandomValues(6, 3), 3)],
            ["y"], Attr("epsilon", 1e-3f))), [2, 3, 2, 3], r => 2 * Uniform(r));

    [TestMethod]
    [DataRow(18L, 2)]
    [DataRow(21L, 4)]
    public void GroupNormalization(long opset, int scales) =>
        Verify(Model([2, 4, 2, 3], b => b.AddMulti("GroupNormalization", ["x", b.Initializer("s", RandomValues(7, scales, 1, 1), scales), b.Initializer("b", RandomValues(8, scales), scales)],
            ["y"], Attr("num_groups", 2L), Attr("epsilon", 1e-3f)), opset), [2, 4, 2, 3], r => 2 * Uniform(r));

    [TestMethod]
    public void MeanVarianceNormalization() =>
        Verify(Model([2, 3, 2, 3], b => b.AddMulti("MeanVarianceNormalization", ["x"], ["y"])), [2, 3, 2, 3], r => 2 * Uniform(r));

    [TestMethod]
    public void RmsNormalization() =>
        Verify(Model([2, 3, 4], b => b.AddMulti("RMSNormalization", ["x", b.Initializer("s", RandomValues(9, 4, 1, 1), 4)], ["y"], Attr("epsilon", 1e-3f)), 23),
            [2, 3, 4], r => 2 * Uniform(r));

    [TestMethod]
    [DataRow(1L)]
    [DataRow(2L)]
    public void LpNormalization(long p) =>
        Verify(Model([2, 3, 4], b => b.AddMulti("LpNormalization", ["x"], ["y"], Attr("p", p), Attr("axis", 1L))), [2, 3, 4], Distinct(24, 5));

    [TestMethod]
    [DataRow("ReduceMax", 17L)]
    [DataRow("ReduceMin", 18L)]
    [DataRow("ReduceL1", 17L)]
    [DataRow("ReduceL2", 18L)]
    [DataRow("ReduceSumSquare", 17L)]
    [DataRow("ReduceLogSumExp", 18L)]
    [DataRow("ReduceProd", 17L)]
    [DataRow("ReduceMean", 18L)]
    public void Reductions(string op, long opset)
    {
        foreach (bool keep in new[] { true, false })
        {
            Verify(Model([2, 3, 4], b => b.AddMulti(op, opset >= 18 ? ["x", b.Ints("axes", 1, -1)] : ["x"], ["y"],
                opset >= 18 ? [Attr("keepdims", keep ? 1L : 0L)] : [Attr("axes", [1L, -1]), Attr("keepdims", keep ? 1L : 0L)]), opset), [2, 3, 4], Distinct(24, 5));
        }
        // All axes (none given).
        Verify(Model([2, 3], b => b.AddMulti(op, ["x"], ["y"]), opset), [2, 3], Distinct(6, 5));
    }

    [TestMethod]
    public void ReduceLogSumOfPositiveValues() =>
        Verify(Model([2, 3, 4], b => b.AddMulti("ReduceLogSum", ["x"], ["y"], Attr("axes", [2L]))), [2, 3, 4], r => 0.5f + (float)r.NextDouble());

    [TestMethod]
    public void GlobalPools()
    {
        Verify(Model([2, 3, 2, 3], b => b.AddMulti("GlobalMaxPool", ["x"], ["y"])), [2, 3, 2, 3], Distinct(36));
        Verify(Model([2, 3, 2, 3], b => b.AddMulti("GlobalLpPool", ["x"], ["y"])), [2, 3, 2, 3], Distinct(36));
        Verify(Model([2, 3, 2, 3], b => b.AddMulti("GlobalLpPool", ["x"], ["y"], Attr("p", 3L))), [2, 3, 2, 3], Distinct(36));
    }

    [TestMethod]
    [DataRow(2L)]
    [DataRow(3L)]
    public void LpPoolWithStridesAndPads(long p) =>
        Verify(Model([1, 2, 5, 6], b => b.AddMulti("LpPool", ["x"], ["y"], Attr("kernel_shape", [3L, 2]), Attr("strides", [2L, 2]), Attr("pads", [1L, 0, 1, 1]), Attr("p", p))),
            [1, 2, 5, 6], Distinct(60));

    [TestMethod]
    public void ExpandAndTile()
    {
        Verify(Model([2, 3, 1], b => b.AddMulti("Expand", ["x", b.Ints("shape", 2, 2, 3, 4)], ["y"])), [2, 3, 1], Uniform);
        Verify(Model([2, 3, 2], b => b.AddMulti("Tile", ["x", b.Ints("repeats", 1, 2, 3)], ["y"])), [2, 3, 2], Uniform);
        Verify(Model([2, 3, 2], b => b.AddMulti("Tile", ["x", b.Ints("repeats", 2, 1, 2)], ["y"])), [2, 3, 2], Uniform);
    }

    [TestMethod]
    [DataRow("DCR")]
    [DataRow("CRD")]
    public void DepthToSpaceAndBack(string mode)
    {
        Verify(Model([2, 8, 2, 3], b => b.AddMulti("DepthToSpace", ["x"], ["y"], Attr("blocksize", 2L), Attr("mode", mode))), [2, 8, 2, 3], Uniform);
        Verify(Model([2, 2, 4, 6], b => b.AddMulti("SpaceToDepth", ["x"], ["y"], Attr("blocksize", 2L))), [2, 2, 4, 6], Uniform);
    }

    [TestMethod]
    public void TriluAndCumSum()
    {
        Verify(Model([2, 4, 4], b => b.AddMulti("Trilu", ["x", b.Initializer("k", [1L], 1)], ["y"], Attr("upper", 0L))), [2, 4, 4], Uniform);
        Verify(Model([2, 4, 4], b => b.AddMulti("Trilu", ["x"], ["y"])), [2, 4, 4], Uniform);
        foreach (var (exclusive, reverse) in new[] { (0L, 0L), (1L, 0L), (0L, 1L), (1L, 1L) })
        {
            Verify(Model([2, 3, 4], b => b.AddMulti("CumSum", ["x", b.Initializer("axis", [-1L], 1)], ["y"], Attr("exclusive", exclusive), Attr("reverse", reverse))),
                [2, 3, 4], Uniform);
        }
    }

    [TestMethod]
    public void GatherNdScatterNdScatterElementsAndTopK()
    {
        // GatherND with a repeated index: the gradient adds up.
        Verify(Model([2, 3, 4], b => b.AddMulti("GatherND", ["x", b.Initializer("i", [0L, 1, 1, 2, 0, 1], 3, 2)], ["y"])), [2, 3, 4], Uniform);
        // ScatterND: x is the data, its tanh the updates.
        Verify(Model([2, 3, 4], b => b.AddMulti("ScatterND", ["x", b.Initializer("i", [1L, 0, 0, 2], 2, 2),
            b.Add("Tanh", [b.Add("ReduceSum", ["x", b.Ints("a", 1)], attributes: Attr("keepdims", 0L))])], ["y"])), [2, 3, 4], Uniform);
        Verify(Model([2, 3], b => b.AddMulti("ScatterElements", ["x", b.Initializer("i", [2L, 0], 2, 1), b.Add("Tanh", [b.Add("Slice", ["x", b.Ints("s", 0), b.Ints("e", 1), b.Ints("a", 1)])])],
            ["y"], Attr("axis", 1L))), [2, 3], Uniform);
        Verify(Model([2, 3], b => b.AddMulti("ScatterElements", ["x", b.Initializer("i", [2L, 0], 2, 1), b.Add("Tanh", [b.Add("Slice", ["x", b.Ints("s", 0), b.Ints("e", 1), b.Ints("a", 1)])])],
            ["y"], Attr("axis", 1L), Attr("reduction", "add"))), [2, 3], Uniform);
        Verify(Model([2, 3, 5], b => b.AddMulti("TopK", ["x", b.Initializer("k", [2L], 1)], ["y", "indices"], Attr("axis", -1L))), [2, 3, 5], Distinct(30));
    }

    [TestMethod]
    public void SlicesWithStepsAndReversals()
    {
        // Swin's patch merging takes every second row and column; flips take step −1.
        Verify(Model([2, 3, 6, 5], b => b.AddMulti("Slice", ["x", b.Ints("s", 1, 0), b.Ints("e", 6, 5), b.Ints("a", 2, 3), b.Ints("st", 2, 2)], ["y"])),
            [2, 3, 6, 5], Uniform);
        Verify(Model([2, 3, 6], b => b.AddMulti("Slice", ["x", b.Ints("s", -1, 4), b.Ints("e", long.MinValue, 0), b.Ints("a", 2, 2 - 1), b.Ints("st", -1, -2)], ["y"])),
            [2, 3, 6], Uniform);
        Verify(Model([2, 3, 7], b => b.AddMulti("Slice", ["x", b.Ints("s", 1, 5), b.Ints("e", 3, 100), b.Ints("a", 1, 2), b.Ints("st", 1, 3)], ["y"])),
            [2, 3, 7], Uniform);
    }

    [TestMethod]
    public void Einsum()
    {
        Verify(Model([2, 3, 4], b => b.AddMulti("Einsum", ["x", b.Initializer("w", RandomValues(10, 20), 4, 5)], ["y"], Attr("equation", "bij,jk->bik"))), [2, 3, 4], Uniform);
        Verify(Model([2, 3, 4], b => b.AddMulti("Einsum", ["x", "x"], ["y"], Attr("equation", "bij,bkj->bik"))), [2, 3, 4], Uniform);
        Verify(Model([2, 3, 4], b => b.AddMulti("Einsum", ["x", b.Initializer("w", RandomValues(11, 4), 4)], ["y"], Attr("equation", "bij,j"))), [2, 3, 4], Uniform);
        Verify(Model([2, 3, 4], b => b.AddMulti("Einsum", ["x", b.Add("Transpose", ["x"], attributes: Attr("perm", [0L, 2, 1]))], ["y"], Attr("equation", "...ij,...jk"))),
            [2, 3, 4], Uniform);
        Verify(Model([2, 3, 4], b => b.AddMulti("Einsum", ["x"], ["y"], Attr("equation", "bij->bji"))), [2, 3, 4], Uniform);
    }

    [TestMethod]
    [DataRow("nearest", "asymmetric", "floor")]
    [DataRow("nearest", "half_pixel", "round_prefer_floor")]
    [DataRow("nearest", "align_corners", "round_prefer_ceil")]
    [DataRow("nearest", "tf_half_pixel_for_nn", "ceil")]
    [DataRow("linear", "half_pixel", "")]
    [DataRow("linear", "pytorch_half_pixel", "")]
    [DataRow("linear", "align_corners", "")]
    [DataRow("linear", "asymmetric", "")]
    [DataRow("cubic", "half_pixel", "")]
    [DataRow("cubic", "align_corners", "")]
    public void ResizeUpAndDown(string mode, string transform, string nearest)
    {
        AttributeProto[] attributes = nearest.Length > 0
            ? [Attr("mode", mode), Attr("coordinate_transformation_mode", transform), Attr("nearest_mode", nearest)]
            : [Attr("mode", mode), Attr("coordinate_transformation_mode", transform)];
        // Scales: up on one axis, down on the other.
        Verify(Model([2, 2, 4, 5], b => b.AddMulti("Resize", ["x", "", b.Initializer("scales", [1f, 1f, 1.75f, 0.6f], 4)], ["y"], attributes)), [2, 2, 4, 5], Uniform);
        // Sizes.
        Verify(Model([2, 2, 4, 5], b => b.AddMulti("Resize", ["x", "", "", b.Ints("sizes", 2, 2, 7, 3)], ["y"], attributes)), [2, 2, 4, 5], Uniform);
    }

    [TestMethod]
    public void ResizeCubicExcludingOutsideAndCropAndResize()
    {
        Verify(Model([1, 2, 4, 5], b => b.AddMulti("Resize", ["x", "", b.Initializer("scales", [1f, 1f, 2f, 1.5f], 4)], ["y"],
            Attr("mode", "cubic"), Attr("exclude_outside", 1L), Attr("cubic_coeff_a", -0.5f))), [1, 2, 4, 5], Uniform);
        Verify(Model([1, 2, 4, 5], b => b.AddMulti("Resize", ["x", b.Initializer("roi", [0f, 0f, 0.2f, 0.1f, 1f, 1f, 0.9f, 1.2f], 8), "", b.Ints("sizes", 1, 2, 6, 4)], ["y"],
            Attr("mode", "linear"), Attr("coordinate_transformation_mode", "tf_crop_and_resize"), Attr("extrapolation_value", 0.5f))), [1, 2, 4, 5], Uniform);
        // Opset 18: axes, and half_pixel_symmetric (19).
        Verify(Model([1, 2, 4, 5], b => b.AddMulti("Resize", ["x", "", b.Initializer("scales", [1.5f, 0.8f], 2)], ["y"],
            Attr("mode", "linear"), Attr("axes", [2L, 3]), Attr("coordinate_transformation_mode", "half_pixel_symmetric")), 19), [1, 2, 4, 5], Uniform);
    }

    [TestMethod]
    [DataRow(7L)]
    [DataRow(9L)]
    public void UpsampleIsRaisedToResize(long opset)
    {
        var model = Model([1, 2, 3, 4], b => b.AddMulti("Upsample", opset == 9 ? ["x", b.Initializer("scales", [1f, 1f, 2f, 3f], 4)] : ["x"], ["y"],
            opset == 9 ? [Attr("mode", "linear")] : [Attr("mode", "nearest"), new AttributeProto { Name = "scales", Type = AttributeProto.Types.AttributeType.Floats, Floats = { 1f, 1f, 2f, 3f } }]),
            opset);
        var before = GradientChecker.Forward(model, [1, 2, 3, 4], seed: 3);
        Classifiers.OpsetUpgrade.Apply(model);
        Assert.AreEqual("Resize", model.Graph.Node[0].OpType);
        CollectionAssert.AreEqual(before, GradientChecker.Forward(model, [1, 2, 3, 4], seed: 3), "the upgraded model computes what Upsample did");
        Verify(model, [1, 2, 3, 4], Uniform);
    }

    [TestMethod]
    public void AttentionOfEveryForm()
    {
        // 4-D multi-head: Q = x, K = tanh(x), V = sigmoid(x).
        Verify(Model([2, 2, 3, 4], b => b.AddMulti("Attention", ["x", b.Add("Tanh", ["x"]), b.Add("Sigmoid", ["x"])], ["y"]), 23), [2, 2, 3, 4], Uniform);
        // Grouped-query: four query heads share two K/V heads (the first two heads of x), with a scale and an additive mask.
        Verify(Model([1, 4, 3, 2], b =>
        {
            var shared = b.Add("Slice", ["x", b.Ints("s", 0), b.Ints("e", 2), b.Ints("a", 1)]);
            b.AddMulti("Attention", ["x", b.Add("Tanh", [shared]), b.Add("Sin", [shared]), b.Initializer("bias", RandomValues(12, 9), 3, 3)], ["y"], Attr("scale", 0.8f));
        }, 23), [1, 4, 3, 2], Uniform);
        // 3-D, heads in the last axis, causal, and a boolean mask.
        Verify(Model([2, 3, 4], b =>
        {
            var mask = b.Graph.Initializer.Count;
            b.Graph.Initializer.Add(new TensorProto { Name = "keep", DataType = (int)TensorProto.Types.DataType.Bool, Dims = { 3, 3 }, Int32Data = { 1, 1, 1, 1, 1, 0, 1, 1, 1 } });
            b.AddMulti("Attention", ["x", b.Add("Tanh", ["x"]), b.Add("Sigmoid", ["x"]), "keep"], ["y"], Attr("q_num_heads", 2L), Attr("kv_num_heads", 2L), Attr("is_causal", 1L));
        }, 23), [2, 3, 4], Uniform);
    }

    [TestMethod]
    public void DropoutInEveryFormIsTheIdentityInInferenceMode()
    {
        Verify(Model([2, 3], b => b.AddMulti("Dropout", ["x"], ["y"], Attr("ratio", 0.3f)), opset: 10), [2, 3], Uniform);
        Verify(Model([2, 3], b => b.AddMulti("Dropout", ["x", b.Scalar("ratio", 0.3f)], ["y", "mask"])), [2, 3], Uniform);
        Verify(Model([2, 3], b =>
        {
            var training = b.Graph.Initializer.Count;
            b.Graph.Initializer.Add(new TensorProto { Name = "training", DataType = (int)TensorProto.Types.DataType.Bool, Int32Data = { 0 } });
            b.AddMulti("Dropout", ["x", b.Scalar("ratio", 0.3f), "training"], ["y"]);
        }), [2, 3], Uniform);
    }

    [TestMethod]
    public void ComparisonsAndRoundingPassNoGradient() =>
        // y = x · floor(2x) + sign(x): the floor and the sign are constants to the gradient (zero almost everywhere).
        Verify(Model([2, 3], b => b.AddMulti("Add", [b.Add("Mul", ["x", b.Add("Floor", [b.Add("Mul", ["x", b.Scalar("two", 2f)])])]), b.Add("Sign", ["x"])], ["y"])),
            [2, 3], Distinct(6, 7));
}
