namespace RobustEval.Geometry;

/// <summary>
/// The ℓ1 ball. Its steepest-ascent step moves a single coordinate — the one with the largest |gradient| over
/// channels, rows and columns — by ±ε: the "single pixel" attack of Shaham et al. (Fig. 1). With
/// <c>coordinates</c> = k &gt; 1 the step spreads ε evenly over the k largest coordinates instead; it then
/// stays in the ball but is no longer the exact maximiser.
/// </summary>
public sealed class L1Ball : NormBall
{
    public L1Ball(int coordinates = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(coordinates, 1);
        Coordinates = coordinates;
    }

    /// <summary>How many coordinates one steepest-ascent step changes.</summary>
    public int Coordinates { get; }

    public override NormKind Kind => NormKind.L1;

    public override double Norm(ReadOnlySpan<float> v) => SpanMath.SumAbsAbove(v, -1f, out _);

    public override double DualNorm(ReadOnlySpan<float> g) => SpanMath.MaxAbs(g);

    public override void SteepestAscent(ReadOnlySpan<float> g, float eps, Span<float> delta)
    {
        delta.Clear();
        if (Coordinates == 1)
        {
            // The first coordinate of largest magnitude (none when g is all zeros).
            float largest = SpanMath.MaxAbs(g);
            for (int i = 0; largest > 0 && i < g.Length; i++)
            {
                if (Math.Abs(g[i]) == largest)
                {
                    delta[i] = g[i] > 0 ? eps : -eps;
                    break;
                }
            }
            return;
        }
        var top = LargestMagnitudes(g, Coordinates);
        if (top.Length == 0)
        {
            return;
        }
        float share = eps / top.Length;
        foreach (int i in top)
        {
            delta[i] = g[i] > 0 ? share : -share;
        }
    }

    // Soft-thresholding by the θ that makes Σ max(|v_i| − θ, 0) = ε (Duchi et al. 2008), with θ found by Michelot's
    // (1986) fixed point: start from every coordinate, θ = (Σ_active |v_i| − ε) / |active|, drop the coordinates at
    // or below θ, repeat until none drops. θ only grows and the largest coordinate never drops, so it ends after a
    // few vectorised passes — no sort. PGD's ℓ1 steps project every example at every step, so this is a hot path.
    public override void Project(Span<float> delta, float eps)
    {
        double norm = SpanMath.SumAbsAbove(delta, -1f, out int active);
        if (norm <= eps * InsideTolerance)
        {
            return;
        }
        SpanMath.SoftThreshold(delta, (float)Threshold(delta, eps, norm, active));
    }

    /// <summary>
    /// The θ ≥ 0 with Σ max(|v_i| − θ, 0) = ε, for ‖v‖₁ = <paramref name="norm"/> &gt; ε over <paramref name="active"/>
    /// coordinates.
    /// </summary>
    private static double Threshold(ReadOnlySpan<float> v, float eps, double norm, int active)
    {
        double theta = (norm - eps) / active;
        while (true)
        {
            double sum = SpanMath.SumAbsAbove(v, (float)theta, out int count);
            // In exact arithmetic the active set only shrinks; "not smaller" also ends a cycle that rounding could make.
            if (count >= active || count == 0)
            {
                return Math.Max(theta, 0);
            }
            active = count;
            theta = (sum - eps) / count;
        }
    }

    /// <summary>
    /// The Euclidean projection of <paramref name="delta"/> onto the perturbations δ with ‖δ‖₁ ≤ ε that keep
    /// x⁰ + δ inside <paramref name="box"/> (Croce &amp; Hein, "Mind the box", 2021: the set ℓ1-APGD moves in), in
    /// place. <paramref name="x0"/> must lie in the box; <paramref name="bounds"/> is scratch of the same length.
    /// </summary>
    /// <remarks>
    /// Per coordinate the minimiser of ½(δᵢ − vᵢ)² + θ|δᵢ| over the interval the box allows is the soft-threshold
    /// clipped to that interval, so δᵢ(θ) = sign(vᵢ)·min(max(|vᵢ| − θ, 0), bᵢ) with bᵢ the room the box leaves in vᵢ's
    /// direction, and θ ≥ 0 is the smallest value with Σ|δᵢ(θ)| ≤ ε. That sum is piecewise linear and non-increasing
    /// in θ; θ is found by Newton steps from below inside a bracket that bisection keeps shrinking — a few
    /// vectorised passes, no sort (APGD projects every example at every iteration).
    /// </remarks>
    public static void ProjectInBox(Span<float> delta, ReadOnlySpan<float> x0, float eps, PixelBox box, Span<float> bounds)
    {
        SpanMath.RoomInDirection(delta, x0, box.Lower, box.Upper, bounds);
        double total = SpanMath.ClippedShrinkage(delta, bounds, 0f, out int linear);
        if (total <= eps)
        {
            SpanMath.ShrinkAndClip(delta, bounds, 0f);
            return;
        }
        double lo = 0, fLo = total, hi = SpanMath.MaxAbs(delta), fHi = 0;
        int slopeLo = linear;
        bool overshot = false;
        double theta = hi;
        for (int iteration = 0; iteration < 100; iteration++)
        {
            // Newton from the left end is exact once the root's linear piece is reached; after an overshoot (a
            // coordinate started shrinking on the way) the secant through the bracket is tried, and bisection when
            // neither lands strictly inside.
            double candidate = overshot || slopeLo == 0 ? lo + (fLo - eps) * (hi - lo) / (fLo - fHi) : lo + (fLo - eps) / slopeLo;
            if (!(candidate > lo && candidate < hi))
            {
                candidate = 0.5 * (lo + hi);
            }
            double f = SpanMath.ClippedShrinkage(delta, bounds, (float)candidate, out int slope);
            if (Math.Abs(f - eps) <= 1e-6 * eps)
            {
                // Close enough to be on the root's linear piece (or at its edge): solve on that piece exactly.
                theta = slope > 0 ? candidate + (f - eps) / slope : candidate;
                break;
            }
            if (f > eps)
            {
                (lo, fLo, slopeLo, overshot) = (candidate, f, slope, false);
            }
            else
            {
                (hi, fHi, overshot) = (candidate, f, true);
            }
            theta = hi;
            if (hi - lo <= 1e-7 * hi)
            {
                break;
            }
        }
        SpanMath.ShrinkAndClip(delta, bounds, (float)theta);
    }

    // Uniform in the ℓ1 ball: d + 1 exponential spacings normalised by their sum give a uniform point of the
    // simplex; dropping the last and attaching random signs spreads it over the ball's 2^d orthants.
    public override void RandomStart(Random random, float eps, Span<float> delta)
    {
        double total = -Math.Log(1.0 - random.NextDouble());
        for (int i = 0; i < delta.Length; i++)
        {
            double e = -Math.Log(1.0 - random.NextDouble());
            delta[i] = (float)e;
            total += e;
        }
        for (int i = 0; i < delta.Length; i++)
        {
            float sign = random.Next(2) == 0 ? -1f : 1f;
            delta[i] = (float)(sign * eps * delta[i] / total);
        }
    }

    /// <summary>Indices of the k largest |g| (non-zero only), ties to the lower index.</summary>
    private static int[] LargestMagnitudes(ReadOnlySpan<float> g, int k)
    {
        var indices = new List<int>(g.Length);
        for (int i = 0; i < g.Length; i++)
        {
            if (g[i] != 0)
            {
                indices.Add(i);
            }
        }
        var values = g.ToArray();
        indices.Sort((a, b) =>
        {
            int byMagnitude = Math.Abs(values[b]).CompareTo(Math.Abs(values[a]));
            return byMagnitude != 0 ? byMagnitude : a.CompareTo(b);
        });
        return indices.Take(k).ToArray();
    }
}
