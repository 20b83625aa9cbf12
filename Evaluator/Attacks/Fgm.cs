using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// The fast gradient method: one steepest-ascent step of size ε (Shaham et al., eq. 11). ℓ∞ is FGSM (Goodfellow
/// et al.), ℓ2 the normalised gradient, ℓ1 the single-pixel attack (or <c>pixels</c> coordinates sharing ε).
/// </summary>
internal static class Fgm
{
    public static AttackConfig Config(NormKind norm, float eps, int pixels = 1) => new()
    {
        Name = "fgm",
        Norm = norm,
        Eps = eps,
        Steps = 1,
        StepSize = eps,
        Pixels = pixels,
    };

    public static IAttack Create(GradientSession session, NormKind norm, float eps, int pixels = 1) =>
        new GradientAttack(session, Config(norm, eps, pixels));
}
