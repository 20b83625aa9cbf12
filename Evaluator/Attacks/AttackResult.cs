namespace RobustEval.Evaluator.Attacks;

/// <summary>What an attack did to one batch: per example, the adversarial image and what the model made of it.</summary>
internal sealed class AttackResult
{
    public AttackResult(int count, int imageSize)
    {
        Count = count;
        Adversarial = new float[count * imageSize];
        CleanPrediction = new long[count];
        AdversarialPrediction = new long[count];
        CleanLoss = new float[count];
        AdversarialLoss = new float[count];
        PerturbationNorm = new double[count];
        Fosc = new double[count];
        ZeroGradient = new bool[count];
        NonFinite = new bool[count];
    }

    public int Count { get; }

    public float[] Adversarial { get; }

    public long[] CleanPrediction { get; }

    public long[] AdversarialPrediction { get; }

    public float[] CleanLoss { get; }

    public float[] AdversarialLoss { get; }

    /// <summary>‖x_adv − x‖ in the attack's norm.</summary>
    public double[] PerturbationNorm { get; }

    /// <summary>Wang et al.'s FOSC at the final iterate: how converged the inner maximisation is (0 = stationary).</summary>
    public double[] Fosc { get; }

    /// <summary>True where the clean image's gradient was exactly zero (a sign of masked gradients).</summary>
    public bool[] ZeroGradient { get; }

    /// <summary>True where the model produced NaN or infinite scores, loss or gradient at some point of the attack.</summary>
    public bool[] NonFinite { get; }
}
