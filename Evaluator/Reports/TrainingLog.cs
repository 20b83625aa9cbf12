using System.Text.Json;
using System.Text.Json.Serialization;

namespace RobustEval.Evaluator.Reports;

/// <summary>One epoch of a trainer's <c>*.metrics.jsonl</c> log (the fields a report draws).</summary>
internal sealed record TrainingEpoch
{
    [JsonPropertyName("epoch")]
    public int Epoch { get; init; }

    [JsonPropertyName("train_accuracy")]
    public double TrainAccuracy { get; init; }

    [JsonPropertyName("test_accuracy")]
    public double TestAccuracy { get; init; }

    [JsonPropertyName("fosc_threshold")]
    public double? FoscThreshold { get; init; }

    [JsonPropertyName("mean_fosc")]
    public double? MeanFosc { get; init; }

    [JsonPropertyName("images_per_second")]
    public double ImagesPerSecond { get; init; }

    [JsonPropertyName("seconds")]
    public double Seconds { get; init; }
}

internal static class TrainingLog
{
    /// <summary>The log beside a model (MODEL.metrics.jsonl), or null when there is none or it cannot be read.</summary>
    public static IReadOnlyList<TrainingEpoch>? Find(string modelPath)
    {
        var path = Path.ChangeExtension(modelPath, ".metrics.jsonl");
        if (!File.Exists(path))
        {
            return null;
        }
        var epochs = new List<TrainingEpoch>();
        foreach (var line in File.ReadLines(path).Where(l => l.Trim().Length > 0).Take(100_000))
        {
            try
            {
                if (JsonSerializer.Deserialize<TrainingEpoch>(line) is { } epoch)
                {
                    epochs.Add(epoch);
                }
            }
            catch (JsonException)
            {
                return null;
            }
        }
        return epochs.Count > 0 ? epochs : null;
    }
}
