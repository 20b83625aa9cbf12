using System.Globalization;
using RobustEval.Data;
using RobustEval.Evaluator.Runtime;
using RobustEval.Evaluator.Classifiers;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// When a clean accuracy says the model is being fed wrongly (<see cref="ReliabilityFlag.CleanAccuracy"/>), finds
/// out why: it classifies the first images again under the usual alternatives — inputs in [0, 255] or [−1, 1],
/// ImageNet's mean and std — and names the one that makes the accuracy sane, else the data set as the suspect.
/// Runs only when the accuracy is already bad, so a correct run pays nothing for it.
/// </summary>
internal static class FeedingProbe
{
    /// <summary>Images each alternative is tried on.</summary>
    public const int ProbeImages = 200;

    private static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    private static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];

    /// <summary>The flag for <paramref name="correct"/> of <paramref name="examples"/> on <paramref name="data"/>, with the likely cause as its advice; null when the accuracy looks sane.</summary>
    public static ReliabilityFlag? Check(Classifier classifier, Dataset data, int correct, int examples, OrtSessions sessions)
    {
        var flag = ReliabilityFlag.CleanAccuracy(correct, examples, data.ClassCount, classifier.Card?.CleanAccuracy);
        return flag is null ? null : flag with { Advice = LikelyCause(classifier, data, (double)correct / examples, sessions) };
    }

    /// <summary><see cref="Check"/> for an accuracy measured on all of <paramref name="data"/>.</summary>
    public static ReliabilityFlag? Check(Classifier classifier, Dataset data, double accuracy, OrtSessions sessions) =>
        Check(classifier, data, (int)Math.Round(accuracy * data.Count), data.Count, sessions);

    private static string LikelyCause(Classifier classifier, Dataset data, double accuracy, OrtSessions sessions)
    {
        var probe = data.Take(ProbeImages);
        var current = classifier.Preprocessing;
        (string Options, double Accuracy)? best = null;
        foreach (var (options, candidate) in Candidates(current, classifier.Channels))
        {
            double candidateAccuracy;
            try
            {
                var alternative = ClassifierLoader.Reload(classifier, candidate, sessions);
                using var prediction = new PredictionSession(alternative, sessions);
                candidateAccuracy = prediction.Accuracy(probe);
            }
            catch (UserErrorException)
            {
                continue;
            }
            if (best is null || candidateAccuracy > best.Value.Accuracy)
            {
                best = (options, candidateAccuracy);
            }
        }
        if (best is { } found && found.Accuracy >= accuracy + 0.2)
        {
            return $"with {found.Options} the clean accuracy is {found.Accuracy:P1} on the first {probe.Count:N0} images: the model probably expects {found.Options}";
        }
        var dataset = classifier.Card?.Dataset is { } name ? $" (the model card says it was trained on {name})" : "";
        var tried = classifier.Channels == 3 ? "inputs in [0,1], [0,255] and [−1,1], and ImageNet's mean/std" : "inputs in [0,1], [0,255] and [−1,1]";
        return $"no usual input range or mean/std fixes it (tried {tried}): " +
            $"check that the data ({data.Source}) are the model's data set{dataset}, its label order (--label-map) and its layout (--layout)";
    }

    /// <summary>The usual ways a model wants its input, except the one in use, as the options that select them.</summary>
    private static IEnumerable<(string Options, Preprocessing Candidate)> Candidates(Preprocessing current, int channels)
    {
        var plain = current with { Mean = null, Std = null, Source = "probe" };
        (float Min, float Max)[] ranges = [(0, 1), (0, 255), (-1, 1)];
        foreach (var (min, max) in ranges)
        {
            var candidate = plain with { InputMin = min, InputMax = max };
            if (!Same(candidate, current))
            {
                yield return ($"--input-range {Format(min)},{Format(max)}", candidate);
            }
        }
        if (channels == 3)
        {
            foreach (var (min, max, scale) in new (float, float, float)[] { (0, 1, 1), (0, 255, 255) })
            {
                var candidate = plain with
                {
                    InputMin = min,
                    InputMax = max,
                    Mean = ImageNetMean.Select(m => m * scale).ToArray(),
                    Std = ImageNetStd.Select(s => s * scale).ToArray(),
                };
                if (!Same(candidate, current))
                {
                    var range = max == 1 ? "" : $"--input-range {Format(min)},{Format(max)} ";
                    yield return ($"{range}--mean {string.Join(',', candidate.Mean.Select(Format))} --std {string.Join(',', candidate.Std.Select(Format))}", candidate);
                }
            }
        }
    }

    private static bool Same(Preprocessing a, Preprocessing b) =>
        a.InputMin == b.InputMin && a.InputMax == b.InputMax
        && (a.Mean ?? []).SequenceEqual(b.Mean ?? []) && (a.Std ?? []).SequenceEqual(b.Std ?? []);

    private static string Format(float value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}
