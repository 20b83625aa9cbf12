namespace RobustEval.Geometry;

/// <summary>
/// Wang et al.'s First-Order Stationary Condition for the inner maximisation of adversarial training:
/// c(x) = ε · ‖∇ₓJ(x)‖_q − ⟨x − x⁰, ∇ₓJ(x)⟩, with q the dual of the ball's norm (ℓ∞ → ℓ1, as in the paper).
/// It is ≥ 0 for every x in the ball, and 0 exactly where x maximises the linearised loss — so it measures
/// how well an adversarial example has converged.
/// </summary>
public static class Fosc
{
    public static double Compute(NormBall ball, float eps, ReadOnlySpan<float> x, ReadOnlySpan<float> x0, ReadOnlySpan<float> gradient)
    {
        double inner = 0;
        for (int i = 0; i < gradient.Length; i++)
        {
            inner += ((double)x[i] - x0[i]) * gradient[i];
        }
        return eps * ball.DualNorm(gradient) - inner;
    }

    /// <summary>
    /// The dynamic-training threshold c_t = max(c_max · (1 − t / T′), 0): generous early in training, when weak
    /// adversarial examples help, and zero (fully converged examples) from epoch T′ on.
    /// </summary>
    public static double Threshold(double cMax, double epoch, double rampEpochs) =>
        rampEpochs <= 0 ? 0 : Math.Max(cMax * (1 - epoch / rampEpochs), 0);
}
