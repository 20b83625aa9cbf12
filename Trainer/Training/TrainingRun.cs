using System.Diagnostics;
using System.Text;
using System.Text.Json;
using RobustEval.Data;
using RobustEval.Geometry;
using RobustEval.IO;
using RobustEval.ModelCards;
using RobustEval.Onnx;
using RobustEval.Trainer.Architectures;
using RobustEval.Trainer.Export;
using RobustEval.Trainer.Native;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn.functional;

namespace RobustEval.Trainer.Training;

/// <summary>What a training run reports while it works.</summary>
internal interface ITrainingProgress
{
    void RunStarted(int firstEpoch, int epochs, int batchesPerEpoch);

    void BatchDone(int epoch, int batch, double meanLoss, double accuracy, double imagesPerSecond);

    void EpochDone(EpochMetrics metrics);
}

/// <summary>The files a run writes beside its <c>.onnx</c>.</summary>
internal sealed record TrainingPaths(string Model)
{
    /// <summary>Fails before any work when the output cannot be written, so nothing is trained for nothing.</summary>
    public void EnsureWritable()
    {
        if (!Model.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            throw new UserErrorException($"--out {Model}: the model file must end in .onnx");
        }
        OutputPaths.EnsureWritableDirectory(Path.GetDirectoryName(Path.GetFullPath(Model))!, $"--out {Model}");
    }

    public string Metrics => Path.ChangeExtension(Model, ".metrics.jsonl");

    public string Checkpoint => Path.ChangeExtension(Model, ".ckpt");
}

internal sealed record TrainingResult(TrainingPaths Paths, IReadOnlyList<EpochMetrics> History, double TestAccuracy, ModelCard Card);

/// <summary>
/// One training run: the loop over epochs and minibatches for every method, a checkpoint after each complete
/// epoch, the metrics log, and the ONNX export at the end. The same seed and thread count give the same
/// weights, whether or not the run was interrupted and resumed: every epoch's shuffle and every batch's random
/// numbers (dropout, random starts) are derived from (seed, epoch, batch) rather than from a running stream.
/// </summary>
internal sealed class TrainingRun(TrainingOptions options, Dataset train, Dataset test, Device device, TrainingPaths paths,
    ITrainingProgress progress, string? modelName = null)
{
    private const int EvaluationBatch = 1000;
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(200);

    public TrainingResult Run(bool resume)
    {
        ProcessMemory.KeepFreedMemory();
        var spec = ArchitectureCatalog.Get(options.Architecture);
        options.Validate(spec, train, test);
        paths.EnsureWritable();
        foreach (var file in new[] { paths.Model, paths.Metrics, paths.Checkpoint })
        {
            AtomicFile.RemoveStaleTemporaries(file);
        }

        manual_seed(options.Seed);
        using var model = new Network(spec);
        var (mean, std) = train.ChannelStatistics();
        model.Standardization.Set(mean, std);
        model.to(device);
        using var optimizer = new Sgd(model.parameters(), options.Momentum, options.WeightDecay);

        var history = new List<EpochMetrics>();
        int firstEpoch = 0;
        if (File.Exists(paths.Checkpoint))
        {
            if (!resume)
            {
                throw new UserErrorException(
                    $"{paths.Checkpoint} holds an unfinished run: pass --resume to continue it, or delete it to start over");
            }
            var saved = Checkpoint.Peek(paths.Checkpoint);
            if (saved.Fingerprint != options.Fingerprint())
            {
                throw new UserErrorException(
                    $"{paths.Checkpoint} was written by a run with other settings; delete it to start over with these");
            }
            var state = Checkpoint.Load(paths.Checkpoint, model, optimizer);
            history.AddRange(state.History);
            firstEpoch = state.EpochsDone;
        }

        using var trainX = tensor(train.Pixels.ToArray(), [train.Count, train.Channels, train.Height, train.Width]).to(device);
        using var trainY = tensor(train.Labels.ToArray()).to(device);
        using var testX = tensor(test.Pixels.ToArray(), [test.Count, test.Channels, test.Height, test.Width]).to(device);
        using var testY = tensor(test.Labels.ToArray()).to(device);
        int batches = (train.Count + options.BatchSize - 1) / options.BatchSize;
        progress.RunStarted(firstEpoch, options.Epochs, batches);

        for (int epoch = firstEpoch; epoch < options.Epochs; epoch++)
        {
            var metrics = TrainEpoch(model, optimizer, trainX, trainY, testX, testY, epoch, batches);
            history.Add(metrics);
            Checkpoint.Save(paths.Checkpoint, model, optimizer, new Checkpoint(epoch + 1, options.Fingerprint(), history));
            WriteMetrics(history);
            progress.EpochDone(metrics);
        }

        double accuracy = Accuracy(model, testX, testY);
        var card = Card(spec, mean, std, accuracy);
        OnnxFiles.Save(OnnxExporter.Export(model, card), paths.Model);
        WriteMetrics(history);
        File.Delete(paths.Checkpoint);
        return new TrainingResult(paths, history, accuracy, card);
    }

    private EpochMetrics TrainEpoch(Network model, Sgd optimizer, Tensor trainX, Tensor trainY, Tensor testX, Tensor testY, int epoch, int batches)
    {
        var clock = Stopwatch.StartNew();
        double rate = options.LearningRates.RateAt(epoch);
        double? threshold = options.Method == TrainingMethod.Dynamic
            ? Fosc.Threshold(options.CMax, epoch, options.RampEpochs > 0 ? options.RampEpochs : options.Epochs * 5.0 / 6.0)
            : null;
        // The epoch's order goes to the device once: a copy per batch from pageable memory would make a GPU wait.
        using var shuffled = tensor(Shuffle(train.Count, epoch));
        using var order = shuffled.to(device);
        // Sums stay on the device and are read when the progress display is due (the first and last batch, and every
        // ProgressInterval): reading a value after every batch would make a GPU wait for each batch to finish.
        using var lossSum = zeros(1, dtype: ScalarType.Float64, device: device);
        using var correct = zeros(1, dtype: ScalarType.Int64, device: device);
        using var foscSum = zeros(1, dtype: ScalarType.Float64, device: device);
        using var stepsSum = zeros(1, dtype: ScalarType.Int64, device: device);
        long seen = 0;
        var lastReport = TimeSpan.Zero;

        for (int b = 0; b < batches; b++)
        {
            using var scope = NewDisposeScope();
            manual_seed(BatchSeed(epoch, b));
            if (device.type == DeviceType.CUDA)
            {
                cuda.manual_seed_all(BatchSeed(epoch, b));
            }
            int start = b * options.BatchSize;
            int count = Math.Min(options.BatchSize, train.Count - start);
            var index = order.narrow(0, start, count);
            var x = trainX.index_select(0, index);
            var y = trainY.index_select(0, index);

            var logits = TrainBatch(model, optimizer, x, y, rate, threshold, foscSum, stepsSum, out var loss);
            lossSum.add_(loss.to_type(ScalarType.Float64) * count);
            correct.add_(logits.argmax(1).eq(y).sum());
            seen += count;
            if (b == 0 || b == batches - 1 || clock.Elapsed - lastReport >= ProgressInterval)
            {
                lastReport = clock.Elapsed;
                progress.BatchDone(epoch, b, lossSum.item<double>() / seen, (double)correct.item<long>() / seen, seen / clock.Elapsed.TotalSeconds);
            }
        }
        double seconds = clock.Elapsed.TotalSeconds;
        double accuracy = Accuracy(model, testX, testY);
        bool iterative = options.Method.IsIterative();
        return new EpochMetrics
        {
            Epoch = epoch + 1,
            LearningRate = rate,
            TrainLoss = lossSum.item<double>() / seen,
            TrainAccuracy = (double)correct.item<long>() / seen,
            TestAccuracy = accuracy,
            FoscThreshold = threshold,
            MeanFosc = iterative ? foscSum.item<double>() / seen : null,
            MeanSteps = iterative ? (double)stepsSum.item<long>() / seen : null,
            Seconds = seconds,
            ImagesPerSecond = seen / seconds,
        };
    }

    /// <summary>The examples θ is updated on for one minibatch, by method: the clean batch (standard), its single
    /// steepest-ascent perturbation (robust, Algorithm 1), both (mix: Trained is the clean batch, Extra the perturbed
    /// one), or its PGD iterate (pgd, dynamic). The attack runs in evaluation mode.</summary>
    internal sealed record BatchExamples(Tensor Trained, Tensor? Extra, PgdResult? Pgd);

    internal BatchExamples Examples(Network model, Tensor x, Tensor y, double? threshold)
    {
        if (!options.Method.IsAdversarial())
        {
            return new BatchExamples(x, null, null);
        }
        model.eval();
        try
        {
            switch (options.Method)
            {
                case TrainingMethod.Robust:
                    return new BatchExamples(AdversarialExamples.SingleStep(model, x, y, options.Ball, options.Eps, options.Clip), null, null);
                case TrainingMethod.Mix:
                    return new BatchExamples(x, AdversarialExamples.SingleStep(model, x, y, options.Ball, options.Eps, options.Clip), null);
                default:
                    var pgd = AdversarialExamples.Pgd(model, x, y, options.Ball, options.Eps, options.StepSize, options.Steps, threshold);
                    return new BatchExamples(pgd.Adversarial, null, pgd);
            }
        }
        finally
        {
            model.train();
        }
    }

    /// <summary>
    /// One SGD update on a minibatch with the method's examples (<see cref="Examples"/>) and loss — cross-entropy on
    /// them, or Goodfellow's α·J(x) + (1 − α)·J(x + Δ) for mix. Returns the logits of the examples trained on and the
    /// loss (detached); PGD's FOSC and step counts are added to the sums when given.
    /// </summary>
    internal Tensor TrainBatch(Network model, Sgd optimizer, Tensor x, Tensor y, double rate, double? threshold,
        Tensor? foscSum, Tensor? stepsSum, out Tensor loss)
    {
        var examples = Examples(model, x, y, threshold);
        if (examples.Pgd is { } pgd)
        {
            foscSum?.add_(pgd.Fosc.sum().to_type(ScalarType.Float64));
            stepsSum?.add_(pgd.StepsTaken.sum());
        }
        model.train();
        var logits = model.forward(examples.Trained);
        var objective = cross_entropy(logits, y);
        if (examples.Extra is { } extra)
        {
            objective = options.Alpha * objective + (1 - options.Alpha) * cross_entropy(model.forward(extra), y);
        }
        optimizer.ZeroGrad();
        objective.backward();
        optimizer.Step(rate);
        loss = objective.detach();
        return logits;
    }

    /// <summary>Clean accuracy in evaluation mode, in batches.</summary>
    public static double Accuracy(Network model, Tensor x, Tensor y)
    {
        model.eval();
        using var _ = no_grad();
        long correct = 0;
        long n = x.shape[0];
        for (long start = 0; start < n; start += EvaluationBatch)
        {
            using var scope = NewDisposeScope();
            long count = Math.Min(EvaluationBatch, n - start);
            var logits = model.forward(x.narrow(0, start, count));
            correct += logits.argmax(1).eq(y.narrow(0, start, count)).sum().item<long>();
        }
        return (double)correct / n;
    }

    private long[] Shuffle(int count, int epoch)
    {
        var order = new long[count];
        for (int i = 0; i < count; i++)
        {
            order[i] = i;
        }
        var random = new Random(unchecked(options.Seed * 1_000_003 + epoch));
        random.Shuffle(order);
        return order;
    }

    private long BatchSeed(int epoch, int batch) => options.Seed * 1_000_003L + epoch * 10_007L + batch;

    private ModelCard Card(NetworkSpec spec, float[] mean, float[] std, double accuracy)
    {
        var settings = new Dictionary<string, string>
        {
            ["batch_size"] = options.BatchSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["lr"] = ModelCard.Format(options.LearningRate),
            ["lr_schedule"] = options.Schedule,
            ["momentum"] = ModelCard.Format(options.Momentum),
            ["weight_decay"] = ModelCard.Format(options.WeightDecay),
            ["seed"] = options.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["train_data"] = train.Source,
            ["device"] = device.type == DeviceType.CUDA ? "cuda" : "cpu",
        };
        switch (options.Method)
        {
            case TrainingMethod.Robust or TrainingMethod.Mix:
                settings["clip"] = options.Clip ? "true" : "false";
                if (options.Norm == NormKind.L1)
                {
                    settings["pixels"] = options.Pixels.ToString(System.Globalization.CultureInfo.InvariantCulture);
                }
                if (options.Method == TrainingMethod.Mix)
                {
                    settings["alpha"] = ModelCard.Format(options.Alpha);
                }
                break;
            case TrainingMethod.Pgd or TrainingMethod.Dynamic:
                settings["steps"] = options.Steps.ToString(System.Globalization.CultureInfo.InvariantCulture);
                settings["step_size"] = ModelCard.Format(options.StepSize);
                if (options.Method == TrainingMethod.Dynamic)
                {
                    settings["c_max"] = ModelCard.Format(options.CMax);
                    settings["ramp_epochs"] = ModelCard.Format(options.RampEpochs > 0 ? options.RampEpochs : options.Epochs * 5.0 / 6.0);
                }
                break;
        }
        return new ModelCard
        {
            Name = modelName ?? Path.GetFileNameWithoutExtension(paths.Model),
            Architecture = spec.Name,
            Dataset = options.Data,
            ClassNames = train.ClassNames,
            Mean = mean,
            Std = std,
            Method = options.Method.Name(),
            Norm = options.Method.IsAdversarial() ? options.Norm.Name() : null,
            Eps = options.Method.IsAdversarial() ? options.Eps : null,
            Epochs = options.Epochs,
            CleanAccuracy = accuracy,
            TestData = test.Source,
            TrainerVersion = TrainerInfo.Version,
            Settings = settings,
        };
    }

    private void WriteMetrics(IReadOnlyList<EpochMetrics> history)
    {
        var text = new StringBuilder();
        foreach (var metrics in history)
        {
            text.Append(JsonSerializer.Serialize(metrics)).Append('\n');
        }
        AtomicFile.WriteAllText(paths.Metrics, text.ToString());
    }
}
