using System.Text.Json.Serialization;

namespace RobustEval.Evaluator.Attacks;

/// <summary>The numbers an attack run is judged by; <c>results.json</c> holds them under these names.</summary>
internal sealed record AttackSummary
{
    [JsonPropertyName("examples")]
    public int Examples { get; init; }

    [JsonPropertyName("clean_accuracy")]
    public double CleanAccuracy { get; init; }

    /// <summary>Share of all examples still classified correctly after the attack (robust accuracy).</summary>
    [JsonPropertyName("adversarial_accuracy")]
    public double AdversarialAccuracy { get; init; }

    /// <summary>Share of the correctly classified examples the attack turned into errors.</summary>
    [JsonPropertyName("success_rate")]
    public double SuccessRate { get; init; }

    [JsonPropertyName("successes")]
    public int Successes { get; init; }

    [JsonPropertyName("mean_perturbation_norm")]
    public double MeanPerturbationNorm { get; init; }

    [JsonPropertyName("max_perturbation_norm")]
    public double MaxPerturbationNorm { get; init; }

    /// <summary>Mean perturbation over the successful examples only (null when there are none).</summary>
    [JsonPropertyName("mean_successful_perturbation_norm")]
    public double? MeanSuccessfulPerturbationNorm { get; init; }

    [JsonPropertyName("mean_fosc")]
    public double MeanFosc { get; init; }

    [JsonPropertyName("zero_gradient_fraction")]
    public double ZeroGradientFraction { get; init; }

    /// <summary>Share of images for which the model gave NaN or infinite scores or gradients.</summary>
    [JsonPropertyName("non_finite_fraction")]
    public double NonFiniteFraction { get; init; }

    [JsonPropertyName("seconds")]
    public double Seconds { get; init; }

    [JsonPropertyName("images_per_second")]
    public double ImagesPerSecond { get; init; }

    /// <summary>Forward-and-backward passes over a batch.</summary>
    [JsonPropertyName("model_evaluations")]
    public long Evaluations { get; init; }

    public static AttackSummary Of(AttackRun run)
    {
        int n = run.Count;
        int cleanCorrect = 0, adversarialCorrect = 0, successes = 0, zero = 0, nonFinite = 0;
        double normSum = 0, normMax = 0, successfulNormSum = 0, foscSum = 0;
        for (int i = 0; i < n; i++)
        {
            bool clean = run.CleanPrediction[i] == run.Labels[i];
            bool adversarial = run.AdversarialPrediction[i] == run.Labels[i];
            cleanCorrect += clean ? 1 : 0;
            adversarialCorrect += clean && adversarial ? 1 : 0;
            if (clean && !adversarial)
            {
                successes++;
                successfulNormSum += run.PerturbationNorm[i];
            }
            normSum += run.PerturbationNorm[i];
            normMax = Math.Max(normMax, run.PerturbationNorm[i]);
            foscSum += double.IsFinite(run.Fosc[i]) ? run.Fosc[i] : 0;
            zero += run.ZeroGradient[i] ? 1 : 0;
            nonFinite += run.NonFinite[i] ? 1 : 0;
        }
        return new AttackSummary
        {
            Examples = n,
            CleanAccuracy = (double)cleanCorrect / n,
            AdversarialAccuracy = (double)adversarialCorrect / n,
            SuccessRate = cleanCorrect == 0 ? 0 : (double)successes / cleanCorrect,
            Successes = successes,
            MeanPerturbationNorm = normSum / n,
            MaxPerturbationNorm = normMax,
            MeanSuccessfulPerturbationNorm = successes == 0 ? null : successfulNormSum / successes,
            MeanFosc = foscSum / n,
            ZeroGradientFraction = (double)zero / n,
            NonFiniteFraction = (double)nonFinite / n,
            Seconds = run.Seconds,
            ImagesPerSecond = run.Seconds > 0 ? n / run.Seconds : 0,
            Evaluations = run.Evaluations,
        };
    }
}
