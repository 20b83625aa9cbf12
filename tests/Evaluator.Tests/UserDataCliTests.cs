using System.Diagnostics;
using System.Text.Json;
using Google.Protobuf;
using RobustEval.Data;
using RobustEval.Onnx;
using RobustEval.Tests;

namespace RobustEval.Evaluator.Tests;

/// <summary>
/// A new user's own model and data: wrong preprocessing and wrong data sets are said out loud (with the fix when one
/// is found), image folders are read, outputs are checked before work, and interrupted runs leave nothing behind.
/// The model is the shipped MNIST baseline, once as it is and once behind a "Keras-style" NHWC input in [0, 255].
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class UserDataCliTests
{
    private static string Baseline => Repository.Path("Models", "mnist-baseline.onnx");

    private static string FashionBaseline => Repository.Path("Models", "fashion-mnist-baseline.onnx");

    private static string Sample => Repository.Path("Models", "mnist-sample.npz");

    private static (int Code, string Output, string Error) Run(params string[] args) => EvaluatorRunner.Run(args);

    /// <summary>The baseline behind an input of raw 0–255 values in NHWC order, without its model card (as a converted Keras model comes).</summary>
    private static string ChannelsLast255(TempDirectory dir)
    {
        var model = OnnxFiles.Load(Baseline);
        var graph = model.Graph;
        var input = graph.Input[0];
        var original = input.Name;
        var scale = new TensorProto { Name = "keras/255", DataType = (int)TensorProto.Types.DataType.Float };
        scale.FloatData.Add(255f);
        graph.Initializer.Add(scale);
        var divide = new NodeProto { OpType = "Div", Name = "keras/div" };
        divide.Input.Add("image");
        divide.Input.Add("keras/255");
        divide.Output.Add("keras/scaled");
        var transpose = new NodeProto { OpType = "Transpose", Name = "keras/transpose" };
        transpose.Input.Add("keras/scaled");
        transpose.Output.Add(original);
        transpose.Attribute.Add(new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 0L, 3, 1, 2 } });
        graph.Node.Insert(0, transpose);
        graph.Node.Insert(0, divide);
        graph.Input.Remove(input);
        graph.Input.Insert(0, GraphBuilder.TensorValue("image", TensorProto.Types.DataType.Float, "N", 28, 28, 1));
        model.MetadataProps.Clear();
        var path = dir.File("keras-255.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    private static double CleanAccuracy(string output)
    {
        var line = output.Split('\n').First(l => l.StartsWith("clean accuracy", StringComparison.Ordinal));
        return double.Parse(line["clean accuracy".Length..].Trim().TrimEnd('%').Trim(), System.Globalization.CultureInfo.InvariantCulture) / 100;
    }

    [TestMethod]
    public void AModelFedTheWrongInputRangeIsFlaggedWithTheFix()
    {
        using var dir = new TempDirectory();
        var model = ChannelsLast255(dir);
        var (code, output, error) = Run("attack", model, "--norm", "linf", "--data", Sample, "--limit", "200", "--out", dir.File("wrong"));
        Assert.AreEqual(0, code, error);
        Assert.IsLessThan(0.2, CleanAccuracy(output), output);
        StringAssert.Contains(output, "warning: clean accuracy");
        StringAssert.Contains(output, "with --input-range 0,255 the clean accuracy is");
        using (var json = JsonDocument.Parse(File.ReadAllText(dir.File("wrong/results.json"))))
        {
            var warning = json.RootElement.GetProperty("warnings")[0];
            Assert.AreEqual("clean-accuracy-chance", warning.GetProperty("id").GetString());
            StringAssert.Contains(warning.GetProperty("advice").GetString(), "--input-range 0,255");
        }

        (code, output, error) = Run("attack", model, "--norm", "linf", "--data", Sample, "--limit", "200", "--input-range", "0,255", "--out", dir.File("right"));
        Assert.AreEqual(0, code, error);
        Assert.IsGreaterThan(0.9, CleanAccuracy(output), output);
        Assert.DoesNotContain("warning:", output);
        var arrays = Npz.Read(dir.File("right/adversarial.npz"));
        CollectionAssert.AreEqual(new[] { 0f, 1f }, arrays["x_range"].ToFloat32());
        CollectionAssert.AreEqual(new[] { 0f, 255f }, arrays["model_input_range"].ToFloat32());
        Assert.IsTrue(arrays["x_adv"].ToFloat32().All(v => v is >= 0 and <= 1), "x_adv is in [0, 1] whatever the model's range");
        using (var json = JsonDocument.Parse(File.ReadAllText(dir.File("right/results.json"))))
        {
            StringAssert.Contains(json.RootElement.GetProperty("data").GetProperty("pixel_range").GetString(), "the model takes [0, 255]");
            Assert.AreEqual(0, json.RootElement.GetProperty("warnings").GetArrayLength());
        }
    }

    [TestMethod]
    public void ALayoutForcedTheWrongWayRoundIsRefusedInTheUsersTerms()
    {
        using var dir = new TempDirectory();
        var model = ChannelsLast255(dir);
        var (code, _, error) = Run("attack", model, "--norm", "linf", "--data", Sample, "--limit", "20", "--input-range", "0,255", "--layout", "nchw");
        Assert.AreEqual(2, code, error);
        var line = EvaluatorRunner.ErrorLines(error).Single();
        StringAssert.Contains(line, "takes NCHW 28×28×1 images (layout from command-line options)");
        StringAssert.Contains(line, "are 1×28×28 (C×H×W)");
        StringAssert.Contains(line, "pass --layout nhwc");
    }

    [TestMethod]
    public void AModelOfAnotherDataSetIsRefusedOrFlagged()
    {
        using var dir = new TempDirectory();
        // report: the data are the first model's, and the second model's card names other classes.
        var (code, _, error) = Run("report", "--models", Baseline, FashionBaseline, "--limit", "20", "--out", dir.File("report"));
        Assert.AreEqual(2, code, error);
        var line = EvaluatorRunner.ErrorLines(error).Single();
        StringAssert.Contains(line, "was trained on fashion-mnist with classes (T-shirt/top");
        StringAssert.Contains(line, "wrong data set?");
        Assert.IsEmpty(Directory.GetFileSystemEntries(dir.Path), "nothing written, no hidden building folder");

        // attack and sweep on an .npz that does not name its classes: the clean accuracy gives it away.
        (code, var output, error) = Run("attack", FashionBaseline, "--norm", "linf", "--data", Sample, "--limit", "200");
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "warning: clean accuracy");
        StringAssert.Contains(output, "the model card says it was trained on fashion-mnist");
        (code, output, error) = Run("sweep", FashionBaseline, "--norm", "linf", "--eps", "0,0.05", "--data", Sample, "--limit", "200");
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "warning: clean accuracy");
    }

    [TestMethod]
    public void OptionsWithoutEffectAreErrors()
    {
        foreach (var (expected, args) in new (string, string[])[]
        {
            ("--steps has no effect with --attack fgm", ["--steps", "5"]),
            ("--pixels applies to l1 steps only", ["--pixels", "3"]),
            ("--resize and --center-crop apply to a folder of images", ["--resize", "32"]),
        })
        {
            var (code, _, error) = Run(["attack", Baseline, "--norm", "linf", "--limit", "10", .. args]);
            Assert.AreEqual(2, code, error);
            StringAssert.Contains(error, expected);
        }
    }

    [TestMethod]
    public void AFolderOfRenderedDigitsGoesThroughImportAttackAndReport()
    {
        using var dir = new TempDirectory();
        var folder = Path.Combine(dir.Path, "digits");
        RenderedDigits.Write(folder, perDigit: 6);

        var npz = dir.File("digits.npz");
        var (code, output, error) = Run("data", "import", folder, "--out", npz);
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "60 images of 1x28x28, 10 classes (0, 1, 2, 3, 4, …)");
        var arrays = Npz.Read(npz);
        Assert.AreEqual(NpyType.UInt8, arrays["x"].Type);
        CollectionAssert.AreEqual(new long[] { 60, 1, 28, 28 }, arrays["x"].Shape);
        CollectionAssert.AreEqual(Enumerable.Range(0, 60).Select(i => (long)(i / 6)).ToArray(), arrays["y"].ToInt64());

        (code, output, error) = Run("attack", Baseline, "--norm", "linf", "--eps", "0.1", "--data", npz,
            "--out", dir.File("attack"), "--save-images", dir.File("png"));
        Assert.AreEqual(0, code, error);
        // Typeset digits are not MNIST's handwriting, but a digit classifier still reads most of them.
        Assert.IsGreaterThan(0.5, CleanAccuracy(output), output);
        var pngs = Directory.GetFiles(dir.File("png"), "*.png").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.HasCount(120, pngs);
        StringAssert.StartsWith(pngs[0], "00000-adv-");
        StringAssert.StartsWith(pngs[1], "00000-clean-0");
        using (var png = ImageFiles.Decode(dir.File($"png/{pngs[1]}"), out bool gray))
        {
            Assert.AreEqual((28, 28), (png.Width, png.Height));
        }

        // The folder itself works as --data, and the same images give the same clean accuracy.
        (code, var direct, error) = Run("attack", Baseline, "--norm", "linf", "--eps", "0.1", "--data", folder);
        Assert.AreEqual(0, code, error);
        Assert.AreEqual(CleanAccuracy(output), CleanAccuracy(direct), 1e-9);

        (code, _, error) = Run("report", "--models", Baseline, "--data", npz, "--limit", "30", "--eps-sweep", "linf:0:0.1:0.05",
            "--fosc-attack", "linf:0.1:2", "--out", dir.File("report"));
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(File.ReadAllText(dir.File("report/index.html")), "digits.npz");
    }

    [TestMethod]
    public void FolderImagesOfAnotherSizeOrOtherClassesAreHandledOutLoud()
    {
        using var dir = new TempDirectory();
        var large = Path.Combine(dir.Path, "large");
        RenderedDigits.Write(large, perDigit: 2, size: 40);
        var (code, output, error) = Run("attack", Baseline, "--norm", "linf", "--data", large);
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(error, "20 of 20 images");
        StringAssert.Contains(error, "resized (shorter side) and centre-cropped to the model's 28×28");

        (code, _, error) = Run("attack", Baseline, "--norm", "linf", "--data", large, "--resize", "28x28");
        Assert.AreEqual(0, code, error);
        Assert.DoesNotContain("resized", error);

        // Folders named after classes the model does not have: the wrong data set, said so.
        var animals = Path.Combine(dir.Path, "animals");
        foreach (var name in new[] { "cat", "dog" })
        {
            Directory.CreateDirectory(Path.Combine(animals, name));
            File.WriteAllBytes(Path.Combine(animals, name, "a.png"), RenderedDigits.Render("7", 28, 0, jpeg: false));
        }
        (code, _, error) = Run("attack", Baseline, "--norm", "linf", "--data", animals);
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, "the data (image folder");
        StringAssert.Contains(error, "has classes (cat, dog): wrong data set?");

        // A truncated file stops the import with its name, and nothing is written.
        var broken = Path.Combine(dir.Path, "broken");
        RenderedDigits.Write(broken, perDigit: 1);
        var victim = Path.Combine(broken, "3", "3-000.png");
        var bytes = File.ReadAllBytes(victim);
        File.WriteAllBytes(victim, bytes[..(bytes.Length / 2)]);
        (code, _, error) = Run("data", "import", broken, "--out", dir.File("broken.npz"));
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, "3-000.png");
        Assert.IsFalse(File.Exists(dir.File("broken.npz")));
    }

    [TestMethod]
    public void OutputsAreCheckedBeforeAnyWork()
    {
        using var dir = new TempDirectory();
        var file = dir.File("a-file");
        File.WriteAllText(file, "x");
        var clock = Stopwatch.StartNew();
        var (code, _, error) = Run("report", "--models", Baseline, "--out", file);
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, "--out");
        StringAssert.Contains(error, "is a file, not a folder");
        Assert.IsLessThan(10.0, clock.Elapsed.TotalSeconds, "refused before computing the report");

        (code, _, error) = Run("data", "export", Sample, "--out", Path.Combine(file, "x.npz"));
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, "is a file, so no folder can be made under it");
        (code, _, error) = Run("data", "export", Sample, "--out", "/proc/robusteval-test.npz");
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, "cannot write to /proc");
        (code, _, error) = Run("data", "export", Sample, "--out", dir.Path);
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, "is a folder; give a file name");
        Assert.DoesNotContain("internal error", error);
        CollectionAssert.AreEqual(new[] { "a-file" }, Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).ToArray());
    }

    [TestMethod]
    public void ATypoGetsASuggestion()
    {
        var (code, _, error) = Run("attak");
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "unknown command 'attak'; did you mean 'attack'?");
        (code, _, error) = Run("attack", Baseline, "--norm", "linf", "--epss", "0.1");
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "unknown option '--epss'; did you mean '--eps'?");
    }

    [TestMethod]
    public void ATransferSetIsFoundFromAnywhereAndItsCleanColumnUsesItsImages()
    {
        using var dir = new TempDirectory();
        var sample = dir.File("sample.npz");
        File.Copy(Sample, sample);
        Directory.CreateDirectory(dir.File("sets"));
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, sample);
        var (code, _, error) = Run("transfer-set", "build", "--source", Baseline, "--data", relative, "--eps", "linf=0.1", "--limit", "200",
            "--out", dir.File("sets/set.npz"));
        Assert.AreEqual(0, code, error);
        using (var manifest = JsonDocument.Parse(File.ReadAllText(dir.File("sets/set.json"))))
        {
            Assert.AreEqual("../sample.npz", manifest.RootElement.GetProperty("data").GetString(), "recorded relative to the manifest");
        }
        // The whole tree moves elsewhere: the set still finds its data.
        var moved = Directory.CreateDirectory(dir.File("moved/sets")).FullName;
        File.Move(sample, dir.File("moved/sample.npz"));
        File.Move(dir.File("sets/set.npz"), Path.Combine(moved, "set.npz"));
        File.Move(dir.File("sets/set.json"), Path.Combine(moved, "set.json"));
        (code, var output, error) = Run("transfer", "eval", Baseline, "--set", Path.Combine(moved, "set.npz"), "--out", dir.File("eval"));
        Assert.AreEqual(0, code, error);
        using var json = JsonDocument.Parse(File.ReadAllText(dir.File("eval/results.json")));
        var result = json.RootElement.GetProperty("results")[0];
        Assert.AreEqual(200, result.GetProperty("clean_examples").GetInt32(), "the images the set was built from, not the whole file");
        Assert.IsGreaterThan(0.9, result.GetProperty("clean_accuracy").GetDouble(), output);
    }

    [TestMethod]
    public void InterruptedRunsLeaveNothingBehind()
    {
        using var dir = new TempDirectory();
        var evaluator = Path.Combine(AppContext.BaseDirectory, "evaluator.dll");
        // Ctrl-C is SIGINT; a test run started in the background by a non-interactive shell has SIGINT ignored, and
        // its children inherit that, so there SIGTERM (the same clean-up) stands in for it.
        var signal = SignalIgnored(2) ? "TERM" : "INT";
        foreach (var (args, watched) in new (string[], string)[]
        {
            (["report", "--models", Baseline, "--eps-sweep", "pgd40:linf:0:0.3:0.01", "--out", dir.File("report")], "report"),
            (["attack", Baseline, "--norm", "linf", "--attack", "pgd", "--steps", "200", "--out", dir.File("attack")], "attack"),
        })
        {
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in args.Prepend(evaluator))
            {
                start.ArgumentList.Add(argument);
            }
            using var process = Process.Start(start)!;
            // Interrupted once the work is under way (start-up and loading take a second or two).
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            Thread.Sleep(5000);
            Assert.IsFalse(process.HasExited, $"{watched} finished before it could be interrupted: {errors.Result}");
            using (var kill = Process.Start("kill", [$"-{signal}", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                kill.WaitForExit();
            }
            Assert.IsTrue(process.WaitForExit(TimeSpan.FromSeconds(30)), $"{watched} did not stop on SIG{signal}");
            var left = Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).ToArray();
            Assert.IsEmpty(left, $"{watched} left {string.Join(", ", left)}");
        }
    }

    /// <summary>Whether this process ignores the signal (the SigIgn mask of /proc/self/status).</summary>
    private static bool SignalIgnored(int signal)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        var mask = ulong.Parse(line["SigIgn:".Length..].Trim(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
        return (mask & (1UL << (signal - 1))) != 0;
    }
}
