using System.Text.Json;
using RobustEval.Data;
using RobustEval.Onnx;
using RobustEval.Tests;
using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Tests;

/// <summary>The evaluator's command line: its outputs, and one-line errors with exit code 2 for bad input.</summary>
[TestClass]
[DoNotParallelize]
public sealed class EvaluatorCliTests
{
    private static (int Code, string Output, string Error) Run(params string[] args) => EvaluatorRunner.Run(args);

    private static void AssertRefused(string expected, params string[] args)
    {
        var (code, _, error) = Run(args);
        Assert.AreEqual(2, code, error);
        var lines = EvaluatorRunner.ErrorLines(error);
        Assert.HasCount(1, lines, $"one line: {error}");
        StringAssert.Contains(lines[0], expected);
        Assert.DoesNotContain("   at ", error, "no stack trace without --verbose");
    }

    [TestMethod]
    public void AttackWritesResultsThatMatchWhatItPrints()
    {
        using var dir = new TempDirectory();
        var (code, output, error) = Run("attack", TrainedModel.Path, "--norm", "linf", "--eps", "0.1", "--out", dir.Path, "--device", "cpu");
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "clean accuracy");

        using var json = JsonDocument.Parse(File.ReadAllText(dir.File("results.json")));
        var summary = json.RootElement.GetProperty("summary");
        double clean = summary.GetProperty("clean_accuracy").GetDouble();
        double adversarial = summary.GetProperty("adversarial_accuracy").GetDouble();
        StringAssert.Contains(output, $"clean accuracy        {clean:P2}");
        StringAssert.Contains(output, $"adversarial accuracy  {adversarial:P2}");
        Assert.AreEqual(TrainedModel.Test.Count, summary.GetProperty("examples").GetInt32(), "the default data is the sample next to the model");

        var arrays = Npz.Read(dir.File("adversarial.npz"));
        CollectionAssert.AreEquivalent(new[] { "x", "x_adv", "y", "pred", "pred_adv", "perturbation_norm", "fosc", "x_range", "model_input_range" }, arrays.Keys.ToArray());
        CollectionAssert.AreEqual(new[] { 0f, 1f }, arrays["x_range"].ToFloat32(), "x and x_adv are in [0, 1]");
        CollectionAssert.AreEqual(new[] { 0f, 1f }, arrays["model_input_range"].ToFloat32(), "and this model takes [0, 1]");
        var y = arrays["y"].ToInt64();
        var predAdv = arrays["pred_adv"].ToInt64();
        var pred = arrays["pred"].ToInt64();
        Assert.AreEqual(adversarial, y.Where((label, i) => pred[i] == label && predAdv[i] == label).Count() / (double)y.Length, 1e-9);
        var x = arrays["x"].ToFloat32();
        var xAdv = arrays["x_adv"].ToFloat32();
        Assert.IsTrue(x.Zip(xAdv, (a, b) => Math.Abs(a - b)).Max() <= 0.1f + 1e-6f);
    }

    [TestMethod]
    public void NhwcDataComesBackInItsOwnLayout()
    {
        using var dir = new TempDirectory();
        var (keras, data) = KerasStyleModel(dir);
        var (code, _, error) = Run("attack", keras, "--norm", "l2", "--eps", "0.5", "--data", data, "--input-range", "0,255", "--out", dir.Path);
        Assert.AreEqual(0, code, error);
        var arrays = Npz.Read(dir.File("adversarial.npz"));
        CollectionAssert.AreEqual(new long[] { 4, 6, 5, 3 }, arrays["x_adv"].Shape);
        CollectionAssert.AreEqual(Npz.Read(data)["x"].ToFloat32(), arrays["x"].ToFloat32());
    }

    /// <summary>An NHWC model taking 0–255 values and data for it as an NHWC .npz.</summary>
    private static (string Model, string Data) KerasStyleModel(TempDirectory dir)
    {
        var graph = new GraphProto { Name = "nhwc" };
        graph.Input.Add(TensorValue("input_1", TensorProto.Types.DataType.Float, "N", 6, 5, 3));
        var b = new GraphBuilder(graph);
        var nchw = b.Add("Transpose", ["input_1"], "nchw", Attr("perm", [0L, 3, 1, 2]));
        var scaled = b.Add("Div", [nchw, b.Scalar("k", 255f)], "scaled");
        var conv = b.Add("Conv", [scaled, b.Initializer("w", Enumerable.Range(0, 3 * 3 * 9).Select(i => (i % 7 - 3) * 0.1f).ToArray(), 3, 3, 3, 3)], "conv");
        b.Add("Flatten", [b.Add("GlobalAveragePool", [conv], "gap")], "scores");
        graph.Output.Add(TensorValue("scores", TensorProto.Types.DataType.Float, "N", 3));
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        var modelPath = dir.File("keras.onnx");
        OnnxFiles.Save(model, modelPath);
        var dataPath = dir.File("nhwc.npz");
        var pixels = Enumerable.Range(0, 4 * 90).Select(i => (float)(i * 7 % 11) / 11).ToArray();
        Npz.Write(dataPath, [new("x", NpyArray.Of(pixels, 4, 6, 5, 3)), new("y", NpyArray.Of([0L, 1, 2, 0], 4))]);
        return (modelPath, dataPath);
    }

    [TestMethod]
    public void SweepPrintsOneRowPerRadiusAndTheCleanAccuracyAtZero()
    {
        var (code, output, error) = Run("sweep", TrainedModel.Path, "--norm", "linf", "--eps", "0:0.2:0.1", "--limit", "50");
        Assert.AreEqual(0, code, error);
        var rows = output.Split('\n').Where(l => l.Contains('%')).ToArray();
        Assert.HasCount(3, rows, output);
        StringAssert.StartsWith(rows[0].Trim(), "0 ");
    }

    [TestMethod]
    public void GradientGraphIsSavedAndInspectSeesIt()
    {
        using var dir = new TempDirectory();
        var path = dir.File("grad.onnx");
        var (code, output, error) = Run("gradient-graph", TrainedModel.Path, "--out", path);
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "gradient nodes");
        var saved = OnnxFiles.Load(path);
        CollectionAssert.AreEqual(new[] { "robusteval/logits", "robusteval/loss", "robusteval/grad" }, saved.Graph.Output.Select(o => o.Name).ToArray());
        Assert.IsEmpty(OnnxGraphChecker.Check(saved));
        Assert.IsFalse(saved.Graph.Node.Any(n => n.Domain.Length > 0 || n.OpType.EndsWith("Grad", StringComparison.Ordinal)), "standard ops only");

        (code, output, error) = Run("inspect", TrainedModel.Path);
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "architecture");
        StringAssert.Contains(output, "every op between the input and the first output has a rule");
    }

    [TestMethod]
    public void MissingFile() => AssertRefused("file not found", "attack", "/nonexistent/model.onnx", "--norm", "linf");

    [TestMethod]
    public void CorruptFile()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("bad.onnx"), [1, 2, 3, 4, 5, 0xff, 0xfe]);
        AssertRefused("not a valid ONNX file", "attack", dir.File("bad.onnx"), "--norm", "linf");
    }

    [TestMethod]
    public void NotAClassifier()
    {
        using var dir = new TempDirectory();
        var graph = new GraphProto { Name = "ints" };
        graph.Input.Add(TensorValue("tokens", TensorProto.Types.DataType.Int64, "N", 16));
        graph.Node.Add(new NodeProto { OpType = "Identity", Input = { "tokens" }, Output = { "out" } });
        graph.Output.Add(TensorValue("out", TensorProto.Types.DataType.Int64, "N", 16));
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 17 });
        OnnxFiles.Save(model, dir.File("ints.onnx"));
        AssertRefused("not float", "attack", dir.File("ints.onnx"), "--norm", "linf");
    }

    [TestMethod]
    public void UnsupportedOpIsNamedBeforeAnythingRuns()
    {
        using var dir = new TempDirectory();
        var graph = new GraphProto { Name = "lrn" };
        graph.Input.Add(TensorValue("x", TensorProto.Types.DataType.Float, "N", 1, 4, 4));
        graph.Node.Add(new NodeProto { OpType = "LRN", Name = "norm1", Input = { "x" }, Output = { "n" }, Attribute = { Attr("size", 3L) } });
        graph.Node.Add(new NodeProto { OpType = "Flatten", Name = "flat", Input = { "n" }, Output = { "scores" } });
        graph.Output.Add(TensorValue("scores", TensorProto.Types.DataType.Float, "N", 16));
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 17 });
        OnnxFiles.Save(model, dir.File("lrn.onnx"));
        Npz.Write(dir.File("d.npz"), [new("x", NpyArray.Of(new float[32], 2, 1, 4, 4)), new("y", NpyArray.Of([0L, 1], 2))]);
        AssertRefused("no gradient rule for LRN (norm1)", "attack", dir.File("lrn.onnx"), "--norm", "linf", "--data", dir.File("d.npz"));
    }

    [TestMethod]
    public void DataThatDoesNotFitTheModel()
    {
        using var dir = new TempDirectory();
        Npz.Write(dir.File("small.npz"), [new("x", NpyArray.Of(new float[2 * 16], 2, 1, 4, 4)), new("y", NpyArray.Of([0L, 1], 2))]);
        AssertRefused("takes NCHW 1×28×28 images (layout from model card) but the data (" + dir.File("small.npz") + ") are 1×4×4 (C×H×W)", "attack", TrainedModel.Path, "--norm", "linf", "--data", dir.File("small.npz"));
        Npz.Write(dir.File("many.npz"), [new("x", NpyArray.Of(new float[2 * 784], 2, 1, 28, 28)), new("y", NpyArray.Of([0L, 11], 2))]);
        AssertRefused("label 1 is 11, outside 0..9", "attack", TrainedModel.Path, "--norm", "linf", "--data", dir.File("many.npz"));
    }

    [TestMethod]
    public void BadAttackSettings()
    {
        AssertRefused("--eps must be > 0", "attack", TrainedModel.Path, "--norm", "linf", "--eps", "0");
        AssertRefused("--eps must be > 0", "attack", TrainedModel.Path, "--norm", "l2", "--eps", "-1");
        AssertRefused("--steps must be at least 1", "attack", TrainedModel.Path, "--norm", "l2", "--attack", "pgd", "--steps", "0");
        AssertRefused("--iterations must be at least 1", "attack", TrainedModel.Path, "--norm", "linf", "--attack", "apgd", "--iterations", "0");
        AssertRefused("l3", "attack", TrainedModel.Path, "--norm", "l3");
        AssertRefused("--norm", "attack", TrainedModel.Path);
    }

    [TestMethod]
    public void VerboseShowsTheStackTrace()
    {
        var (code, _, error) = Run("attack", "/nonexistent/model.onnx", "--norm", "linf", "--verbose");
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "   at ");
    }

    [TestMethod]
    public void UnwritableOutputFailsBeforeTheAttack()
    {
        var (code, output, error) = Run("attack", TrainedModel.Path, "--norm", "linf", "--out", "/proc/robusteval-out");
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "cannot write");
        Assert.DoesNotContain("clean accuracy", output);
    }
}
