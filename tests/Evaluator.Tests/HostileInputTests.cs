using Google.Protobuf;
using RobustEval.Data;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Runtime;
using RobustEval.Onnx;
using RobustEval.Tests;
using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Tests;

/// <summary>External data that tries to leave the model's folder, and numerical edge cases with defined behaviour.</summary>
[TestClass]
[DoNotParallelize]
public sealed class HostileInputTests
{
    private static (int Code, string Output, string Error) Run(params string[] args) => EvaluatorRunner.Run(args);

    /// <summary>The fuzzer's seed model with its first conv weights moved to an external file at <paramref name="location"/>.</summary>
    private static string WithExternalWeights(TempDirectory dir, string location, byte[]? content = null)
    {
        var model = ModelFuzzTests.Seed(1);
        var weights = model.Graph.Initializer.First(t => t.Name == "w");
        var bytes = weights.RawData.ToByteArray();
        if (content is null)
        {
            File.WriteAllBytes(Path.Combine(dir.Path, location), bytes);
        }
        weights.RawData = ByteString.Empty;
        weights.DataLocation = TensorProto.Types.DataLocation.External;
        weights.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        weights.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = bytes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        var path = dir.File("external.onnx");
        OnnxFiles.Save(model, path);
        return path;
    }

    [TestMethod]
    public void ExternalDataInsideTheFolderLoads()
    {
        using var dir = new TempDirectory();
        var path = WithExternalWeights(dir, "weights.bin");
        var classifier = ClassifierLoader.Load(path, null, GradientChecker.Sessions);
        var inline = dir.File("inline.onnx");
        OnnxFiles.Save(ModelFuzzTests.Seed(1), inline);
        var expected = ClassifierLoader.Load(inline, null, GradientChecker.Sessions);
        using var a = new Runtime.PredictionSession(classifier, GradientChecker.Sessions);
        using var b = new Runtime.PredictionSession(expected, GradientChecker.Sessions);
        var x = Enumerable.Range(0, 4 * 64).Select(i => (i % 13) / 13f).ToArray();
        CollectionAssert.AreEqual(b.Predict(x, 4), a.Predict(x, 4));
    }

    [TestMethod]
    public void ExternalDataCannotReadOutsideTheModelsFolder()
    {
        using var outside = new TempDirectory();
        File.WriteAllBytes(outside.File("secret.bin"), new byte[4 * 9 * 4]);
        using var dir = new TempDirectory();
        var relative = Path.GetRelativePath(dir.Path, outside.File("secret.bin"));
        foreach (var location in new[] { relative, "../../../../../../etc/passwd", "/etc/passwd", outside.File("secret.bin") })
        {
            var path = WithExternalWeights(dir, location, content: []);
            var (code, _, error) = Run("inspect", path);
            Assert.AreEqual(2, code, location);
            StringAssert.Contains(error, "outside the model's directory", location);
        }
        File.CreateSymbolicLink(dir.File("link.bin"), outside.File("secret.bin"));
        var linked = WithExternalWeights(dir, "link.bin", content: []);
        var (linkCode, _, linkError) = Run("inspect", linked);
        Assert.AreEqual(2, linkCode);
        StringAssert.Contains(linkError, "symbolic link");
    }

    /// <summary>x → Gemm → (optionally a NaN-making Log) → scores, with <paramref name="classes"/> outputs.</summary>
    private static string Dense(TempDirectory dir, int classes, bool nanForSome = false, bool constant = false)
    {
        var graph = new GraphProto { Name = "dense" };
        graph.Input.Add(TensorValue("x", TensorProto.Types.DataType.Float, "N", 1, 4, 4));
        var b = new GraphBuilder(graph);
        var flat = b.Add("Flatten", ["x"], "flat");
        if (constant)
        {
            flat = b.Add("Mul", [flat, b.Scalar("zero", 0f)], "zeroed");
        }
        var weights = Enumerable.Range(0, classes * 16).Select(i => (float)Math.Sin(i)).ToArray();
        var scores = b.Add("Gemm", [flat, b.Initializer("w", weights, classes, 16), b.Initializer("b", Enumerable.Range(0, classes).Select(i => i * 0.01f).ToArray(), classes)],
            nanForSome ? "dense" : "scores", Attr("transB", 1L));
        if (nanForSome)
        {
            // Log(mean pixel − 0.5): NaN for dark images, finite for bright ones.
            var mean = b.Add("ReduceMean", [flat], "mean", Attr("axes", [1L]), Attr("keepdims", 1L));
            b.Add("Add", [scores, b.Add("Log", [b.Add("Sub", [mean, b.Scalar("half", 0.5f)], "centred")], "log")], "scores");
        }
        graph.Output.Add(TensorValue("scores", TensorProto.Types.DataType.Float, "N", classes));
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 17 });
        var path = dir.File($"dense{classes}{(nanForSome ? "-nan" : "")}{(constant ? "-constant" : "")}.onnx");
        OnnxFiles.Save(model, path);
        return path;
    }

    private static string Data(TempDirectory dir, int count, int classes, Func<int, float>? brightness = null)
    {
        var path = dir.File($"data{count}-{classes}.npz");
        var pixels = new float[count * 16];
        for (int n = 0; n < count; n++)
        {
            float level = brightness?.Invoke(n) ?? 0.5f;
            for (int i = 0; i < 16; i++)
            {
                pixels[n * 16 + i] = Math.Clamp(level + ((i * 7 + n) % 5 - 2) * 0.05f, 0, 1);
            }
        }
        Npz.Write(path, [new("x", NpyArray.Of(pixels, count, 1, 4, 4)), new("y", NpyArray.Of(Enumerable.Range(0, count).Select(i => (long)(i % classes)).ToArray(), count))]);
        return path;
    }

    [TestMethod]
    [DataRow(2)]
    [DataRow(1000)]
    public void TwoAndAThousandClasses(int classes)
    {
        using var dir = new TempDirectory();
        var (code, output, error) = Run("attack", Dense(dir, classes), "--norm", "l2", "--eps", "0.5", "--data", Data(dir, 6, Math.Min(classes, 6)));
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "adversarial accuracy");
    }

    [TestMethod]
    public void OneClassIsRefused()
    {
        using var dir = new TempDirectory();
        var (code, _, error) = Run("attack", Dense(dir, 1), "--norm", "l2", "--data", Data(dir, 3, 1));
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "at least 2");
    }

    [TestMethod]
    public void ABatchOfOne()
    {
        using var dir = new TempDirectory();
        var output = dir.File("out");
        var (code, _, error) = Run("attack", Dense(dir, 3), "--norm", "linf", "--attack", "pgd", "--steps", "3", "--batch", "1", "--data", Data(dir, 3, 3), "--out", output);
        Assert.AreEqual(0, code, error);
        Assert.AreEqual(3, Npz.Read(Path.Combine(output, "adversarial.npz"))["x_adv"].Shape[0]);
    }

    [TestMethod]
    public void NaNScoresAreReportedAndKeptOutOfTheImages()
    {
        using var dir = new TempDirectory();
        var output = dir.File("out");
        var data = Data(dir, 8, 3, n => n % 2 == 0 ? 0.1f : 0.9f);
        var (code, stdout, error) = Run("attack", Dense(dir, 3, nanForSome: true), "--norm", "linf", "--attack", "pgd", "--steps", "3", "--data", data, "--out", output);
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(stdout, "NaN or infinite");
        using var results = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "results.json")));
        Assert.AreEqual(0.5, results.RootElement.GetProperty("summary").GetProperty("non_finite_fraction").GetDouble(), 1e-9);
        var arrays = Npz.Read(Path.Combine(output, "adversarial.npz"));
        Assert.IsTrue(arrays["x_adv"].ToFloat32().All(float.IsFinite), "no NaN reaches the adversarial images");
        var pred = arrays["pred"].ToInt64();
        Assert.IsTrue(pred.Where((_, i) => i % 2 == 0).All(p => p == -1), "an image with NaN scores has no predicted class (−1)");
    }

    [TestMethod]
    public void AllZeroGradientsAreFlagged()
    {
        using var dir = new TempDirectory();
        var (code, stdout, error) = Run("attack", Dense(dir, 3, constant: true), "--norm", "linf", "--data", Data(dir, 6, 3));
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(stdout, "100.0 % of the images have an all-zero gradient");
    }
}
