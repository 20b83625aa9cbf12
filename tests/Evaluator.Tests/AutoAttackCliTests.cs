using System.Diagnostics;
using System.Text.Json.Nodes;
using RobustEval.Data;
using RobustEval.Onnx;
using RobustEval.Tests;
using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Tests;

/// <summary>
/// <c>evaluator autoattack</c> and <c>merge</c> as a user runs them: the printed table and results.json, a run
/// killed with SIGKILL at random moments and resumed to exactly the uninterrupted result, shards merged, a model
/// whose ops have no gradient rule attacked by Square alone, and one-line refusals of bad input with nothing lost.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class AutoAttackCliTests
{
    private static (int Code, string Output, string Error) Run(params string[] args) => EvaluatorRunner.Run(args);

    /// <summary>A quick ensemble on the trained test model: FGSM, then Square on what FGSM left.</summary>
    private static readonly string[] Quick = ["--norm", "linf", "--eps", "0.08", "--version", "custom", "--attacks", "fgm,square", "--limit", "48", "--batch", "8"];

    private static JsonObject Results(string directory) => JsonNode.Parse(File.ReadAllText(Path.Combine(directory, "results.json")))!.AsObject();

    [TestMethod]
    public void StandardPrintsEachAttacksAccuracyTheIntervalAndARobustBenchEntry()
    {
        using var dir = new TempDirectory();
        var (code, output, error) = Run("autoattack", TrainedModel.Path, "--norm", "linf", "--eps", "0.15", "--limit", "24", "--out", dir.File("out"));
        Assert.AreEqual(0, code, error);
        foreach (var line in new[] { "standard ℓ∞ ε=0.15: apgd-ce, apgd-t, fab-t, square", "clean accuracy", "after apgd-ce", "after apgd-t", "after fab-t",
            "after square", "robust accuracy", "95 % interval" })
        {
            StringAssert.Contains(output, line);
        }
        var json = Results(dir.File("out"));
        var bench = json["robustbench"]!.AsObject();
        Assert.AreEqual("Linf", bench["threat_model"]!.GetValue<string>());
        Assert.AreEqual(24, bench["n"]!.GetValue<int>());
        Assert.AreEqual(64, bench["model_sha256"]!.GetValue<string>().Length);
        double robust = json["robust_accuracy"]!.GetValue<double>();
        Assert.AreEqual(Math.Round(100 * robust, 2), bench["autoattack_acc"]!.GetValue<double>(), 1e-9);
        var interval = json["robust_accuracy_interval"]!.AsArray();
        Assert.IsTrue(interval[0]!.GetValue<double>() <= robust && robust <= interval[1]!.GetValue<double>());
        var attacks = json["attacks"]!.AsArray();
        Assert.HasCount(4, attacks);
        Assert.IsGreaterThan(0, attacks[0]!["gradient_evaluations"]!.GetValue<long>());
        Assert.IsGreaterThanOrEqualTo(0, attacks[3]!["forward_evaluations"]!.GetValue<long>());
        // Robust accuracy never rises from one attack to the next, and the last is the reported one.
        var after = attacks.Select(a => a!["robust_accuracy_after"]!.GetValue<double>()).ToList();
        CollectionAssert.AreEqual(after.OrderDescending().ToList(), after);
        Assert.AreEqual(after[^1], robust, 1e-12);
        Assert.IsTrue(File.Exists(Path.Combine(dir.File("out"), "adversarial.npz")));
    }

    [TestMethod]
    public void ShardsMergeIntoTheSumsWithOneInterval()
    {
        using var dir = new TempDirectory();
        for (int i = 1; i <= 3; i++)
        {
            var (code, _, error) = Run(["autoattack", TrainedModel.Path, .. Quick, "--shard", $"{i}/3", "--out", dir.File($"shard{i}")]);
            Assert.AreEqual(0, code, error);
        }
        var shards = Enumerable.Range(1, 3).Select(i => Results(dir.File($"shard{i}"))).ToList();
        CollectionAssert.AreEqual(new[] { 16, 16, 16 }, shards.Select(s => s["examples"]!.GetValue<int>()).ToArray());
        Assert.AreEqual(16, shards[1]["shard"]!["first"]!.GetValue<int>());

        var (mergeCode, output, mergeError) = Run("merge", dir.File("shard3"), dir.File("shard1"), dir.File("shard2"), "--out", dir.File("merged"));
        Assert.AreEqual(0, mergeCode, mergeError);
        StringAssert.Contains(output, "3 shards, 48 images");
        var merged = Results(dir.File("merged"));
        Assert.AreEqual(48, merged["examples"]!.GetValue<int>());
        int robust = shards.Sum(s => s["totals"]!["robust"]!.GetValue<int>());
        Assert.AreEqual(robust / 48.0, merged["robust_accuracy"]!.GetValue<double>(), 1e-12);
        Assert.AreEqual(shards.Sum(s => s["attacks"]![1]!["fooled"]!.GetValue<int>()), merged["attacks"]![1]!["fooled"]!.GetValue<int>());
        var (lower, upper) = Attacks.Wilson.Interval(robust, 48);
        Assert.AreEqual(lower, merged["robust_accuracy_interval"]![0]!.GetValue<double>(), 1e-12);
        Assert.AreEqual(upper, merged["robust_accuracy_interval"]![1]!.GetValue<double>(), 1e-12);

        // Shards of another run, repeated shards and missing ones are refused.
        var (other, _, otherError) = Run(["autoattack", TrainedModel.Path, .. Quick.Select(a => a == "0.08" ? "0.09" : a), "--shard", "2/3", "--out", dir.File("other")]);
        Assert.AreEqual(0, other, otherError);
        foreach (var (args, expected) in new (string[], string)[]
        {
            ([dir.File("shard1"), dir.File("other"), dir.File("shard3")], "shards of different runs"),
            ([dir.File("shard1"), dir.File("shard2"), dir.File("shard2"), dir.File("shard3")], "is given twice"),
            ([dir.File("shard1"), dir.File("shard3")], "shards 2/3 are missing"),
            ([dir.File("nowhere")], "no results.json"),
        })
        {
            var (code, _, error) = Run(["merge", .. args, "--out", dir.File("bad")]);
            Assert.AreEqual(2, code, error);
            Assert.HasCount(1, EvaluatorRunner.ErrorLines(error), error);
            StringAssert.Contains(error, expected);
            Assert.IsFalse(File.Exists(Path.Combine(dir.File("bad"), "results.json")));
        }
    }

    [TestMethod]
    public void BadInputIsRefusedInOneLineWithNothingLost()
    {
        using var dir = new TempDirectory();
        var state = dir.File("run.state");
        var (ok, _, okError) = Run(["autoattack", TrainedModel.Path, .. Quick, "--state", state]);
        Assert.AreEqual(0, ok, okError);
        var saved = File.ReadAllBytes(state);
        using var otherModel = new TempDirectory();
        var copy = otherModel.File("bars.onnx");
        var model = OnnxFiles.Load(TrainedModel.Path);
        model.Graph.Initializer[0].FloatData.Add([]);
        model.ProducerName = "changed";
        OnnxFiles.Save(model, copy);
        File.Copy(Path.Combine(Path.GetDirectoryName(TrainedModel.Path)!, "bars-sample.npz"), otherModel.File("bars-sample.npz"));

        foreach (var (args, expected) in new (string[], string)[]
        {
            ([TrainedModel.Path, "--norm", "linf", "--version", "custom", "--attacks", "apgd-ce,nope"], "unknown attack 'nope'"),
            ([TrainedModel.Path, "--norm", "linf", "--version", "sometimes"], "unknown --version 'sometimes'"),
            ([TrainedModel.Path, "--norm", "linf", "--version", "custom"], "--version custom needs --attacks"),
            ([TrainedModel.Path, "--norm", "linf", "--attacks", "fgm"], "--attacks chooses the attacks of --version custom"),
            ([TrainedModel.Path, "--norm", "linf", "--shard", "3/2"], "--shard 3/2: i must be between 1 and n"),
            ([TrainedModel.Path, "--norm", "linf", "--shard", "two"], "--shard two: write i/n"),
            ([TrainedModel.Path, "--norm", "l1", "--version", "blackbox"], "square runs in the linf and l2 balls"),
            ([TrainedModel.Path, .. Quick.Select(a => a == "0.08" ? "0.1" : a), "--state", state], "eps 0.08 → 0.1"),
            ([copy, .. Quick, "--state", state], "model_sha256"),
            ([TrainedModel.Path, .. Quick, "--state", dir.Path], "is a directory"),
        })
        {
            var (code, _, error) = Run(["autoattack", .. args, "--out", dir.File("out")]);
            Assert.AreEqual(2, code, error);
            Assert.HasCount(1, EvaluatorRunner.ErrorLines(error), error);
            StringAssert.Contains(error, expected);
            Assert.IsFalse(File.Exists(Path.Combine(dir.File("out"), "results.json")), "nothing written");
            CollectionAssert.AreEqual(saved, File.ReadAllBytes(state), "the state file is untouched");
        }
    }

    [TestMethod]
    public void AModelWithoutGradientRulesIsAttackedBySquareAlone()
    {
        using var dir = new TempDirectory();
        var path = GeluModel(dir);
        var random = new Random(5);
        var x = Enumerable.Range(0, 40 * 16).Select(_ => (float)random.NextDouble()).ToArray();
        var labels = new long[40];
        using (var forward = new Runtime.PredictionSession(Runtime.ClassifierLoader.Load(path, null, GradientChecker.Sessions, requireGradients: false),
            GradientChecker.Sessions))
        {
            labels = forward.Predict(x, 40);
        }
        DatasetNpz.Save(dir.File("data.npz"), new Dataset(x, labels, 1, 4, 4, Enumerable.Range(0, 5).Select(i => $"{i}").ToArray(), "random"));

        var (code, output, error) = Run("autoattack", path, "--data", dir.File("data.npz"), "--norm", "linf", "--eps", "0.2", "--out", dir.File("out"));
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "standard ℓ∞ ε=0.2: square");
        StringAssert.Contains(output, "flag white-box-blocked: no gradient rule for com.microsoft.Gelu (gelu)");
        StringAssert.Contains(output, "the number comes from square alone");
        var json = Results(dir.File("out"));
        Assert.AreEqual("square", json["attacks"]![0]!["name"]!.GetValue<string>());
        Assert.IsLessThan(1.0, json["robust_accuracy"]!.GetValue<double>(), "square fools some points");

        (code, _, error) = Run("autoattack", path, "--data", dir.File("data.npz"), "--norm", "linf", "--version", "rand");
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "--version rand has no other; use --version blackbox (square)");
        (code, _, error) = Run("attack", path, "--data", dir.File("data.npz"), "--norm", "linf", "--attack", "apgd");
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "no gradient rule for com.microsoft.Gelu (gelu), so no white-box attack is possible; --attack square");
        (code, output, error) = Run("attack", path, "--data", dir.File("data.npz"), "--norm", "linf", "--eps", "0.2", "--attack", "square", "--steps", "200");
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "forward passes");
        StringAssert.Contains(output, "note: no gradient rule for com.microsoft.Gelu (gelu): white-box attacks cannot run on this model, so this number comes from square alone");
    }

    [TestMethod]
    public void ARandomizedModelIsFlaggedAndTheRandVersionAveragesGradients()
    {
        using var dir = new TempDirectory();
        // Scores plus Gaussian noise drawn on every evaluation.
        var graph = new GraphProto { Name = "noisy" };
        graph.Input.Add(TensorValue("x", TensorProto.Types.DataType.Float, "N", 1, 4, 4));
        var b = new GraphBuilder(graph);
        var flat = b.Add("Flatten", ["x"], "flat");
        var linear = b.Add("Gemm", [flat, b.Initializer("w", Enumerable.Range(0, 5 * 16).Select(i => (float)((i * 7 % 13) - 6) / 2).ToArray(), 5, 16)], "linear",
            Attr("transB", 1L));
        graph.Node.Add(new NodeProto { OpType = "RandomNormalLike", Name = "noise", Input = { linear }, Output = { "noise" } });
        b.Add("Add", [linear, "noise"], "scores");
        graph.Output.Add(TensorValue("scores", TensorProto.Types.DataType.Float, "N", 5));
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        var path = dir.File("noisy.onnx");
        OnnxFiles.Save(model, path);
        var random = new Random(2);
        var x = Enumerable.Range(0, 30 * 16).Select(_ => (float)random.NextDouble()).ToArray();
        DatasetNpz.Save(dir.File("data.npz"), new Dataset(x, Enumerable.Range(0, 30).Select(i => (long)(i % 5)).ToArray(), 1, 4, 4,
            Enumerable.Range(0, 5).Select(i => $"{i}").ToArray(), "random"));

        var (code, output, error) = Run("autoattack", path, "--data", dir.File("data.npz"), "--norm", "linf", "--eps", "0.1", "--version", "custom",
            "--attacks", "apgd-ce");
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "flag randomized: the scores change between two identical evaluations");
        StringAssert.Contains(output, "use --version rand");

        // The rand version: APGD-CE and APGD-DLR, each gradient the mean of 20 draws; the noise passes no gradient.
        (code, output, error) = Run("autoattack", path, "--data", dir.File("data.npz"), "--norm", "linf", "--eps", "0.1", "--version", "rand", "--out", dir.File("rand"));
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "rand ℓ∞ ε=0.1: apgd-ce, apgd-dlr");
        var attacks = Results(dir.File("rand"))["attacks"]!.AsArray();
        StringAssert.Contains(attacks[0]!["description"]!.GetValue<string>(), "gradients averaged over 20 draws");
        // Every iteration costs 20 gradients: far more than the 100 iterations of one draw each.
        Assert.IsGreaterThan(20L * 100, attacks[0]!["gradient_evaluations"]!.GetValue<long>());

        // On a deterministic model no flag is raised.
        (code, output, error) = Run("autoattack", TrainedModel.Path, "--norm", "linf", "--eps", "0.1", "--version", "rand", "--limit", "8");
        Assert.AreEqual(0, code, error);
        Assert.DoesNotContain("flag randomized", output);
    }

    /// <summary>1×4×4 images into 5 classes through ONNX Runtime's contrib Gelu (com.microsoft), which has no gradient rule.</summary>
    private static string GeluModel(TempDirectory dir)
    {
        var graph = new GraphProto { Name = "sine" };
        graph.Input.Add(TensorValue("x", TensorProto.Types.DataType.Float, "N", 1, 4, 4));
        var b = new GraphBuilder(graph);
        var flat = b.Add("Flatten", ["x"], "flat");
        var weights = Enumerable.Range(0, 5 * 16).Select(i => (float)((i * 7 % 13) - 6) / 2).ToArray();
        var linear = b.Add("Gemm", [flat, b.Initializer("w", weights, 5, 16)], "linear", Attr("transB", 1L));
        graph.Node.Add(new NodeProto { OpType = "Gelu", Domain = "com.microsoft", Name = "gelu", Input = { linear }, Output = { "scores" } });
        graph.Output.Add(TensorValue("scores", TensorProto.Types.DataType.Float, "N", 5));
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        var path = dir.File("gelu.onnx");
        OnnxFiles.Save(model, path);
        return path;
    }

    private static readonly string Evaluator = Path.Combine(AppContext.BaseDirectory, "evaluator.dll");

    private static Process Start(string directory, string output)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { Evaluator, "autoattack", TrainedModel.Path, "--norm", "linf", "--eps", "0.1", "--version", "custom",
            "--attacks", "apgd-ce,square", "--limit", "64", "--batch", "4", "--threads", "1", "--state", "run.state", "--out", output })
        {
            start.ArgumentList.Add(argument);
        }
        var process = Process.Start(start)!;
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        return process;
    }

    [TestMethod]
    public void KilledRunsResumeToExactlyTheUninterruptedResult()
    {
        using var dir = new TempDirectory();
        using (var reference = Start(dir.Path, "reference"))
        {
            Assert.IsTrue(reference.WaitForExit(TimeSpan.FromMinutes(5)), "the uninterrupted run finishes");
            Assert.AreEqual(0, reference.ExitCode);
        }
        File.Delete(dir.File("run.state"));

        var random = new Random(11);
        var state = dir.File("run.state");
        // What a run killed in the middle of saving leaves behind (the kills below may or may not hit a save).
        File.WriteAllText(dir.File($".run.state.{int.MaxValue}.0123456789abcdef.tmp"), "{\"half\":");
        DateTime Saved() => File.Exists(state) ? File.GetLastWriteTimeUtc(state) : DateTime.MinValue;
        int kills = 0;
        for (int attempt = 0; attempt < 20 && !File.Exists(Path.Combine(dir.File("killed"), "results.json")); attempt++)
        {
            using var process = Start(dir.Path, "killed");
            // Killed at a random moment after the run has saved progress of its own, so every run moves on.
            var before = Saved();
            while (kills < 4 && !process.HasExited && Saved() == before)
            {
                Thread.Sleep(5);
            }
            bool killed = false;
            if (kills < 4 && !process.WaitForExit(TimeSpan.FromMilliseconds(random.Next(0, 400))))
            {
                process.Kill();
                killed = true;
                kills++;
            }
            Assert.IsTrue(process.WaitForExit(TimeSpan.FromMinutes(5)));
            if (!killed)
            {
                Assert.AreEqual(0, process.ExitCode);
            }
        }
        Assert.IsGreaterThanOrEqualTo(2, kills, "the run was really interrupted");
        Assert.IsFalse(Directory.EnumerateFiles(dir.Path, ".*.tmp").Any(), "no temporary files are left behind");

        var expected = Results(dir.File("reference"));
        var actual = Results(dir.File("killed"));
        foreach (var field in new[] { "robust_accuracy", "clean_accuracy" })
        {
            Assert.AreEqual(expected[field]!.GetValue<double>(), actual[field]!.GetValue<double>(), field);
        }
        for (int k = 0; k < 2; k++)
        {
            foreach (var field in new[] { "fooled", "attacked", "gradient_evaluations", "forward_evaluations" })
            {
                Assert.AreEqual(expected["attacks"]![k]![field]!.ToJsonString(), actual["attacks"]![k]![field]!.ToJsonString(), $"attack {k}: {field}");
            }
        }
        var a = Npz.Read(Path.Combine(dir.File("reference"), "adversarial.npz"));
        var b = Npz.Read(Path.Combine(dir.File("killed"), "adversarial.npz"));
        CollectionAssert.AreEqual(a["x_adv"].ToFloat32(), b["x_adv"].ToFloat32(), "the adversarial points, bit for bit");
        CollectionAssert.AreEqual(a["fooled_by"].ToInt64(), b["fooled_by"].ToInt64());
    }
}
