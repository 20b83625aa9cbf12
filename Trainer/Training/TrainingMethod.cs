namespace RobustEval.Trainer.Training;

/// <summary>How each minibatch is turned into the examples θ is updated on.</summary>
internal enum TrainingMethod
{
    /// <summary>Clean data only.</summary>
    Standard,

    /// <summary>Shaham et al., Algorithm 1: every minibatch replaced by its single steepest-ascent perturbation (eq. 11).</summary>
    Robust,

    /// <summary>Goodfellow et al., eq. 3: α·J(x) + (1 − α)·J(x + Δ).</summary>
    Mix,

    /// <summary>Madry et al.: PGD from a uniform random start, projection and clipping each step.</summary>
    Pgd,

    /// <summary>Wang et al.: PGD in which an example stops once its FOSC is at most the falling threshold c_t.</summary>
    Dynamic,
}

internal static class TrainingMethods
{
    public static readonly IReadOnlyList<string> Names = ["standard", "robust", "mix", "pgd", "dynamic"];

    public static TrainingMethod Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "standard" => TrainingMethod.Standard,
        "robust" => TrainingMethod.Robust,
        "mix" => TrainingMethod.Mix,
        "pgd" => TrainingMethod.Pgd,
        "dynamic" => TrainingMethod.Dynamic,
        _ => throw new UserErrorException($"unknown method '{text}' (known: {string.Join(", ", Names)})"),
    };

    public static string Name(this TrainingMethod method) => method.ToString().ToLowerInvariant();

    public static bool IsAdversarial(this TrainingMethod method) => method != TrainingMethod.Standard;

    public static bool IsIterative(this TrainingMethod method) => method is TrainingMethod.Pgd or TrainingMethod.Dynamic;
}
