using RobustEval.Data;
using RobustEval.Onnx;
using RobustEval.Trainer.Architectures;
using RobustEval.Trainer.Native;
using RobustEval.Trainer.Training;

namespace RobustEval.Evaluator.Tests;

/// <summary>
/// A shaham-mnist net trained for two epochs on synthetic bars (a few seconds), exported to ONNX once per test
/// run: a real trained classifier for the attack and command-line tests.
/// </summary>
internal static class TrainedModel
{
    private static readonly Lazy<(string Path, Dataset Test)> Instance = new(Create, LazyThreadSafetyMode.ExecutionAndPublication);

    public static string Path => Instance.Value.Path;

    public static Dataset Test => Instance.Value.Test;

    private static (string, Dataset) Create()
    {
        TorchRuntime.EnsureLoadable();
        var directory = Directory.CreateTempSubdirectory("robusteval-trained-").FullName;
        var train = Bars(400, seed: 1);
        var test = Bars(120, seed: 2);
        var options = new TrainingOptions
        {
            Architecture = ArchitectureCatalog.ShahamMnist,
            Epochs = 2,
            BatchSize = 20,
            LearningRate = 0.02,
            Momentum = 0.9,
            WeightDecay = 1e-4,
            Data = "bars",
        };
        var path = System.IO.Path.Combine(directory, "bars.onnx");
        new TrainingRun(options, train, test, TorchSharp.torch.CPU, new TrainingPaths(path), SilentTrainingProgress.Instance).Run(false);
        DatasetNpz.Save(System.IO.Path.Combine(directory, "bars-sample.npz"), test);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(directory, recursive: true);
        return (path, test);
    }

    /// <summary>Class k: a bright bar at a class-specific height, over faint noise.</summary>
    public static Dataset Bars(int count, int seed)
    {
        var random = new Random(seed);
        var pixels = new float[count * 784];
        var labels = new long[count];
        for (int n = 0; n < count; n++)
        {
            int label = n % 10;
            labels[n] = label;
            int row = 1 + label * 25 / 9;
            for (int i = 0; i < 784; i++)
            {
                int y = i / 28, x = i % 28;
                pixels[n * 784 + i] = Math.Abs(y - row) <= 1 && x > 3 && x < 24 ? 0.7f + (float)random.NextDouble() * 0.3f : (float)random.NextDouble() * 0.3f;
            }
        }
        return new Dataset(pixels, labels, 1, 28, 28, Enumerable.Range(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray(), "bars");
    }
}
