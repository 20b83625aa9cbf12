namespace RobustEval.Geometry;

/// <summary>
/// The geometry of one ℓp ball of perturbations around an example: everything an attack loop needs from
/// the norm, so the loop itself is written once (eq. 11's single step, PGD, FOSC). All methods work on one
/// example's values; callers iterate over the batch.
/// </summary>
public abstract class NormBall
{
    public abstract NormKind Kind { get; }

    /// <summary>‖v‖ in this norm.</summary>
    public abstract double Norm(ReadOnlySpan<float> v);

    /// <summary>‖g‖ in the dual norm: the value of max ⟨g, Δ⟩ over the unit ball (ℓ∞ ↔ ℓ1, ℓ2 ↔ ℓ2).</summary>
    public abstract double DualNorm(ReadOnlySpan<float> g);

    /// <summary>
    /// Shaham et al., eq. 11: the first-order worst case Δ = argmax over ‖Δ‖ ≤ ε of ⟨g, Δ⟩, written into
    /// <paramref name="delta"/>. A zero gradient gives a zero step.
    /// </summary>
    public abstract void SteepestAscent(ReadOnlySpan<float> g, float eps, Span<float> delta);

    /// <summary>The Euclidean projection of <paramref name="delta"/> onto the ball of radius <paramref name="eps"/>, in place.</summary>
    public abstract void Project(Span<float> delta, float eps);

    /// <summary>A point drawn uniformly from the ball of radius <paramref name="eps"/>.</summary>
    public abstract void RandomStart(Random random, float eps, Span<float> delta);

    /// <summary>
    /// Points within float rounding of the sphere count as inside, so projecting a projection changes nothing
    /// and PGD iterates on the boundary are not shrunk again at every step.
    /// </summary>
    protected const double InsideTolerance = 1 + 1e-6;

    public static NormBall For(NormKind kind, int coordinates = 1) => kind switch
    {
        NormKind.L1 => new L1Ball(coordinates),
        NormKind.L2 => new L2Ball(),
        NormKind.Linf => new LinfBall(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public override string ToString() => Kind.Symbol();

    internal static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            sum += (double)a[i] * b[i];
        }
        return sum;
    }

    /// <summary>A standard normal sample (Box–Muller), for directions that are uniform on a sphere.</summary>
    internal static double Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
