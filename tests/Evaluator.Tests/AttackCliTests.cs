using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using RobustEval.Data;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Gradients;
using RobustEval.Evaluator.Runtime;
using RobustEval.Onnx;
using RobustEval.Tests;

namespace RobustEval.Evaluator.Tests;

/// <summary>
/// Attacks chosen by name on the command line: the same options in every command that runs one, targets from a file,
/// gradient graphs of every loss, and one-line refusals of what cannot be run — with nothing written.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class AttackCliTests
{
    private static (int Code, string Output, string Error) Run(params string[] args) => EvaluatorRunner.Run(args);

    private static string Sample => Path.Combine(Path.GetDirectoryName(TrainedModel.Path)!, "bars-sample.npz");

    private static void AssertRefusedWritingNothing(string expected, TempDirectory dir, params string[] args)
    {
        // gradient-graph writes a file, the others a folder: nothing may appear either way.
        var output = dir.File(args[0] == "gradient-graph" ? "out.onnx" : "out");
        var (code, _, error) = Run([.. args, "--out", output]);
        Assert.AreEqual(2, code, error);
        var lines = EvaluatorRunner.ErrorLines(error);
        Assert.HasCount(1, lines, $"one line: {error}");
        StringAssert.Contains(lines[0], expected);
        Assert.IsFalse(File.Exists(output) || Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any(), "nothing written");
    }

    [TestMethod]
    public void BatchAutoSaysWhichBatchItChoseAndGivesTheResultOfThatBatch()
    {
        using var dir = new TempDirectory();
        var (code, output, error) = Run("attack", TrainedModel.Path, "--norm", "linf", "--eps", "0.1", "--attack", "fgm", "--batch", "auto",
            "--limit", "100", "--out", dir.File("auto"));
        Assert.AreEqual(0, code, error);
        using var auto = JsonDocument.Parse(File.ReadAllText(dir.File("auto/results.json")));
        var batch = auto.RootElement.GetProperty("batch");
        int size = batch.GetProperty("size").GetInt32();
        StringAssert.StartsWith(batch.GetProperty("how").GetString(), "auto: ");
        // The bars net is tiny and fast: neither memory nor a second limits it, only the 100 images.
        Assert.AreEqual(100, size, batch.GetProperty("how").GetString());
        StringAssert.Contains(output, $"batch {size} (auto: ");
        Assert.AreEqual(0, auto.RootElement.GetProperty("summary").GetProperty("image_evaluations").GetInt64() % 100,
            "the probe's evaluations are not counted as the attack's");

        // For an attack without random draws another batch split gives the same examples (random starts are drawn per batch).
        (code, _, error) = Run("attack", TrainedModel.Path, "--norm", "linf", "--eps", "0.1", "--attack", "fgm", "--batch", "7",
            "--limit", "100", "--out", dir.File("seven"));
        Assert.AreEqual(0, code, error);
        using var seven = JsonDocument.Parse(File.ReadAllText(dir.File("seven/results.json")));
        Assert.AreEqual("given", seven.RootElement.GetProperty("batch").GetProperty("how").GetString());
        Assert.AreEqual(seven.RootElement.GetProperty("summary").GetProperty("adversarial_accuracy").GetDouble(),
            auto.RootElement.GetProperty("summary").GetProperty("adversarial_accuracy").GetDouble());

        AssertRefusedWritingNothing("--batch must be a whole number of at least 1, or auto (got 'many')", dir, "attack", TrainedModel.Path, "--norm", "linf", "--batch", "many");
        AssertRefusedWritingNothing("--batch must be a whole number of at least 1, or auto (got '0')", dir, "sweep", TrainedModel.Path, "--norm", "linf", "--eps", "0.1", "--batch", "0");
        AssertRefusedWritingNothing("--batch auto cannot be resumed", dir, "autoattack", TrainedModel.Path, "--norm", "linf", "--batch", "auto", "--state", dir.File("state"));
    }

    [TestMethod]
    public void BatchAutoEstimatesMemoryFromTheShapesOfTheModelsTensors()
    {
        // Every batch-dependent tensor, three times, in bytes per image: written out here from the probe's shapes.
        var classifier = ClassifierLoader.Load(TrainedModel.Path, null, GradientChecker.Sessions);
        long floats = 0;
        foreach (var tensor in classifier.Tensors.Values.Where(t => t.BatchAxes.Any(b => b)))
        {
            Assert.AreEqual(2, tensor.Dims[0], "the shapes kept are those of the batch-2 run");
            floats += tensor.Count / 2;
        }
        Assert.IsGreaterThan(classifier.ImageSize, floats, "the net's activations outweigh its input");
        Assert.AreEqual(3 * 4 * floats, AutoBatch.BytesPerImage(classifier));
    }

    [TestMethod]
    public void ApgdWithTheDlrLossRunsEverywhereAnAttackIsNamed()
    {
        using var dir = new TempDirectory();
        var (code, output, error) = Run("attack", TrainedModel.Path, "--norm", "linf", "--eps", "8/255", "--attack", "apgd", "--loss", "dlr", "--steps", "5",
            "--limit", "40", "--out", dir.File("attack"));
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "apgd ℓ∞ ε=0.03137, 5 iterations, dlr loss");
        StringAssert.Contains(output, "image gradients");
        using (var json = JsonDocument.Parse(File.ReadAllText(dir.File("attack/results.json"))))
        {
            var attack = json.RootElement.GetProperty("attack");
            Assert.AreEqual("apgd", attack.GetProperty("name").GetString());
            Assert.AreEqual("dlr", attack.GetProperty("loss").GetString());
            Assert.AreEqual(8 / 255.0, attack.GetProperty("eps").GetDouble(), 1e-7);
            Assert.IsTrue(attack.GetProperty("early_stop").GetBoolean());
            Assert.IsGreaterThan(0, json.RootElement.GetProperty("summary").GetProperty("image_evaluations").GetInt64());
        }

        (code, output, error) = Run("sweep", TrainedModel.Path, "--norm", "linf", "--eps", "0,4/255,8/255", "--attack", "apgd", "--loss", "dlr", "--steps", "5",
            "--limit", "40");
        Assert.AreEqual(0, code, error);
        Assert.HasCount(3, output.Split('\n').Where(l => l.Contains('%')).ToArray(), output);

        var set = dir.File("set.npz");
        (code, output, error) = Run("transfer-set", "build", "--source", TrainedModel.Path, "--data", Sample, "--eps", "linf=0.15", "--attack", "apgd",
            "--loss", "dlr", "--steps", "5", "--limit", "40", "--out", set);
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "ℓ∞ eps 0.15", "the norms are those --eps names");
        using (var manifest = JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(set, ".json"))))
        {
            StringAssert.Contains(manifest.RootElement.GetProperty("attack").GetString(), "apgd ℓ∞ ε=0.15, 5 iterations, dlr loss");
        }

        (code, _, error) = Run("report", "--models", TrainedModel.Path, "--data", Sample, "--eps-sweep", "apgd:linf:0,0.1", "pgd3:l2:1", "--loss", "dlr",
            "--steps", "4", "--limit", "20", "--fosc-attack", "linf:8/255:3", "--out", dir.File("report"));
        Assert.AreEqual(0, code, error);
        using (var report = JsonDocument.Parse(File.ReadAllText(dir.File("report/results.json"))))
        {
            var sweeps = report.RootElement.GetProperty("sweeps").EnumerateArray().ToList();
            CollectionAssert.AreEqual(new[] { "apgd4-linf", "pgd3-l2" }, sweeps.Select(s => s.GetProperty("key").GetString()).ToArray(),
                "a sweep's own steps win over --steps");
            StringAssert.Contains(sweeps[0].GetProperty("attack").GetString(), "dlr loss");
        }
    }

    [TestMethod]
    public void TargetLabelsFromAFileAreAimedAtAndRecorded()
    {
        using var dir = new TempDirectory();
        var labels = TrainedModel.Test.Labels.ToArray();
        var targets = labels.Select(l => (l + 5) % 10).ToArray();
        File.WriteAllText(dir.File("targets.txt"), string.Join("\n", targets));
        var (code, output, error) = Run("attack", TrainedModel.Path, "--norm", "linf", "--eps", "0.3", "--attack", "pgd", "--steps", "20", "--step-size", "0.05",
            "--target-labels", dir.File("targets.txt"), "--out", dir.File("out"));
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "ce-targeted loss, given targets");
        var arrays = Npz.Read(dir.File("out/adversarial.npz"));
        CollectionAssert.AreEqual(targets, arrays["target"].ToInt64());
        var predicted = arrays["pred_adv"].ToInt64();
        var clean = arrays["pred"].ToInt64();
        using var json = JsonDocument.Parse(File.ReadAllText(dir.File("out/results.json")));
        // A targeted success is a correct image sent to its target, nothing less.
        int hits = Enumerable.Range(0, labels.Length).Count(i => clean[i] == labels[i] && predicted[i] == targets[i]);
        Assert.AreEqual(hits, json.RootElement.GetProperty("summary").GetProperty("successes").GetInt32());
        Assert.IsGreaterThan(labels.Length / 4, hits, "ε = 0.3 sends many bars to their target");
        Assert.IsLessThan(Enumerable.Range(0, labels.Length).Count(i => clean[i] == labels[i] && predicted[i] != labels[i]) + 1, hits + 1);
    }

    [TestMethod]
    public void RandomAndLeastLikelyTargetsAreNeverTheTrueClass()
    {
        using var dir = new TempDirectory();
        foreach (var target in new[] { "random", "least-likely" })
        {
            var (code, _, error) = Run("attack", TrainedModel.Path, "--norm", "l2", "--eps", "2", "--attack", "pgd", "--steps", "5", "--target", target,
                "--limit", "50", "--out", dir.File(target));
            Assert.AreEqual(0, code, error);
            var arrays = Npz.Read(dir.File($"{target}/adversarial.npz"));
            var y = arrays["y"].ToInt64();
            var t = arrays["target"].ToInt64();
            Assert.IsTrue(Enumerable.Range(0, y.Length).All(i => t[i] != y[i] && t[i] is >= 0 and < 10), target);
            Assert.IsGreaterThan(3, t.Distinct().Count(), $"{target}: targets vary");
        }
    }

    [TestMethod]
    public void GradientGraphsOfEveryLossRunInPlainOnnxRuntime()
    {
        using var dir = new TempDirectory();
        var classifier = ClassifierLoader.Load(TrainedModel.Path, null, GradientChecker.Sessions);
        var x = TrainedModel.Test.Take(4).Pixels.ToArray();
        long[] labels = [0, 1, 2, 3];
        long[] targets = [5, 6, 7, 8];
        foreach (var loss in Loss.All)
        {
            var path = dir.File($"{loss.Name}.onnx");
            var (code, output, error) = Run("gradient-graph", TrainedModel.Path, "--loss", loss.Name, "--out", path);
            Assert.AreEqual(0, code, error);
            StringAssert.Contains(output, $"({loss.Name} loss)");

            // Saved, then run by a bare ONNX Runtime session: the per-example loss is the evaluator's own.
            using var saved = new InferenceSession(path);
            CollectionAssert.AreEqual(loss.Targeted ? new[] { "robusteval/pixels", "robusteval/labels", "robusteval/targets" } : new[] { "robusteval/pixels", "robusteval/labels" },
                saved.InputNames.ToArray());
            using var run = new RunOptions();
            var inputs = new List<OrtValue> { OrtValue.CreateTensorValueFromMemory(x, [4, 1, 28, 28]), OrtValue.CreateTensorValueFromMemory(labels, [4]) };
            if (loss.Targeted)
            {
                inputs.Add(OrtValue.CreateTensorValueFromMemory(targets, [4]));
            }
            using var outputs = saved.Run(run, saved.InputNames, inputs, ["robusteval/loss"]);
            var plain = outputs[0].GetTensorDataAsSpan<float>().ToArray();
            inputs.ForEach(v => v.Dispose());

            using var session = new GradientSession(classifier, GradientChecker.Sessions, loss);
            var buffers = session.For(4);
            x.CopyTo(buffers.Pixels, 0);
            labels.CopyTo(buffers.Labels, 0);
            targets.CopyTo(buffers.Targets ?? new long[4], 0);
            session.Evaluate(buffers, 4);
            CollectionAssert.AreEqual(buffers.Loss.Take(4).ToArray(), plain, loss.Name);
        }
    }

    [TestMethod]
    public void WhatCannotRunIsOneLineAndWritesNothing()
    {
        using var dir = new TempDirectory();
        var two = LossTests.Linear(dir, 2);
        Npz.Write(dir.File("tiny.npz"), [new("x", NpyArray.Of(new float[4 * 16], 4, 1, 4, 4)), new("y", NpyArray.Of([0L, 1, 0, 1], 4))]);
        AssertRefusedWritingNothing("--loss dlr needs at least 3 classes", dir, "attack", two, "--norm", "linf", "--attack", "apgd", "--loss", "dlr", "--data", dir.File("tiny.npz"));
        AssertRefusedWritingNothing("--loss dlr needs at least 3 classes", dir, "gradient-graph", two, "--loss", "dlr");

        var labels = TrainedModel.Test.Labels.ToArray();
        File.WriteAllText(dir.File("same.txt"), string.Join(",", labels));
        AssertRefusedWritingNothing("example 0's target", dir, "attack", TrainedModel.Path, "--norm", "linf", "--attack", "pgd", "--target-labels", dir.File("same.txt"));
        File.WriteAllText(dir.File("range.txt"), string.Join(" ", labels.Select(_ => 12)));
        AssertRefusedWritingNothing("target 12 is not a class of the model (0–9)", dir, "attack", TrainedModel.Path, "--norm", "linf", "--target-labels", dir.File("range.txt"));
        File.WriteAllText(dir.File("short.txt"), "1 2 3");
        AssertRefusedWritingNothing("--target-labels has 3 targets but the data has", dir, "attack", TrainedModel.Path, "--norm", "linf", "--target-labels", dir.File("short.txt"));
        File.WriteAllText(dir.File("words.txt"), "1 two 3");
        AssertRefusedWritingNothing("'two' is not an integer", dir, "attack", TrainedModel.Path, "--norm", "linf", "--target-labels", dir.File("words.txt"));

        AssertRefusedWritingNothing("--iterations must be at least 1", dir, "attack", TrainedModel.Path, "--norm", "linf", "--attack", "apgd", "--iterations", "0");
        AssertRefusedWritingNothing("--steps has no effect with --attack fgm", dir, "attack", TrainedModel.Path, "--norm", "linf", "--steps", "5");
        AssertRefusedWritingNothing("--step-size has no effect with --attack apgd", dir, "attack", TrainedModel.Path, "--norm", "linf", "--attack", "apgd", "--step-size", "0.1");
        AssertRefusedWritingNothing("--loss has no effect with --attack apgd-t", dir, "attack", TrainedModel.Path, "--norm", "linf", "--attack", "apgd-t", "--loss", "ce");
        AssertRefusedWritingNothing("--pixels applies to l1 steps only", dir, "attack", TrainedModel.Path, "--norm", "linf", "--attack", "pgd", "--pixels", "3");
        AssertRefusedWritingNothing("needs a targeted loss", dir, "attack", TrainedModel.Path, "--norm", "linf", "--loss", "ce", "--target", "random");
        AssertRefusedWritingNothing("aims at a target class", dir, "attack", TrainedModel.Path, "--norm", "linf", "--loss", "dlr-targeted", "--target", "untargeted");
        AssertRefusedWritingNothing("unknown loss 'hinge'", dir, "attack", TrainedModel.Path, "--norm", "linf", "--loss", "hinge");
        AssertRefusedWritingNothing("top-K", dir, "attack", TrainedModel.Path, "--norm", "linf", "--loss", "dlr-targeted", "--target", "top-x");
        AssertRefusedWritingNothing("not a number or a fraction", dir, "attack", TrainedModel.Path, "--norm", "linf", "--eps", "8/zero");
        AssertRefusedWritingNothing("a range is START:STOP:STEP", dir, "sweep", TrainedModel.Path, "--norm", "linf", "--eps", "0:8/255:0");
        AssertRefusedWritingNothing("--pixels applies to l1 steps only", dir, "transfer-set", "build", "--source", TrainedModel.Path, "--data", Sample,
            "--eps", "linf=0.1", "--pixels", "3");
        OnnxFiles.Save(ClassifierLoaderTests.Opset9Classifier(4L), dir.File("fixed.onnx"));
        Npz.Write(dir.File("eight.npz"), [new("x", NpyArray.Of(new float[6 * 64], 6, 1, 8, 8)), new("y", NpyArray.Of([0L, 1, 2, 0, 1, 2], 6))]);
        AssertRefusedWritingNothing("takes batches of exactly 4", dir, "attack", dir.File("fixed.onnx"), "--norm", "linf", "--data", dir.File("eight.npz"), "--batch", "16");
        Assert.AreEqual(0, Run("attack", dir.File("fixed.onnx"), "--norm", "linf", "--data", dir.File("eight.npz")).Code, "without --batch it runs");
        AssertRefusedWritingNothing("--eps needs at least one radius above 0", dir, "sweep", TrainedModel.Path, "--norm", "linf", "--eps", "0");
    }
}
