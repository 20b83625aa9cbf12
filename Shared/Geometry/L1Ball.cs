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

    public override double Norm(ReadOnlySpan<float> v)
    {
        double sum = 0;
        foreach (float x in v)
        {
            sum += Math.Abs(x);
        }
        return sum;
    }

    public override double DualNorm(ReadOnlySpan<float> g)
    {
        float max = 0;
        foreach (float x in g)
        {
            max = Math.Max(max, Math.Abs(x));
        }
        return max;
    }

    public override void SteepestAscent(ReadOnlySpan<float> g, float eps, Span<float> delta)
    {
        delta.Clear();
        if (Coordinates == 1)
        {
            int best = -1;
            float bestMagnitude = 0;
            for (int i = 0; i < g.Length; i++)
            {
                float magnitude = Math.Abs(g[i]);
                if (magnitude > bestMagnitude)
                {
                    bestMagnitude = magnitude;
                    best = i;
                }
            }
            if (best >= 0)
            {
                delta[best] = g[best] > 0 ? eps : -eps;
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

    // Soft-thresholding by the θ that makes Σ max(|v_i| − θ, 0) = ε (Duchi et al. 2008). θ is found with Condat's
    // (2016) algorithm, which needs no sort and runs in linear time in practice: a running candidate set whose
    // mean-minus-ε estimate only grows, a second look at the values set aside, then removal of members at or below
    // the estimate until none is. PGD's ℓ1 steps project every example at every step, so this is on the hot path.
    public override void Project(Span<float> delta, float eps)
    {
        if (Norm(delta) <= eps * InsideTolerance)
        {
            return;
        }
        double theta = Threshold(delta, eps);
        for (int i = 0; i < delta.Length; i++)
        {
            double shrunk = Math.Max(Math.Abs(delta[i]) - theta, 0);
            delta[i] = (float)(Math.Sign(delta[i]) * shrunk);
        }
    }

    /// <summary>The θ ≥ 0 with Σ max(|v_i| − θ, 0) = ε, for ‖v‖₁ &gt; ε.</summary>
    internal static double Threshold(ReadOnlySpan<float> v, float eps)
    {
        var rented = System.Buffers.ArrayPool<double>.Shared.Rent(2 * v.Length);
        try
        {
            // Candidates fill the front of the buffer; values set aside fill it from the back.
            var work = rented.AsSpan(0, 2 * v.Length);
            int members = 0, aside = 0;
            double a = eps;
            double first = Math.Abs(v[0]);
            work[members++] = first;
            double rho = first - a;
            for (int i = 1; i < v.Length; i++)
            {
                double y = Math.Abs(v[i]);
                if (y <= rho)
                {
                    continue;
                }
                rho += (y - rho) / (members + 1);
                if (rho > y - a)
                {
                    work[members++] = y;
                }
                else
                {
                    for (int j = 0; j < members; j++)
                    {
                        work[work.Length - 1 - aside++] = work[j];
                    }
                    members = 0;
                    work[members++] = y;
                    rho = y - a;
                }
            }
            for (int j = 0; j < aside; j++)
            {
                double y = work[work.Length - 1 - j];
                if (y > rho)
                {
                    work[members++] = y;
                    rho += (y - rho) / members;
                }
            }
            bool removed;
            do
            {
                removed = false;
                int kept = 0;
                for (int j = 0; j < members; j++)
                {
                    double y = work[j];
                    if (y <= rho && members - (j - kept) > 1)
                    {
                        // Leaving the set raises the estimate: ρ ← ρ + (ρ − y) / (size after removal).
                        int remaining = kept + (members - j - 1);
                        rho += (rho - y) / remaining;
                        removed = true;
                    }
                    else
                    {
                        work[kept++] = y;
                    }
                }
                members = kept;
            }
            while (removed);
            return Math.Max(rho, 0);
        }
        finally
        {
            System.Buffers.ArrayPool<double>.Shared.Return(rented);
        }
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
