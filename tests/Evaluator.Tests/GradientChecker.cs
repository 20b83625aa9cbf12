using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Gradients;
using RobustEval.Evaluator.Runtime;
using RobustEval.Onnx;

namespace RobustEval.Evaluator.Tests;

/// <summary>
/// Checks a gradient graph against central finite differences: for f(x) = Σ Y(x) ⊙ W with random weights W,
/// the graph's df/dx must match (f(x + h·e_i) − f(x − h·e_i)) / 2h, coordinate by coordinate (up to 48 of
/// them) and along random directions.
/// </summary>
internal static class GradientChecker
{
    public static readonly OrtSessions Sessions = new(DeviceChoice.Cpu, threads: 1);

    /// <summary>A model with float input "x" of <paramref name="inputDims"/> and the given nodes, producing "y".</summary>
    public static ModelProto Model(long[] inputDims, Action<GraphBuilder> build, long opset = 17)
    {
        var graph = new GraphProto { Name = "test" };
        graph.Input.Add(GraphBuilder.TensorValue("x", TensorProto.Types.DataType.Float, [.. inputDims.Cast<object>()]));
        var builder = new GraphBuilder(graph);
        build(builder);
        graph.Output.Add(new ValueInfoProto { Name = "y" });
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return model;
    }

    /// <summary>
    /// Builds the gradient graph of <paramref name="forward"/> and compares it with finite differences at a point
    /// drawn by <paramref name="sample"/>. Returns the largest relative error seen.
    /// </summary>
    public static double Verify(ModelProto forward, long[] inputDims, Func<Random, float> sample, int seed = 1, double tolerance = 2e-2,
        float step = 1e-2f)
    {
        var (gradientModel, yDims) = GradientModel(forward, inputDims);

        var random = new Random(seed);
        int size = (int)inputDims.Aggregate(1L, (a, b) => a * b);
        var x = Enumerable.Range(0, size).Select(_ => sample(random)).ToArray();
        var weights = Enumerable.Range(0, (int)yDims.Aggregate(1L, (a, b) => a * b)).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();

        using var session = Sessions.Create(gradientModel.ToByteArray());
        var (value, gradient) = Run(session, x, inputDims, weights, yDims);
        Assert.IsTrue(double.IsFinite(value), "the objective is finite");
        // The gradient graph's forward part (with its rewrites) must compute what the model computes.
        using (var forwardSession = Sessions.Create(forward.ToByteArray()))
        using (var run = new RunOptions())
        using (var xValue = OrtValue.CreateTensorValueFromMemory(x, inputDims))
        using (var outputs = forwardSession.Run(run, ["x"], [xValue], ["y"]))
        {
            var y = outputs[0].GetTensorDataAsSpan<float>().ToArray();
            double expected = y.Zip(weights, (a, b) => (double)a * b).Sum();
            double magnitude = y.Zip(weights, (a, b) => Math.Abs((double)a * b)).Sum();
            Assert.IsLessThanOrEqualTo(1e-5 * Math.Max(magnitude, 1e-6), Math.Abs(value - expected),
                $"the gradient graph's objective {value} differs from the model's {expected}");
        }
        double scale = Math.Max(gradient.Max(Math.Abs), 1e-3);

        double Objective(float[] point) => Run(session, point, inputDims, weights, yDims).Value;
        double worst = 0;
        var coordinates = size <= 48 ? Enumerable.Range(0, size) : Enumerable.Range(0, 48).Select(_ => random.Next(size)).Distinct();
        foreach (int i in coordinates)
        {
            var plus = (float[])x.Clone();
            var minus = (float[])x.Clone();
            plus[i] += step;
            minus[i] -= step;
            double numeric = (Objective(plus) - Objective(minus)) / (2 * step);
            double error = Math.Abs(numeric - gradient[i]) / Math.Max(scale, Math.Abs(numeric));
            worst = Math.Max(worst, error);
            Assert.IsLessThanOrEqualTo(tolerance, error, $"∂f/∂x[{i}]: finite differences {numeric}, gradient graph {gradient[i]}");
        }
        for (int k = 0; k < 3; k++)
        {
            var direction = Enumerable.Range(0, size).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            double norm = Math.Sqrt(direction.Sum(d => (double)d * d));
            var plus = x.Zip(direction, (a, d) => a + step * (float)(d / norm)).ToArray();
            var minus = x.Zip(direction, (a, d) => a - step * (float)(d / norm)).ToArray();
            double numeric = (Objective(plus) - Objective(minus)) / (2 * step);
            double analytic = gradient.Zip(direction, (g, d) => (double)g * d / norm).Sum();
            double error = Math.Abs(numeric - analytic) / Math.Max(scale, Math.Abs(numeric));
            worst = Math.Max(worst, error);
            Assert.IsLessThanOrEqualTo(tolerance, error, $"directional derivative {k}: finite differences {numeric}, gradient graph {analytic}");
        }
        return worst;
    }

    /// <summary>The gradient graph of <paramref name="forward"/> (objective: Σ weights·y), checked by the ONNX graph checker, and y's shape.</summary>
    public static (ModelProto Model, long[] OutputDims) GradientModel(ModelProto forward, long[] inputDims)
    {
        var tensors = ShapeProbe.Run(forward, "x", inputDims, inputDims[0], Sessions);
        var yDims = tensors["y"].Dims;
        var gradientModel = GradientGraphBuilder.Build(forward, "x", "y", tensors, 0, inputDims[0], new WeightedSumObjective(yDims));
        var problems = OnnxGraphChecker.Check(gradientModel);
        Assert.IsEmpty(problems, string.Join("; ", problems));
        return (gradientModel, yDims);
    }

    /// <summary>The model's output y at a random point (uniform in [−1, 1], from <paramref name="seed"/>).</summary>
    public static float[] Forward(ModelProto model, long[] inputDims, int seed)
    {
        var random = new Random(seed);
        var x = Enumerable.Range(0, (int)inputDims.Aggregate(1L, (a, b) => a * b)).Select(_ => Uniform(random)).ToArray();
        using var session = Sessions.Create(model.ToByteArray());
        using var run = new RunOptions();
        using var xValue = OrtValue.CreateTensorValueFromMemory(x, inputDims);
        using var outputs = session.Run(run, ["x"], [xValue], ["y"]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>The gradient of Σ weights·y at <paramref name="x"/>, from the gradient graph.</summary>
    public static float[] GradientAt(ModelProto gradientModel, float[] x, long[] inputDims, float[] weights, long[] yDims)
    {
        using var session = Sessions.Create(gradientModel.ToByteArray());
        return Run(session, x, inputDims, weights, yDims).Gradient;
    }

    private static (double Value, float[] Gradient) Run(InferenceSession session, float[] x, long[] dims, float[] weights, long[] yDims)
    {
        using var run = new RunOptions();
        using var xValue = OrtValue.CreateTensorValueFromMemory(x, dims);
        using var wValue = OrtValue.CreateTensorValueFromMemory(weights, yDims);
        using var outputs = session.Run(run, ["x", WeightedSumObjective.WeightsName], [xValue, wValue],
            [WeightedSumObjective.ValueName, GradientGraphBuilder.GradientName]);
        return (outputs[0].GetTensorDataAsSpan<float>()[0], outputs[1].GetTensorDataAsSpan<float>().ToArray());
    }

    /// <summary>Values spread on a grid with gaps of 0.02, shuffled: no two equal and none within 0.01 of 0, so max
    /// selections and ReLU kinks cannot flip under a 1e-3 step.</summary>
    public static Func<Random, float> Distinct(int count, float scale = 1f)
    {
        var values = Enumerable.Range(0, count).Select(i => (i - count / 2 + 0.5f) * 0.02f * scale).ToList();
        int next = 0;
        List<float>? shuffled = null;
        return random =>
        {
            shuffled ??= values.OrderBy(_ => random.Next()).ToList();
            return shuffled[next++ % shuffled.Count];
        };
    }

    /// <summary>Fixed pseudo-random values in [offset − scale, offset + scale], for weights and constants.</summary>
    public static float[] RandomValues(int seed, int count, double scale = 1, double offset = 0)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale + offset)).ToArray();
    }

    public static float Uniform(Random random) => (float)(random.NextDouble() * 2 - 1);
}
