using System.Diagnostics;
using RobustEval.Data;
using RobustEval.Evaluator.Classifiers;

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
    /// <remarks>
    /// Batch b draws its random starts from a sequence seeded by the attack's seed and <paramref name="firstBatch"/> + b,
    /// so the outcome is the same however the work is split, as long as the batches are: an ensemble runs each of
    /// its attacks' chunks with its own <paramref name="firstBatch"/>.
    /// </remarks>
    public static AttackRun Run(IAttack attack, Dataset data, int batchSize = 256, IProgress<double>? progress = null, int firstBatch = 0)
    {
        var sessions = attack.Sessions;
        var classifier = sessions.Classifier;
        var settings = attack.Settings;
        classifier.CheckData(data);
        int size = classifier.ImageSize;
        int n = data.Count;
        int batch = classifier.FixedBatch is { } fixedBatch ? (int)fixedBatch : Math.Max(1, Math.Min(batchSize, n));
        var labels = Enumerable.Range(0, n).Select(i => classifier.ModelLabel(data.Label(i))).ToArray();
        settings.Goal.CheckGiven(labels, classifier.Classes);
        var fixedTargets = settings.Goal.FixedTargets(labels, classifier.Classes, settings.Seed);
        var results = new AttackResults(n, size);
        var session = attack.NeedsGradients ? sessions.For(settings.Loss) : null;
        long evaluationsBefore = session?.Evaluations ?? 0, imagesBefore = sessions.GradientImageEvaluations, forwardBefore = sessions.ForwardImageEvaluations;
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
                new Random(unchecked(settings.Seed * 1_000_003 + firstBatch + index)), report);
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
            Evaluations = (session?.Evaluations ?? 0) - evaluationsBefore,
            ImageEvaluations = sessions.GradientImageEvaluations - imagesBefore,
            ForwardEvaluations = sessions.ForwardImageEvaluations - forwardBefore,
        };
    }

    /// <summary>
    /// Evaluates the clean images and fills each record's starting state: the clean image itself, not yet a success
    /// (so any outcome of the attack replaces it) — or, with early stopping, a success already when the clean image
    /// reaches the goal. Targets that depend on the clean logits (least likely, top-k) are fixed here.
    /// </summary>
    private static AttackBatch Prepare(IAttack attack, float[] images, long[] labels, long[]? targets, ResultSlice slice, Random random, Action<double>? report)
    {
        if (!attack.NeedsGradients)
        {
            return PrepareScoreBased(attack, images, labels, slice, random, report);
        }
        var session = attack.Sessions.For(attack.Settings.Loss);
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

    /// <summary>
    /// The clean evaluation of a score-based attack: forward passes only, the loss (the margin) computed from the
    /// scores, no gradient (so no zero-gradient flag and no FOSC).
    /// </summary>
    private static AttackBatch PrepareScoreBased(IAttack attack, float[] images, long[] labels, ResultSlice slice, Random random, Action<double>? report)
    {
        var settings = attack.Settings;
        if (settings.Goal.IsTargeted || settings.Loss != Gradients.Loss.Margin)
        {
            throw new InvalidOperationException("score-based attacks are untargeted and maximise the margin");
        }
        int count = labels.Length;
        var forward = attack.Sessions.Forward;
        int classes = forward.Classifier.Classes;
        int size = forward.Classifier.ImageSize;
        var logits = forward.Logits(images, count, count);
        for (int i = 0; i < count; i++)
        {
            var z = logits.AsSpan(i * classes, classes);
            long prediction = Scores.ArgMax(z);
            float loss = Scores.Margin(z, labels[i]);
            bool finite = float.IsFinite(loss);
            ref var record = ref slice[i];
            record = new ExampleResult
            {
                Label = labels[i],
                Target = -1,
                CleanPrediction = finite ? prediction : -1,
                Prediction = prediction,
                Loss = float.NegativeInfinity,
                Fosc = double.NaN,
                NonFinite = !finite,
            };
            images.AsSpan(i * size, size).CopyTo(slice.Image(i));
            if (settings.EarlyStop && prediction != labels[i])
            {
                slice.Offer(i, images.AsSpan(i * size, size), images.AsSpan(i * size, size), prediction, finite ? loss : float.NegativeInfinity, true, !finite,
                    [], settings.Ball, settings.Eps, -1);
            }
        }
        return new AttackBatch(images, labels, null, logits, null, random) { Progress = report };
    }
}
