using System.Text.Json.Serialization;
using RobustEval.Data;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Transfer;

/// <summary>A model's accuracy on a transfer set (overall and per norm) beside its clean accuracy: a row of Table 1/2.</summary>
internal sealed record TransferResult
{
    [JsonPropertyName("model")]
    public required string Model { get; init; }

    [JsonPropertyName("name")]
    public required string Name { get; init; }

    [JsonPropertyName("clean_accuracy")]
    public double? CleanAccuracy { get; init; }

    /// <summary>Images the clean accuracy was measured on (the set's own data: as many as it was built from).</summary>
    [JsonPropertyName("clean_examples")]
    public int? CleanExamples { get; init; }

    [JsonPropertyName("transfer_accuracy")]
    public required double TransferAccuracy { get; init; }

    /// <summary>Accuracy on each norm's examples, keyed l1 / l2 / linf.</summary>
    [JsonPropertyName("per_norm")]
    public required IReadOnlyDictionary<string, double> PerNorm { get; init; }

    [JsonPropertyName("examples")]
    public required int Examples { get; init; }

    /// <summary>Reasons the clean accuracy says the model is fed wrongly (see FeedingProbe).</summary>
    [JsonPropertyName("warnings")]
    public IReadOnlyList<Attacks.ReliabilityFlag> Warnings { get; init; } = [];
}

internal static class TransferEvaluation
{
    /// <summary>Refuses a model whose classes cannot be matched with the set's, unless it has a label map.</summary>
    public static void CheckLabels(Classifier classifier, TransferSet set)
    {
        if (classifier.Preprocessing.LabelMap is not null)
        {
            return;
        }
        int setClasses = set.Manifest.ClassNames.Count;
        if (classifier.Classes != setClasses)
        {
            throw new UserErrorException(
                $"{classifier.Path} has {classifier.Classes} classes but the transfer set has {setClasses}; give a label map (label_map in {Preprocessing.SidecarPath(classifier.Path)})");
        }
        if (classifier.Card?.ClassNames is { } names && !names.SequenceEqual(set.Manifest.ClassNames))
        {
            throw new UserErrorException(
                $"{classifier.Path} orders its classes ({string.Join(", ", names.Take(4))}, …) differently from the transfer set ({string.Join(", ", set.Manifest.ClassNames.Take(4))}, …); give a label map");
        }
    }

    public static TransferResult Evaluate(PredictionSession session, TransferSet set, Dataset? clean)
    {
        var classifier = session.Classifier;
        CheckLabels(classifier, set);
        var predictions = session.Predict(set.Adversarial, set.Count);
        var perNorm = new Dictionary<string, double>();
        int correct = 0;
        foreach (var group in Enumerable.Range(0, set.Count).GroupBy(i => set.Norms[i]).OrderBy(g => g.Key))
        {
            int right = group.Count(i => predictions[i] == classifier.ModelLabel(set.Labels[i]));
            perNorm[((NormKind)group.Key).Name()] = (double)right / group.Count();
            correct += right;
        }
        return new TransferResult
        {
            Model = classifier.Path,
            Name = classifier.Name,
            CleanAccuracy = clean is null ? null : session.Accuracy(clean),
            CleanExamples = clean?.Count,
            TransferAccuracy = set.Count == 0 ? 0 : (double)correct / set.Count,
            PerNorm = perNorm,
            Examples = set.Count,
        };
    }
}
