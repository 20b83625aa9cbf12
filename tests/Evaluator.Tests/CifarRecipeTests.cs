using RobustEval.Cli;
using RobustEval.Data;
using RobustEval.Tests;
using RobustEval.Trainer.Cli;

namespace RobustEval.Evaluator.Tests;

/// <summary>
/// The CIFAR-10 recipe of reports/reproduce.sh (vgg-cifar, Table 2's setup) end to end on a small synthetic file in
/// the CIFAR-10 binary format: data from the cache, training, transfer set, Table 2 and the report.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class CifarRecipeTests
{
    private static byte[] Records(int count, int seed)
    {
        var random = new Random(seed);
        var bytes = new byte[count * Cifar10BinaryReader.RecordSize];
        for (int r = 0; r < count; r++)
        {
            int label = r % 10;
            int offset = r * Cifar10BinaryReader.RecordSize;
            bytes[offset] = (byte)label;
            for (int i = 0; i < 3072; i++)
            {
                // A class-specific colour plane over noise: learnable in a few steps.
                int plane = i / 1024;
                bytes[offset + 1 + i] = (byte)(random.Next(60) + (plane == label % 3 ? 120 + 12 * label : 0));
            }
        }
        return bytes;
    }

    [TestMethod]
    public void RecipeRunsEndToEndOnASyntheticCifarFile()
    {
        using var cache = new TempDirectory();
        var folder = Path.Combine(cache.Path, "cifar10", KnownDatasets.Cifar10Folder);
        Directory.CreateDirectory(folder);
        for (int i = 1; i <= 5; i++)
        {
            File.WriteAllBytes(Path.Combine(folder, $"data_batch_{i}.bin"), Records(16, i));
        }
        File.WriteAllBytes(Path.Combine(folder, "test_batch.bin"), Records(30, 9));
        var previous = Environment.GetEnvironmentVariable(DataDirectories.CacheVariable);
        Environment.SetEnvironmentVariable(DataDirectories.CacheVariable, cache.Path);
        try
        {
            var models = Path.Combine(cache.Path, "models");
            foreach (var (name, options) in new[] { ("baseline", new[] { "--method", "standard" }), ("robust-linf", ["--method", "robust", "--norm", "linf", "--eps", "0.05"]) })
            {
                var error = new StringWriter();
                var original = Console.Out;
                Console.SetOut(TextWriter.Null);
                int code;
                try
                {
                    code = CommandLineApp.Run(TrainerCli.Create(),
                        ["train", "--arch", "vgg-cifar", "--data", "cifar10", "--epochs", "1", "--batch", "20", "--threads", "2", .. options,
                            "--out", Path.Combine(models, $"cifar10-{name}.onnx")], error);
                }
                finally
                {
                    Console.SetOut(original);
                }
                Assert.AreEqual(0, code, error.ToString());
            }
            var set = Path.Combine(models, "cifar10-transfer.npz");
            var (buildCode, _, buildError) = EvaluatorRunner.Run("transfer-set", "build", "--source", Path.Combine(models, "cifar10-baseline.onnx"),
                "--data", "cifar10-test", "--eps", "l1=1.0,l2=1.0,linf=0.031", "--out", set);
            Assert.AreEqual(0, buildCode, buildError);
            var (evalCode, table, evalError) = EvaluatorRunner.Run("transfer", "eval", "--set", set,
                Path.Combine(models, "cifar10-baseline.onnx"), Path.Combine(models, "cifar10-robust-linf.onnx"));
            Assert.AreEqual(0, evalCode, evalError);
            StringAssert.Contains(table, "cifar10-robust-linf");
            var report = Path.Combine(cache.Path, "report");
            var (reportCode, _, reportError) = EvaluatorRunner.Run("report", "--models", Path.Combine(models, "cifar10-baseline.onnx"),
                Path.Combine(models, "cifar10-robust-linf.onnx"), "--data", "cifar10-test", "--set", set, "--eps-sweep", "linf:0,0.03",
                "--limit", "20", "--fosc-attack", "linf:0.03:2", "--out", report);
            Assert.AreEqual(0, reportCode, reportError);
            Assert.IsTrue(File.Exists(Path.Combine(report, "index.html")));
        }
        finally
        {
            Environment.SetEnvironmentVariable(DataDirectories.CacheVariable, previous);
        }
    }
}
