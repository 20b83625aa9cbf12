namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// What an attack did to one example — the one record that flows from the attack to the summary, results.json,
/// adversarial.npz and the report. The adversarial image itself sits beside it in <see cref="AttackResults"/>.
/// </summary>
public struct ExampleResult
{
    /// <summary>The true class, as the model's index.</summary>
    public long Label;

    /// <summary>The class the attack aimed at (−1: untargeted).</summary>
    public long Target;

    /// <summary>The model's prediction on the clean image (−1 when its scores were not finite).</summary>
    public long CleanPrediction;

    /// <summary>The model's prediction on the adversarial image.</summary>
    public long Prediction;

    /// <summary>The attack's loss at the adversarial image (−∞ until a point was evaluated, or when it was not finite).</summary>
    public float Loss;

    /// <summary>‖x_adv − x‖ in the attack's norm.</summary>
    public double PerturbationNorm;

    /// <summary>Wang et al.'s FOSC at the adversarial image: how converged the inner maximisation is (0 = stationary).</summary>
    public double Fosc;

    /// <summary>FOSC relative to its largest value at the clean image, ε‖∇‖_q: 0 converged, 1 no better than the start (NaN: no gradient).</summary>
    public double RelativeFosc;

    /// <summary>True where the clean image's gradient of the attack's loss was exactly zero (a sign of masked gradients).</summary>
    public bool ZeroGradient;

    /// <summary>True where the model produced NaN or infinite scores, loss or gradient at some point of the attack.</summary>
    public bool NonFinite;

    /// <summary>True when the adversarial image reaches the goal (a wrong class, or the target).</summary>
    public bool Success;

    /// <summary>Correct on the clean image.</summary>
    public readonly bool CleanCorrect => CleanPrediction == Label;

    /// <summary>Correct on the clean image and still correct on the adversarial one (counts towards robust accuracy).</summary>
    public readonly bool Robust => CleanCorrect && Prediction == Label;

    /// <summary>
    /// Whether this outcome is a worse case for the model than <paramref name="current"/>: reaching the goal beats not
    /// reaching it; otherwise the higher loss wins. Restarts, target sweeps and ensembles all keep cases by this rule.
    /// </summary>
    public readonly bool IsBetterThan(in ExampleResult current) =>
        (Success && !current.Success) || (Success == current.Success && Loss > current.Loss);
}
