using System.Diagnostics;
using RobustEval.Data;
using RobustEval.Onnx;
using RobustEval.Tests;
using RobustEval.Trainer.Training;

namespace RobustEval.Trainer.Tests;

/// <summary>
/// The trainer killed with SIGKILL at random moments and resumed, several times: no checkpoint or output is ever
/// left corrupt, and the final weights are bit for bit those of an uninterrupted run.
/// </summary>
[TestClass]
public sealed class KillAndResumeTests
{
    private static readonly string Trainer = Path.Combine(AppContext.BaseDirectory, "trainer.dll");

    private static Process Start(string directory, string output, bool resume)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[] { Trainer, "train", "--arch", "shaham-mnist", "--data", "train.npz", "--test-data", "test.npz",
            "--epochs", "12", "--batch", "25", "--lr", "0.05", "--threads", "1", "--seed", "3", "--method", "robust", "--eps", "0.1", "--out", output })
        {
            start.ArgumentList.Add(argument);
        }
        if (resume)
        {
            start.ArgumentList.Add("--resume");
        }
        var process = Process.Start(start)!;
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        return process;
    }

    [TestMethod]
    public void KilledRunsResumeToTheSameWeights()
    {
        using var dir = new TempDirectory();
        DatasetNpz.Save(dir.File("train.npz"), SyntheticData.Bars(600, seed: 1));
        DatasetNpz.Save(dir.File("test.npz"), SyntheticData.Bars(60, seed: 2));

        using (var reference = Start(dir.Path, "reference.onnx", resume: false))
        {
            Assert.IsTrue(reference.WaitForExit(TimeSpan.FromMinutes(3)), "the uninterrupted run finishes");
            Assert.AreEqual(0, reference.ExitCode);
        }

        var random = new Random(7);
        var model = dir.File("killed.onnx");
        var checkpoint = Path.ChangeExtension(model, ".ckpt");
        var metrics = Path.ChangeExtension(model, ".metrics.jsonl");
        int EpochsLogged()
        {
            try
            {
                return File.Exists(metrics) ? File.ReadAllLines(metrics).Length : 0;
            }
            catch (IOException)
            {
                return 0;
            }
        }
        int kills = 0;
        for (int attempt = 0; attempt < 12 && !File.Exists(model); attempt++)
        {
            using var process = Start(dir.Path, "killed.onnx", resume: File.Exists(checkpoint));
            bool killed = false;
            // Each run is killed at a random moment after it has logged an epoch of its own (whatever this machine's
            // speed and load), so every run makes progress and is interrupted mid-work, checkpoint writes included.
            int logged = EpochsLogged();
            while (kills < 4 && !process.HasExited && EpochsLogged() <= logged)
            {
                Thread.Sleep(5);
            }
            if (kills < 4 && !process.WaitForExit(TimeSpan.FromMilliseconds(random.Next(0, 250))))
            {
                process.Kill();
                killed = true;
                kills++;
            }
            Assert.IsTrue(process.WaitForExit(TimeSpan.FromMinutes(3)));
            if (!killed)
            {
                Assert.AreEqual(0, process.ExitCode);
            }
            if (File.Exists(checkpoint))
            {
                var state = Checkpoint.Peek(checkpoint);
                Assert.IsTrue(state.EpochsDone is >= 1 and <= 12, "the checkpoint reads back whole after a kill");
                Assert.HasCount(state.EpochsDone, state.History);
            }
            if (killed)
            {
                Assert.IsFalse(File.Exists(model), "no model file before training finishes");
            }
        }
        Assert.IsGreaterThanOrEqualTo(2, kills, "the run was really interrupted");
        Assert.IsTrue(File.Exists(model), "the resumed run finished");
        Assert.IsFalse(Directory.EnumerateFiles(dir.Path, ".*.tmp").Any(), "no temporary files are left behind");

        var expected = OnnxFiles.Load(dir.File("reference.onnx")).Graph.Initializer;
        var actual = OnnxFiles.Load(model).Graph.Initializer;
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.IsTrue(expected[i].RawData.Span.SequenceEqual(actual[i].RawData.Span), $"{expected[i].Name} differs after {kills} kills");
        }
        Assert.HasCount(12, File.ReadAllLines(Path.ChangeExtension(model, ".metrics.jsonl")));
    }
}
