using System.Text.Json.Serialization;

namespace RobustEval.Trainer.Training;

/// <summary>One line of the <c>*.metrics.jsonl</c> log: what an epoch did. The report's training curves read it.</summary>
internal sealed record EpochMetrics
{
    [JsonPropertyName("epoch")]
    public int Epoch { get; init; }

    [JsonPropertyName("lr")]
    public double LearningRate { get; init; }

    /// <summary>Mean loss over the examples θ was updated on (the perturbed ones for adversarial methods).</summary>
    [JsonPropertyName("train_loss")]
    public double TrainLoss { get; init; }

    /// <summary>Accuracy on the examples θ was updated on (the clean half for mix).</summary>
    [JsonPropertyName("train_accuracy")]
    public double TrainAccuracy { get; init; }

    [JsonPropertyName("test_accuracy")]
    public double TestAccuracy { get; init; }

    /// <summary>Dynamic training: the FOSC threshold c_t of this epoch.</summary>
    [JsonPropertyName("fosc_threshold")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? FoscThreshold { get; init; }

    /// <summary>PGD and dynamic training: mean FOSC of the adversarial examples trained on (at their final iterate).</summary>
    [JsonPropertyName("mean_fosc")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? MeanFosc { get; init; }

    /// <summary>PGD and dynamic training: mean number of steps an example moved.</summary>
    [JsonPropertyName("mean_steps")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? MeanSteps { get; init; }

    [JsonPropertyName("seconds")]
    public double Seconds { get; init; }

    [JsonPropertyName("images_per_second")]
    public double ImagesPerSecond { get; init; }
}
