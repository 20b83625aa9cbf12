using System.Text.Json.Serialization;

namespace RobustEval.Evaluator.Attacks;

/// <summary>The numbers an attack run is judged by; <c>results.json</c> holds them under these names.</summary>
public sealed record AttackSummary
{
    [JsonPropertyName("examples")]
    public int Examples { get; init; }

    [JsonPropertyName("clean_accuracy")]
    public double CleanAccuracy { get; init; }

    /// <summary>Share of all examples still classified correctly after the attack (robust accuracy).</summary>
    [JsonPropertyName("adversarial_accuracy")]
    public double AdversarialAccuracy { get; init; }

    /// <summary>Share of the correctly classified examples the attack turned into errors (for a targeted goal: into their target).</summary>
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

    /// <summary>Images those passes covered (forward and backward per image): the work, which early stopping shrinks.</summary>
    [JsonPropertyName("image_evaluations")]
    public long ImageEvaluations { get; init; }

    /// <summary>Images evaluated forward only (the queries of a score-based attack such as Square).</summary>
    [JsonPropertyName("forward_evaluations")]
    public long ForwardEvaluations { get; init; }

    public static AttackSummary Of(AttackRun run)
    {
        int n = run.Count;
        int cleanCorrect = 0, adversarialCorrect = 0, successes = 0, zero = 0, nonFinite = 0;
        double normSum = 0, normMax = 0, successfulNormSum = 0, foscSum = 0;
        foreach (var e in run.Results.Examples)
        {
            cleanCorrect += e.CleanCorrect ? 1 : 0;
            adversarialCorrect += e.Robust ? 1 : 0;
            // A success is a correctly classified image the attack fooled (for a targeted goal: sent to its target).
            if (e.CleanCorrect && e.Success)
            {
                successes++;
                successfulNormSum += e.PerturbationNorm;
            }
            normSum += e.PerturbationNorm;
            normMax = Math.Max(normMax, e.PerturbationNorm);
            foscSum += double.IsFinite(e.Fosc) ? e.Fosc : 0;
            zero += e.ZeroGradient ? 1 : 0;
            nonFinite += e.NonFinite ? 1 : 0;
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
            ImageEvaluations = run.ImageEvaluations,
            ForwardEvaluations = run.ForwardEvaluations,
        };
    }
}
