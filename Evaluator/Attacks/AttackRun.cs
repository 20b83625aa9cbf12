using System.Diagnostics;
using RobustEval.Data;
using RobustEval.Evaluator.Runtime;

namespace RobustEval.Evaluator.Attacks;

/// <summary>An attack over a whole dataset: every example's outcome, plus the time it took.</summary>
internal sealed class AttackRun
{
    public required Dataset Data { get; init; }

    public required AttackConfig Config { get; init; }

    /// <summary>Labels in the model's class indices (through the label map).</summary>
    public required long[] Labels { get; init; }

    public required float[] Adversarial { get; init; }

    public required long[] CleanPrediction { get; init; }

    public required long[] AdversarialPrediction { get; init; }

    public required float[] AdversarialLoss { get; init; }

    public required double[] PerturbationNorm { get; init; }

    public required double[] Fosc { get; init; }

    public required bool[] ZeroGradient { get; init; }

    public required bool[] NonFinite { get; init; }

    public required double Seconds { get; init; }

    public required long Evaluations { get; init; }

    public int Count => Labels.Length;

    /// <summary>Runs <paramref name="attack"/> over <paramref name="data"/> in batches, reporting examples done.</summary>
    public static AttackRun Execute(GradientSession session, IAttack attack, Dataset data, int batchSize, IProgress<int>? progress = null)
    {
        var classifier = session.Classifier;
        classifier.CheckData(data);
        int size = classifier.ImageSize;
        int n = data.Count;
        int batch = classifier.FixedBatch is { } fixedBatch ? (int)fixedBatch : Math.Max(1, Math.Min(batchSize, n));
        var labels = new long[n];
        for (int i = 0; i < n; i++)
        {
            labels[i] = classifier.ModelLabel(data.Label(i));
        }
        var adversarial = new float[(long)n * size];
        var cleanPrediction = new long[n];
        var adversarialPrediction = new long[n];
        var adversarialLoss = new float[n];
        var perturbationNorm = new double[n];
        var fosc = new double[n];
        var zeroGradient = new bool[n];
        var nonFinite = new bool[n];
        long evaluationsBefore = session.Evaluations;
        var clock = Stopwatch.StartNew();
        var images = new float[batch * size];
        var batchLabels = new long[batch];
        for (int start = 0, index = 0; start < n; start += batch, index++)
        {
            int count = Math.Min(batch, n - start);
            data.Pixels.Slice(start * size, count * size).CopyTo(images);
            labels.AsSpan(start, count).CopyTo(batchLabels);
            // A model with a fixed batch size gets full batches: the tail is padded with the first example, and ignored.
            int width = classifier.FixedBatch is null ? count : batch;
            for (int pad = count; pad < width; pad++)
            {
                images.AsSpan(0, size).CopyTo(images.AsSpan(pad * size, size));
                batchLabels[pad] = batchLabels[0];
            }
            var result = attack.Run(images.AsSpan(0, width * size), batchLabels.AsSpan(0, width), index);
            result.Adversarial.AsSpan(0, count * size).CopyTo(adversarial.AsSpan(start * size));
            result.CleanPrediction.AsSpan(0, count).CopyTo(cleanPrediction.AsSpan(start));
            result.AdversarialPrediction.AsSpan(0, count).CopyTo(adversarialPrediction.AsSpan(start));
            result.AdversarialLoss.AsSpan(0, count).CopyTo(adversarialLoss.AsSpan(start));
            result.PerturbationNorm.AsSpan(0, count).CopyTo(perturbationNorm.AsSpan(start));
            result.Fosc.AsSpan(0, count).CopyTo(fosc.AsSpan(start));
            result.ZeroGradient.AsSpan(0, count).CopyTo(zeroGradient.AsSpan(start));
            result.NonFinite.AsSpan(0, count).CopyTo(nonFinite.AsSpan(start));
            progress?.Report(start + count);
        }
        return new AttackRun
        {
            Data = data,
            Config = attack.Config,
            Labels = labels,
            Adversarial = adversarial,
            CleanPrediction = cleanPrediction,
            AdversarialPrediction = adversarialPrediction,
            AdversarialLoss = adversarialLoss,
            PerturbationNorm = perturbationNorm,
            Fosc = fosc,
            ZeroGradient = zeroGradient,
            NonFinite = nonFinite,
            Seconds = clock.Elapsed.TotalSeconds,
            Evaluations = session.Evaluations - evaluationsBefore,
        };
    }

    public AttackSummary Summarize() => AttackSummary.Of(this);
}
