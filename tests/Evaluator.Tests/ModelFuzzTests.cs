using System.Diagnostics;
using Google.Protobuf;
using RobustEval.Data;
using RobustEval.Onnx;
using RobustEval.Tests;
using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Tests;

/// <summary>
/// Seeded fuzzing of model files: valid ONNX classifiers mutated in ways hostile or broken exporters produce, fed
/// to inspect, gradient-graph and attack. Every case must end in exit code 0 or a one-line error (exit code 2):
/// never an internal error, an unhandled exception or a hang. Set ROBUSTEVAL_FUZZ_CASES for a longer run.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class ModelFuzzTests
{
    public TestContext TestContext { get; set; } = null!;

    private static int Cases => int.TryParse(Environment.GetEnvironmentVariable("ROBUSTEVAL_FUZZ_CASES"), out int n) ? n : 60;

    /// <summary>A small valid classifier exercising several rules: conv, pooling, BN, Gemm, softmax output.</summary>
    internal static ModelProto Seed(int seed)
    {
        var random = new Random(seed);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var graph = new GraphProto { Name = "fuzz" };
        graph.Input.Add(TensorValue("image", TensorProto.Types.DataType.Float, "N", 1, 8, 8));
        var b = new GraphBuilder(graph);
        var conv = b.Add("Conv", ["image", b.Initializer("w", Values(4 * 9), 4, 1, 3, 3), b.Initializer("b", Values(4), 4)], "conv",
            Attr("kernel_shape", [3L, 3]), Attr("pads", [1L, 1, 1, 1]));
        var bn = b.Add("BatchNormalization", [conv, b.Initializer("s", Values(4), 4), b.Initializer("sb", Values(4), 4),
            b.Initializer("m", Values(4), 4), b.Initializer("v", [1f, 1.5f, 2f, 0.5f], 4)], "bn");
        var relu = b.Add("Relu", [bn], "relu");
        var pool = b.Add("MaxPool", [relu], "pool", Attr("kernel_shape", [2L, 2]), Attr("strides", [2L, 2]));
        var reshaped = b.Add("Reshape", [pool, b.Ints("shape", -1, 64)], "flat");
        var dense = b.Add("Gemm", [reshaped, b.Initializer("fw", Values(3 * 64), 3, 64), b.Initializer("fb", Values(3), 3)], "dense", Attr("transB", 1L));
        b.Add("Softmax", [dense], "probabilities", Attr("axis", 1L));
        graph.Output.Add(TensorValue("probabilities", TensorProto.Types.DataType.Float, "N", 3));
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return model;
    }

    private delegate byte[] Mutation(ModelProto model, Random random);

    private static readonly (string Name, Mutation Apply)[] Mutations =
    [
        ("bit flips", (m, r) => Flip(m.ToByteArray(), r, r.Next(1, 9))),
        ("truncation", (m, r) => { var bytes = m.ToByteArray(); return bytes[..r.Next(bytes.Length)]; }),
        ("huge input dims", (m, r) => Edit(m, x => x.Graph.Input[0].Type.TensorType.Shape.Dim[r.Next(1, 4)].DimValue = r.Next(2) == 0 ? 1L << 40 : 1_000_000)),
        ("zero or negative input dims", (m, r) => Edit(m, x => x.Graph.Input[0].Type.TensorType.Shape.Dim[r.Next(1, 4)].DimValue = r.Next(-3, 1))),
        ("fixed huge batch", (m, r) => Edit(m, x => x.Graph.Input[0].Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimValue = 1L << 33 })),
        ("input element type", (m, r) => Edit(m, x => x.Graph.Input[0].Type.TensorType.ElemType = new[] { 7, 8, 9, 11, 10, 0, 999 }[r.Next(7)])),
        ("initializer dims", (m, r) => Edit(m, x => { var t = x.Graph.Initializer[r.Next(x.Graph.Initializer.Count)]; t.Dims[0] = r.Next(2) == 0 ? 1L << 50 : t.Dims[0] + 1; })),
        ("initializer type", (m, r) => Edit(m, x => x.Graph.Initializer[r.Next(x.Graph.Initializer.Count)].DataType = new[] { 7, 8, 11, 0, 999 }[r.Next(5)])),
        ("cycle", (m, r) => Edit(m, x => x.Graph.Node[0].Input[0] = x.Graph.Node[^1].Output[0])),
        ("dangling name", (m, r) => Edit(m, x => { var n = x.Graph.Node[r.Next(x.Graph.Node.Count)]; n.Input[r.Next(n.Input.Count)] = "nowhere"; })),
        ("missing initializer", (m, r) => Edit(m, x => x.Graph.Initializer.RemoveAt(r.Next(x.Graph.Initializer.Count)))),
        ("duplicate output", (m, r) => Edit(m, x => x.Graph.Node[1].Output[0] = x.Graph.Node[0].Output[0])),
        ("deep nesting", (m, r) => Edit(m, x => x.Graph.Node.Add(Nested(r.Next(2) == 0 ? 50 : 5)))),
        ("absurd attributes", (m, r) => Edit(m, x => AbsurdAttribute(x, r))),
        ("unknown op", (m, r) => Edit(m, x => x.Graph.Node[r.Next(x.Graph.Node.Count)].OpType = new[] { "FancyOp", "", "Loop", "If" }[r.Next(4)])),
        ("foreign domain", (m, r) => Edit(m, x => x.Graph.Node[r.Next(x.Graph.Node.Count)].Domain = "com.example")),
        ("opset", (m, r) => Edit(m, x => x.OpsetImport[0].Version = new long[] { 0, 1, 6, 99999, -5 }[r.Next(5)])),
        ("no outputs", (m, r) => Edit(m, x => x.Graph.Output.Clear())),
        ("external data", (m, r) => Edit(m, x =>
        {
            var t = x.Graph.Initializer[r.Next(x.Graph.Initializer.Count)];
            t.RawData = ByteString.Empty;
            t.DataLocation = TensorProto.Types.DataLocation.External;
            t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = new[] { "missing.bin", "../../etc/passwd", "/etc/passwd", "" }[r.Next(4)] });
        })),
        ("memory bomb", (m, r) => Edit(m, x => AddMemoryBomb(x, runtime: r.Next(2) == 0))),
        ("reshape to garbage", (m, r) => Edit(m, x =>
        {
            var shape = x.Graph.Initializer.First(i => i.Name == "shape");
            shape.RawData = ByteString.CopyFrom(BitConverter.GetBytes(r.Next(2) == 0 ? long.MaxValue : -7L).Concat(BitConverter.GetBytes(0L)).ToArray());
        })),
    ];

    private static byte[] Edit(ModelProto model, Action<ModelProto> edit)
    {
        var copy = model.Clone();
        edit(copy);
        return copy.ToByteArray();
    }

    private static byte[] Flip(byte[] bytes, Random random, int flips)
    {
        for (int i = 0; i < flips; i++)
        {
            bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
        }
        return bytes;
    }

    private static NodeProto Nested(int depth)
    {
        var graph = new GraphProto { Name = "inner" };
        graph.Output.Add(TensorValue("inner_out", TensorProto.Types.DataType.Float));
        graph.Node.Add(new NodeProto { OpType = "Constant", Output = { "inner_out" }, Attribute = { Attr("value", OnnxTensors.Float("c", [1f])) } });
        var node = new NodeProto { OpType = "If", Name = "if", Input = { "image" }, Output = { "unused" } };
        node.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = depth > 1 ? Wrap(Nested(depth - 1)) : graph });
        node.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = graph });
        return node;

        static GraphProto Wrap(NodeProto inner)
        {
            var g = new GraphProto { Name = "level" };
            g.Node.Add(inner);
            g.Output.Add(TensorValue("unused", TensorProto.Types.DataType.Float));
            return g;
        }
    }

    private static void AbsurdAttribute(ModelProto model, Random random)
    {
        var node = model.Graph.Node[random.Next(model.Graph.Node.Count)];
        string[] names = ["kernel_shape", "strides", "pads", "dilations", "group", "axis", "perm", "transB", "epsilon", "auto_pad"];
        var name = names[random.Next(names.Length)];
        if (node.Attribute.FirstOrDefault(a => a.Name == name) is { } existing)
        {
            node.Attribute.Remove(existing);
        }
        long absurd = new long[] { -1, 0, 1 << 30, long.MaxValue, long.MinValue }[random.Next(5)];
        node.Attribute.Add(name switch
        {
            "group" or "axis" or "transB" => Attr(name, absurd),
            "epsilon" => Attr(name, float.NaN),
            "auto_pad" => Attr(name, "SIDEWAYS"),
            _ => Attr(name, Enumerable.Repeat(absurd, random.Next(0, 6)).ToArray()),
        });
    }

    [TestMethod]
    public void MutatedModelsEndInAResultOrAOneLineError()
    {
        using var dir = new TempDirectory();
        var data = dir.File("data.npz");
        Npz.Write(data, [new("x", NpyArray.Of(Enumerable.Range(0, 3 * 64).Select(i => (i % 17) / 17f).ToArray(), 3, 1, 8, 8)), new("y", NpyArray.Of([0L, 1, 2], 3))]);
        var outcomes = new Dictionary<string, int>();
        var failures = new List<string>();
        var clock = Stopwatch.StartNew();
        for (int k = 0; k < Cases; k++)
        {
            var random = new Random(1000 + k);
            var (name, mutate) = Mutations[k % Mutations.Length];
            var path = dir.File($"case{k}.onnx");
            File.WriteAllBytes(path, mutate(Seed(k), random));
            foreach (var command in new[] { new[] { "inspect", path }, ["gradient-graph", path, "--out", dir.File($"case{k}.grad.onnx")],
                ["attack", path, "--norm", "linf", "--data", data, "--device", "cpu", "--threads", "1"] })
            {
                var (code, error, seconds) = Run(command);
                var key = $"{name}: exit {code}";
                outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
                if (code is not (0 or 2) || (code == 2 && EvaluatorRunner.ErrorLines(error).Length != 1) || seconds > 30)
                {
                    failures.Add($"case {k} ({name}), {command[0]}: exit {code} after {seconds:F1} s: {error.Trim()}");
                }
            }
        }
        TestContext.WriteLine($"{Cases} mutated models x 3 commands in {clock.Elapsed.TotalSeconds:F0} s:");
        foreach (var (outcome, count) in outcomes.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            TestContext.WriteLine($"  {outcome}: {count}");
        }
        Assert.IsEmpty(failures, string.Join("\n", failures));
    }

    [TestMethod]
    [DataRow(false, DisplayName = "constant shape: sized before any session exists")]
    [DataRow(true, DisplayName = "shape computed from the batch: stopped by the capped arena")]
    public void MemoryBombsAreRefusedWithTheCapNamed(bool runtime)
    {
        using var dir = new TempDirectory();
        var path = dir.File("bomb.onnx");
        var model = Seed(1);
        AddMemoryBomb(model, runtime);
        File.WriteAllBytes(path, model.ToByteArray());
        var (code, error, _) = Run(["gradient-graph", path, "--out", dir.File("bomb.grad.onnx")]);
        Assert.AreEqual(2, code, error);
        var line = EvaluatorRunner.ErrorLines(error).Single();
        StringAssert.Contains(line, "ROBUSTEVAL_ORT_MEMORY_MB", line);
    }

    /// <summary>
    /// Adds to the scores the sum of a zero tensor of 8 GB: of a constant shape (60,000 x 35,000), or — which only
    /// the capped arena can stop — of 2·10⁹ times the batch size values.
    /// </summary>
    private static void AddMemoryBomb(ModelProto model, bool runtime)
    {
        var softmax = model.Graph.Node.Last();
        model.Graph.Node.Remove(softmax);
        var b = new GraphBuilder(model.Graph, "bomb/");
        string shape = runtime
            ? b.Add("Mul", [b.Add("Slice", [b.Add("Shape", ["image"], "shape"), b.Ints("start", 0), b.Ints("end", 1)], "batch"), b.Ints("scale", 2_000_000_000)], "size")
            : b.Ints("shape", 60000, 35000);
        var big = b.Add("ConstantOfShape", [shape], "big", Attr("value", OnnxTensors.Float("v", [0f], 1)));
        softmax.Input[0] = b.Add("Add", [softmax.Input[0], b.Add("ReduceSum", [big], "total", Attr("keepdims", 0L))], "bombed");
        model.Graph.Node.Add(softmax);
    }

    private static (int Code, string Error, double Seconds) Run(string[] args)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            var (code, _, error) = EvaluatorRunner.Run(args);
            return (code, error, clock.Elapsed.TotalSeconds);
        }
        catch (Exception e)
        {
            return (-1, $"unhandled {e.GetType().Name}: {e.Message}", clock.Elapsed.TotalSeconds);
        }
    }
}
