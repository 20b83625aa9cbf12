using System.Diagnostics;
using RobustEval.Data;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// Runs an attack over a data set in batches: evaluates the clean images once (predictions, the clean gradient
/// attacks may start from, the zero-gradient and non-finite flags), fixes each example's target, and hands the
/// attack the examples that are still to be attacked (with early stopping, those the clean image does not already
/// fool), writing into one <see cref="AttackResults"/>.
/// </summary>
public static class AttackRunner
{
    /// <summary>
    /// Attacks every example of <paramref name="data"/> (labels are mapped to the model's classes through its
    /// label map). <paramref name="progress"/> receives the number of examples done, fractional within a batch.
    /// </summary>
    public static AttackRun Run(IAttack attack, Dataset data, int batchSize = 256, IProgress<double>? progress = null)
    {
        var session = attack.Session;
        var classifier = session.Classifier;
        var settings = attack.Settings;
        classifier.CheckData(data);
        int size = classifier.ImageSize;
        int n = data.Count;
        int batch = classifier.FixedBatch is { } fixedBatch ? (int)fixedBatch : Math.Max(1, Math.Min(batchSize, n));
        var labels = Enumerable.Range(0, n).Select(i => classifier.ModelLabel(data.Label(i))).ToArray();
        settings.Goal.CheckGiven(labels, classifier.Classes);
        var fixedTargets = settings.Goal.FixedTargets(labels, classifier.Classes, settings.Seed);
        var results = new AttackResults(n, size);
        long evaluationsBefore = session.Evaluations, imagesBefore = session.ImageEvaluations;
        var clock = Stopwatch.StartNew();
        for (int start = 0, index = 0; start < n; start += batch, index++)
        {
            int count = Math.Min(batch, n - start);
            var images = data.Pixels.Slice(start * size, count * size).ToArray();
            var batchLabels = labels.AsSpan(start, count).ToArray();
            var slice = results.Slice(start, count);
            int done = start;
            Action<double>? report = progress is null ? null : f => progress.Report(done + f * count);
            var prepared = Prepare(attack, images, batchLabels, fixedTargets?.AsSpan(start, count).ToArray(), slice,
                new Random(unchecked(settings.Seed * 1_000_003 + index)), report);
            // Only examples that are not already fooled by their clean image (which early stopping counts as done).
            SubRuns.Run(attack, prepared, slice, onlyUnfinished: true);
            progress?.Report(start + count);
        }
        return new AttackRun
        {
            Data = data,
            Settings = settings,
            Results = results,
            Seconds = clock.Elapsed.TotalSeconds,
            Evaluations = session.Evaluations - evaluationsBefore,
            ImageEvaluations = session.ImageEvaluations - imagesBefore,
        };
    }

    /// <summary>
    /// Evaluates the clean images and fills each record's starting state: the clean image itself, not yet a success
    /// (so any outcome of the attack replaces it) — or, with early stopping, a success already when the clean image
    /// reaches the goal. Targets that depend on the clean logits (least likely, top-k) are fixed here.
    /// </summary>
    private static AttackBatch Prepare(IAttack attack, float[] images, long[] labels, long[]? targets, ResultSlice slice, Random random, Action<double>? report)
    {
        var session = attack.Session;
        var settings = attack.Settings;
        int count = labels.Length;
        int classes = session.Classifier.Classes;
        var stand = new AttackBatch(images, labels, targets ?? (session.Loss.Targeted ? labels : null), new float[count * classes], null, random);
        var evaluator = new BatchEvaluator(session, stand);
        evaluator.EvaluateAll(images);
        if (targets is null && settings.Goal.Targets is TargetChoice.LeastLikely or TargetChoice.TopK)
        {
            targets = new long[count];
            for (int i = 0; i < count; i++)
            {
                targets[i] = settings.Goal.Targets == TargetChoice.LeastLikely
                    ? Goal.LeastLikelyClass(evaluator.Logits(i), labels[i])
                    : Goal.WrongClassOfRank(evaluator.Logits(i), labels[i], 1);
            }
            // The clean gradient of a targeted loss depends on the target: evaluate again now that it is known.
            stand = new AttackBatch(images, labels, targets, stand.CleanLogits, null, random);
            evaluator = new BatchEvaluator(session, stand);
            evaluator.EvaluateAll(images);
        }
        int size = stand.ImageSize;
        var logits = new float[count * classes];
        var gradient = new float[count * size];
        for (int i = 0; i < count; i++)
        {
            evaluator.Logits(i).CopyTo(logits.AsSpan(i * classes));
            evaluator.Gradient(i).CopyTo(gradient.AsSpan(i * size));
            long prediction = evaluator.Prediction(i);
            long target = targets?[i] ?? -1;
            ref var record = ref slice[i];
            record = new ExampleResult
            {
                Label = labels[i],
                Target = target,
                CleanPrediction = prediction,
                Prediction = prediction,
                Loss = float.NegativeInfinity,
                ZeroGradient = !evaluator.Gradient(i).ContainsAnyExcept(0f),
                NonFinite = evaluator.NonFinite(i),
            };
            images.AsSpan(i * size, size).CopyTo(slice.Image(i));
            if (settings.EarlyStop && settings.Goal.Reached(prediction, labels[i], target))
            {
                slice.Offer(i, images.AsSpan(i * size, size), images.AsSpan(i * size, size), prediction, evaluator.Loss(i), true, false,
                    evaluator.Gradient(i), settings.Ball, settings.Eps, target);
            }
        }
        return new AttackBatch(images, labels, targets, logits, gradient, random) { Progress = report };
    }
}
