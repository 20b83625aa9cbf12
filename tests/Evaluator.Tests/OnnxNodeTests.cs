using RobustEval.Evaluator.Gradients;
using RobustEval.Evaluator.Runtime;

namespace RobustEval.Evaluator.Tests;

/// <summary>
/// Every backward rule against ONNX's own backend node tests (Debian's libonnx-testdata, installed by test.sh): for
/// each single-node test of an op with a rule and each float input, the rule's vector–Jacobian product at the test's
/// inputs against central finite differences (NodeTestConformance; float32, relative tolerance 0.02). The few that
/// cannot agree are listed with the reason — a test point on a kink or singularity, where finite differences see a
/// one-sided or undefined slope, or values where float32 differences lose the digits.
/// </summary>
[TestClass]
public sealed class OnnxNodeTests
{
    private static readonly Dictionary<string, string> Expected = new(StringComparer.Ordinal)
    {
        ["test_acosh_example"] = "x = 1 is acosh's branch point: the slope is infinite and acosh(1 − h) undefined",
        ["test_pow"] = "x = 0 with a fractional exponent: (−h)^b is undefined",
        ["test_leakyrelu_example"] = "x = 0 is the kink; the rule takes PyTorch's slope there (α), differences see (1 + α)/2",
        ["test_thresholdedrelu_example"] = "x = α is the jump; the rule takes 0 there as PyTorch does",
        ["test_reduce_min_default_axes_keepdims_example"] = "a three-way tie for the minimum: the rule splits the gradient evenly (PyTorch's amin), central differences give 1/2 to each",
        ["test_softmax_large_number"] = "inputs near 10⁴, where float32 steps below 10⁻² are lost to rounding",
        ["test_logsoftmax_large_number"] = "inputs near 10⁴, where float32 steps below 10⁻² are lost to rounding",
    };

    [TestMethod]
    public void RulesAgreeWithFiniteDifferencesOnOnnxsNodeTests()
    {
        var tests = NodeTestConformance.Applicable(NodeTestConformance.DefaultRoot);
        if (tests.Count == 0)
        {
            Assert.Inconclusive($"{NodeTestConformance.DefaultRoot} is missing (apt-get install libonnx-testdata)");
        }
        var sessions = new OrtSessions(DeviceChoice.Cpu, threads: 1);
        var results = tests.SelectMany(t => NodeTestConformance.Run(t, sessions)).ToList();
        var unexpected = results.Where(r => r.Outcome == NodeTestOutcome.Failed && !Expected.ContainsKey(r.Test))
            .Select(r => $"{r.Test} ({r.Input}): {r.Detail}").ToList();
        Assert.IsEmpty(unexpected, string.Join("\n", unexpected));
        int passed = results.Count(r => r.Outcome == NodeTestOutcome.Passed);
        // A floor, so that the test cannot pass by running nothing: 444 pass at ONNX 1.12's test data.
        Assert.IsGreaterThanOrEqualTo(430, passed, $"only {passed} node-test cases passed");
        // Each of the new rules that ONNX has node tests for (at opset 7 or later) is exercised, and passes.
        foreach (var op in new[] { "LayerNormalization", "Pow", "Where", "Max", "Min", "Sum", "Mean", "Gelu", "Einsum", "CumSum", "Trilu", "TopK",
            "GatherND", "ScatterND", "ScatterElements", "DepthToSpace", "SpaceToDepth", "ReduceMax", "ReduceLogSumExp", "LpNormalization",
            "Expand", "Tile", "Dropout", "Softplus", "Mish", "Celu", "Softsign", "Sin", "Cos" })
        {
            if (results.Any(r => r.OpType == op && r.Outcome != NodeTestOutcome.Declined))
            {
                Assert.IsTrue(results.Any(r => r.OpType == op && r.Outcome == NodeTestOutcome.Passed), $"no node test of {op} passes");
            }
        }
    }
}
