namespace RobustEval.Geometry;

/// <summary>The ℓ∞ ball: every coordinate moves at most ε. Its steepest-ascent step is the fast gradient sign method.</summary>
public sealed class LinfBall : NormBall
{
    public override NormKind Kind => NormKind.Linf;

    public override double Norm(ReadOnlySpan<float> v) => SpanMath.MaxAbs(v);

    public override double DualNorm(ReadOnlySpan<float> g)
    {
        double sum = 0;
        foreach (float x in g)
        {
            sum += Math.Abs(x);
        }
        return sum;
    }

    // Goodfellow et al., eq. 2: Δ = ε · sign(g).
    public override void SteepestAscent(ReadOnlySpan<float> g, float eps, Span<float> delta) => SpanMath.SignTimes(g, eps, delta);

    public override void Project(Span<float> delta, float eps) => SpanMath.Clamp(delta, -eps, eps);

    public override void RandomStart(Random random, float eps, Span<float> delta)
    {
        for (int i = 0; i < delta.Length; i++)
        {
            delta[i] = (float)((2 * random.NextDouble() - 1) * eps);
        }
    }
}
