using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// Projected gradient descent (Madry et al.): a uniform random start in the ball, <c>steps</c> steepest-ascent
/// steps of <c>stepSize</c> each projected onto the ball and clipped, best of <c>restarts</c> runs per example.
/// </summary>
internal static class Pgd
{
    public static AttackConfig Config(NormKind norm, float eps, int steps, float stepSize, int restarts = 1, int pixels = 1, int seed = 1) => new()
    {
        Name = "pgd",
        Norm = norm,
        Eps = eps,
        Steps = steps,
        StepSize = stepSize,
        RandomStart = true,
        Restarts = restarts,
        Pixels = pixels,
        Seed = seed,
    };

    public static IAttack Create(GradientSession session, AttackConfig config) => new GradientAttack(session, config);
}
