using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Gradients;

namespace RobustEval.Evaluator.Runtime;

/// <summary>One ONNX backend node test, differentiated with respect to one of its float inputs.</summary>
internal sealed record NodeTestResult(string Test, string OpType, long Opset, string Input, NodeTestOutcome Outcome, double Error, string Detail);

internal enum NodeTestOutcome
{
    Passed,
    Failed,

    /// <summary>
    /// Declined before anything runs, saying why: by the rule (a weight's gradient, training mode, …), by loading
    /// (a model below opset 7, which RobustEval does not read) or because ONNX Runtime cannot run the test's model.
    /// </summary>
    Declined,
}

/// <summary>
/// Checks the backward rules against ONNX's own backend node tests (Debian's libonnx-testdata:
/// <c>data/node/*/model.onnx</c> with <c>test_data_set_0/input_*.pb</c>). For every single-node test whose op has a
/// rule, and for each of its float32 inputs of rank ≥ 1 in turn (the others become constants with the test's
/// values), the gradient graph's vector–Jacobian product for a random output seed is compared with central finite
/// differences at the test's own input values, coordinate by coordinate (up to 24) and along two random directions.
/// ONNX Runtime runs these ops in float32 and the gradient graph is float32, so the tolerance is relative:
/// |numeric − analytic| ≤ <see cref="Tolerance"/>·max(|numeric|, max|gradient|), at the best of the <see cref="Steps"/>.
/// Float64 tests are run in float32 (the gradient graph is float32).
/// </summary>
internal static class NodeTestConformance
{
    public const string DefaultRoot = "/usr/share/libonnx-testdata/data/node";

    public const double Tolerance = 2e-2;

    private const string InputName = "robusteval/x";

    /// <summary>The finite-difference steps tried; the best agreement counts.</summary>
    public static readonly float[] Steps = [1e-2f, 3e-3f, 1e-3f];

    /// <summary>The test folders under <paramref name="root"/> whose single node has a backward rule, sorted.</summary>
    public static IReadOnlyList<string> Applicable(string root) =>
        Directory.Exists(root)
            ? Directory.GetDirectories(root).Order(StringComparer.Ordinal).Where(d =>
            {
                var model = Path.Combine(d, "model.onnx");
                if (!File.Exists(model) || !Directory.Exists(Path.Combine(d, "test_data_set_0")))
                {
                    return false;
                }
                var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(model)).Graph;
                return graph.Node.Count == 1 && BackwardRules.For(graph.Node[0]) is not null;
            }).ToList()
            : [];

    /// <summary>Runs one node test for each of its differentiable inputs.</summary>
    public static IReadOnlyList<NodeTestResult> Run(string directory, OrtSessions sessions)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(directory, "model.onnx")));
        var graph = model.Graph;
        var node = graph.Node[0];
        var test = Path.GetFileName(directory);
        long opset = OnnxFiles.DefaultOpset(model);
        var initializers = graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var inputs = graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        var values = new List<TensorProto>();
        for (int i = 0; i < inputs.Count; i++)
        {
            var file = Path.Combine(directory, "test_data_set_0", $"input_{i}.pb");
            if (!File.Exists(file))
            {
                return [];
            }
            values.Add(TensorProto.Parser.ParseFrom(File.ReadAllBytes(file)));
        }
        // Float64 tests run in float32: the gradient graph is float32, and every op with a rule has a float kernel.
        if (graph.Input.Concat(graph.Output).Any(v => v.Type?.TensorType?.ElemType == (int)TensorProto.Types.DataType.Double))
        {
            foreach (var value in graph.Input.Concat(graph.Output).Where(v => v.Type?.TensorType?.ElemType == (int)TensorProto.Types.DataType.Double))
            {
                value.Type.TensorType.ElemType = (int)TensorProto.Types.DataType.Float;
            }
            values = values.Select(v => v.DataType == (int)TensorProto.Types.DataType.Double ? ToFloat(v) : v).ToList();
        }
        var output = graph.Output.FirstOrDefault();
        if (output?.Type?.TensorType?.ElemType != (int)TensorProto.Types.DataType.Float || output.Name != node.Output[0])
        {
            return [];
        }
        var results = new List<NodeTestResult>();
        for (int i = 0; i < inputs.Count; i++)
        {
            if (values[i].DataType != (int)TensorProto.Types.DataType.Float || values[i].Dims.Count == 0 || OnnxTensors.ElementCount(values[i]) == 0
                || !node.Input.Contains(inputs[i].Name))
            {
                continue;
            }
            try
            {
                var error = Check(model, inputs, values, i, sessions);
                results.Add(new NodeTestResult(test, node.OpType, opset, inputs[i].Name,
                    error <= Tolerance ? NodeTestOutcome.Passed : NodeTestOutcome.Failed, error,
                    error <= Tolerance ? "" : $"relative error {error:G3}"));
            }
            catch (Exception e) when (e is GradientException or Declined)
            {
                results.Add(new NodeTestResult(test, node.OpType, opset, inputs[i].Name, NodeTestOutcome.Declined, double.NaN, e.Message.Split('\n')[0]));
            }
            catch (Exception e) when (e is UserErrorException or OnnxRuntimeException or InvalidOperationException)
            {
                results.Add(new NodeTestResult(test, node.OpType, opset, inputs[i].Name, NodeTestOutcome.Failed, double.NaN, e.Message.Split('\n')[0]));
            }
        }
        return results;
    }

    /// <summary>The largest relative error between the gradient graph and finite differences, for input <paramref name="which"/>.</summary>
    private static double Check(ModelProto original, List<ValueInfoProto> inputs, List<TensorProto> values, int which, OrtSessions sessions)
    {
        // x: the input differentiated; the other inputs become initializers with the test's values; y: the first output.
        var model = original.Clone();
        var graph = model.Graph;
        var node = graph.Node[0];
        const string x = InputName, y = "robusteval/y";
        graph.Input.Clear();
        for (int i = 0; i < inputs.Count; i++)
        {
            if (i == which)
            {
                continue;
            }
            var constant = values[i].Clone();
            constant.Name = inputs[i].Name;
            graph.Initializer.Add(constant);
        }
        var dims = values[which].Dims.ToArray();
        graph.Input.Add(GraphBuilder.TensorValue(x, TensorProto.Types.DataType.Float, [.. dims.Cast<object>()]));
        for (int k = 0; k < node.Input.Count; k++)
        {
            if (node.Input[k] == inputs[which].Name)
            {
                node.Input[k] = x;
            }
        }
        node.Output[0] = y;
        graph.Output.Clear();
        graph.Output.Add(new ValueInfoProto { Name = y });
        graph.ValueInfo.Clear();
        // As loading a classifier does: older opsets are raised to the one the gradient graph is written for.
        try
        {
            OpsetUpgrade.Apply(model);
        }
        catch (UserErrorException e)
        {
            throw new Declined(e.Message);
        }

        var point = OnnxTensors.ToFloats(values[which]);
        IReadOnlyDictionary<string, TensorInfo> tensors;
        try
        {
            tensors = ShapeProbe.Run(model, x, dims, dims[0], sessions);
        }
        catch (UserErrorException e)
        {
            throw new Declined($"ONNX Runtime does not run this test's model: {e.Message}");
        }
        var yDims = tensors[y].Dims;
        var gradientModel = GradientGraphBuilder.Build(model, x, y, tensors, 0, dims[0], new WeightedSumObjective(yDims));
        var random = new System.Random(12345);
        var weights = Enumerable.Range(0, (int)yDims.Aggregate(1L, (a, b) => a * b)).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        using var session = sessions.Create(gradientModel.ToByteArray());
        var (_, gradient) = Evaluate(session, point, dims, weights, yDims);
        double scale = Math.Max(gradient.Length == 0 ? 0 : gradient.Max(Math.Abs), 1e-3);
        double worst = 0;
        // Central differences at three steps, the closest agreement counting: large steps lose to curvature (acos near
        // ±1), small ones to float32 rounding.
        void Compare(float[] direction)
        {
            double analytic = gradient.Zip(direction, (g, d) => (double)g * d).Sum();
            double best = double.PositiveInfinity;
            foreach (float step in Steps)
            {
                var plus = point.Zip(direction, (p, d) => p + step * d).ToArray();
                var minus = point.Zip(direction, (p, d) => p - step * d).ToArray();
                double numeric = (Evaluate(session, plus, dims, weights, yDims).Value - Evaluate(session, minus, dims, weights, yDims).Value) / (2 * step);
                double error = double.IsFinite(numeric) && double.IsFinite(analytic)
                    ? Math.Abs(numeric - analytic) / Math.Max(scale, Math.Abs(numeric))
                    : double.IsNaN(numeric) == double.IsNaN(analytic) ? 0 : double.PositiveInfinity;
                best = Math.Min(best, error);
            }
            worst = Math.Max(worst, best);
        }
        var coordinates = point.Length <= 24 ? Enumerable.Range(0, point.Length) : Enumerable.Range(0, 24).Select(_ => random.Next(point.Length)).Distinct();
        foreach (int i in coordinates)
        {
            var direction = new float[point.Length];
            direction[i] = 1;
            Compare(direction);
        }
        for (int k = 0; k < 2; k++)
        {
            var direction = Enumerable.Range(0, point.Length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            float norm = (float)Math.Sqrt(direction.Sum(d => (double)d * d));
            Compare(direction.Select(d => d / norm).ToArray());
        }
        return worst;
    }

    private static TensorProto ToFloat(TensorProto tensor)
    {
        var doubles = tensor.RawData.IsEmpty
            ? tensor.DoubleData.ToArray()
            : System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(tensor.RawData.Span).ToArray();
        return OnnxTensors.Float(tensor.Name, doubles.Select(d => (float)d).ToArray(), [.. tensor.Dims]);
    }

    /// <summary>A case declined before the gradient graph runs (by loading, or because ONNX Runtime cannot run the forward model).</summary>
    private sealed class Declined(string message) : Exception(message);

    private static (double Value, float[] Gradient) Evaluate(InferenceSession session, float[] x, long[] dims, float[] weights, long[] yDims)
    {
        using var run = new RunOptions();
        using var xValue = OrtValue.CreateTensorValueFromMemory(x, dims);
        using var wValue = OrtValue.CreateTensorValueFromMemory(weights, yDims);
        using var outputs = session.Run(run, [InputName, WeightedSumObjective.WeightsName], [xValue, wValue],
            [WeightedSumObjective.ValueName, GradientGraphBuilder.GradientName]);
        return (outputs[0].GetTensorDataAsSpan<float>()[0], outputs[1].GetTensorDataAsSpan<float>().ToArray());
    }
}
