using System.Diagnostics;
using RobustEval.Data;
using RobustEval.Evaluator.Attacks;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Runtime;
using RobustEval.Trainer.Architectures;
using RobustEval.Trainer.Training;

namespace RobustEval.Bench;

/// <summary>One comparison: RobustEval's loop measured in this process, the same loop in bench/reference.py.</summary>
internal sealed class Benchmark
{
    public required string Id { get; init; }

    /// <summary>Runs RobustEval's side for about <c>seconds</c>; returns images/s.</summary>
    public required Func<double, double> RunOurs { get; init; }

    public required string[] ReferenceArguments { get; init; }

    public double RunReference(BenchOptions options) => Reference.Run(ReferenceArguments, options);

    /// <summary>Forward passes over one batch, repeated.</summary>
    public static Benchmark Inference(string task, string net, int batch, Classifier classifier, Dataset data, OrtSessions sessions, string model, string dataFile,
        string[]? referenceOptions = null)
    {
        var session = new PredictionSession(classifier, sessions);
        var pixels = Batch(data, batch).Pixels.ToArray();
        return new Benchmark
        {
            Id = $"{task} {net} (batch {batch})",
            RunOurs = seconds => Repeat(() => session.Predict(pixels, batch, batch), batch, seconds),
            ReferenceArguments = ["forward", "--model", model, "--data", dataFile, "--batch", batch.ToString(System.Globalization.CultureInfo.InvariantCulture),
                .. referenceOptions ?? []],
        };
    }

    /// <summary>An attack on one batch, repeated: exactly the work `evaluator attack` does per batch.</summary>
    public static Benchmark Attack(string task, string net, int batch, Classifier classifier, Dataset data, OrtSessions sessions, AttackSettings settings,
        string model, string dataFile, string[] referenceTask)
    {
        var gradients = new GradientSessions(classifier, sessions);
        var attack = AttackRegistry.Create(settings, gradients);
        var subset = Batch(data, batch);
        return new Benchmark
        {
            Id = $"{task} {net} (batch {batch})",
            RunOurs = seconds => Repeat(() => AttackRunner.Run(attack, subset, batch), batch, seconds),
            ReferenceArguments = [referenceTask[0], "--model", model, "--data", dataFile, "--batch", batch.ToString(System.Globalization.CultureInfo.InvariantCulture), .. referenceTask[1..]],
        };
    }

    /// <summary>
    /// A whole AutoAttack run (standard, ℓ∞) on <paramref name="data"/>, once: images/s over the whole run. The
    /// reference runs the same four attacks as the AutoAttack package does (each on the points still robust).
    /// </summary>
    public static Benchmark AutoAttack(string net, Classifier classifier, Dataset data, OrtSessions sessions, float eps, string model, string dataFile)
    {
        var gradients = new GradientSessions(classifier, sessions);
        return new Benchmark
        {
            Id = $"autoattack standard linf {eps:G3} {net} ({data.Count} images)",
            RunOurs = _ =>
            {
                var plan = AutoAttackPlan.Create("standard", Geometry.NormKind.Linf, eps, seed: 1, null, classifier.Classes, gradients.GradientBlockers);
                var clock = Stopwatch.StartNew();
                var result = new AutoAttack(gradients, plan, data, 256).Run();
                Console.Error.WriteLine($"  RobustEval robust accuracy {result.Totals.RobustAccuracy:F4}");
                return data.Count / clock.Elapsed.TotalSeconds;
            },
            ReferenceArguments = ["autoattack", "--model", model, "--data", dataFile, "--batch", data.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--eps", eps.ToString(System.Globalization.CultureInfo.InvariantCulture)],
        };
    }

    /// <summary>A training epoch over <paramref name="train"/>: the second of two, so start-up is not counted.</summary>
    public static Benchmark Training(string task, string net, int batch, TrainingMethod method, Dataset train, Dataset test, string work, string model,
        string dataFile, TorchSharp.torch.Device device)
    {
        var options = new TrainingOptions
        {
            Architecture = ArchitectureCatalog.ShahamMnist,
            Method = method,
            Norm = Geometry.NormKind.Linf,
            Eps = 0.1,
            Epochs = 2,
            BatchSize = batch,
            LearningRate = 0.01,
            Momentum = 0.9,
            WeightDecay = 1e-3,
            Data = "bench",
        };
        return new Benchmark
        {
            Id = $"{task} {net} (batch {batch}{(device.type == TorchSharp.DeviceType.CUDA ? ", cuda" : "")})",
            RunOurs = _ =>
            {
                var path = Path.Combine(work, $"train-{Guid.NewGuid():N}.onnx");
                var result = new TrainingRun(options, train, test.Take(200), device, new TrainingPaths(path), SilentTrainingProgress.Instance).Run(false);
                return result.History[^1].ImagesPerSecond;
            },
            ReferenceArguments = [method == TrainingMethod.Standard ? "train-standard" : "train-robust", "--model", model, "--data", dataFile,
                "--batch", batch.ToString(System.Globalization.CultureInfo.InvariantCulture), "--norm", "linf", "--eps", "0.1"],
        };
    }

    private static Dataset Batch(Dataset data, int batch)
    {
        var indices = Enumerable.Range(0, batch).Select(i => i % data.Count).ToList();
        return data.Subset(indices);
    }

    private static double Repeat(Action run, int images, double seconds)
    {
        run();
        var clock = Stopwatch.StartNew();
        int calls = 0;
        do
        {
            run();
            calls++;
        }
        while (clock.Elapsed.TotalSeconds < seconds);
        return images * calls / clock.Elapsed.TotalSeconds;
    }
}
