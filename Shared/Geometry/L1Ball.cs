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

    // Duchi et al. (2008): sort |v| decreasingly, find the threshold θ that makes Σ max(|v_i| − θ, 0) = ε,
    // and soft-threshold by it. O(d log d).
    public override void Project(Span<float> delta, float eps)
    {
        if (Norm(delta) <= eps * InsideTolerance)
        {
            return;
        }
        var magnitudes = new float[delta.Length];
        for (int i = 0; i < delta.Length; i++)
        {
            magnitudes[i] = Math.Abs(delta[i]);
        }
        Array.Sort(magnitudes);
        Array.Reverse(magnitudes);
        double cumulative = 0;
        double theta = 0;
        for (int j = 0; j < magnitudes.Length; j++)
        {
            cumulative += magnitudes[j];
            double candidate = (cumulative - eps) / (j + 1);
            if (magnitudes[j] - candidate > 0)
            {
                theta = candidate;
            }
            else
            {
                break;
            }
        }
        for (int i = 0; i < delta.Length; i++)
        {
            double shrunk = Math.Max(Math.Abs(delta[i]) - theta, 0);
            delta[i] = (float)(Math.Sign(delta[i]) * shrunk);
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
