namespace RobustEval.Geometry;

/// <summary>The ℓ2 ball. Its steepest-ascent step is the normalised gradient.</summary>
public sealed class L2Ball : NormBall
{
    public override NormKind Kind => NormKind.L2;

    public override double Norm(ReadOnlySpan<float> v) => Math.Sqrt(Dot(v, v));

    public override double DualNorm(ReadOnlySpan<float> g) => Norm(g);

    // Δ = ε · g / ‖g‖₂.
    public override void SteepestAscent(ReadOnlySpan<float> g, float eps, Span<float> delta)
    {
        double norm = Norm(g);
        float scale = norm > 0 ? (float)(eps / norm) : 0f;
        SpanMath.Scale(g, scale, delta);
    }

    public override void Project(Span<float> delta, float eps)
    {
        double norm = Norm(delta);
        if (norm <= eps * InsideTolerance)
        {
            return;
        }
        SpanMath.Scale(delta, (float)(eps / norm), delta);
    }

    // A uniform direction (normalised Gaussian) times ε·U^(1/d): uniform in volume, not just on the sphere.
    public override void RandomStart(Random random, float eps, Span<float> delta)
    {
        double sumSquares = 0;
        for (int i = 0; i < delta.Length; i++)
        {
            double z = Gaussian(random);
            delta[i] = (float)z;
            sumSquares += z * z;
        }
        double radius = eps * Math.Pow(random.NextDouble(), 1.0 / Math.Max(delta.Length, 1));
        float scale = sumSquares > 0 ? (float)(radius / Math.Sqrt(sumSquares)) : 0f;
        for (int i = 0; i < delta.Length; i++)
        {
            delta[i] *= scale;
        }
    }
}
