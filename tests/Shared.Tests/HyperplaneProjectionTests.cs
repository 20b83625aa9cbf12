using RobustEval.Geometry;

namespace RobustEval.Tests;

/// <summary>
/// FAB's projection onto a hyperplane inside the pixel box, for each norm, against references that solve the same
/// problem another way: bisection on the multiplier (ℓ2) or the radius (ℓ∞), and for ℓ1 every vertex of the
/// feasible set of small problems (a linear programme's optimum lies at one).
/// </summary>
[TestClass]
public sealed class HyperplaneProjectionTests
{
    private static (float[] X, float[] W, double R) Problem(Random random, int n)
    {
        var x = Enumerable.Range(0, n).Select(_ => random.Next(4) switch { 0 => 0f, 1 => 1f, _ => (float)random.NextDouble() }).ToArray();
        var w = Enumerable.Range(0, n).Select(_ => random.Next(6) == 0 ? 0f : (float)(random.NextDouble() * 2 - 1)).ToArray();
        double r = (random.NextDouble() * 2 - 1) * random.Next(1, 4) * 0.3 * Math.Sqrt(n);
        return (x, w, r);
    }

    /// <summary>How far coordinate j can move in the direction that helps w·d reach r.</summary>
    private static double Room(float x, float w, double r) => (w > 0) == (r > 0) ? 1.0 - x : x;

    /// <summary>ℓ2 by bisection on λ in d_j = sign·min(λ|w_j|, room_j); ℓ∞ by bisection on τ in d_j = sign·min(τ, room_j).</summary>
    private static double[] Bisection(float[] x, float[] w, double r, bool l2)
    {
        double Gain(double t) => Enumerable.Range(0, x.Length).Sum(j => w[j] == 0 ? 0 : Math.Abs(w[j]) * Math.Min(l2 ? t * Math.Abs(w[j]) : t, Room(x[j], w[j], r)));
        double lo = 0, hi = 1;
        while (Gain(hi) < Math.Abs(r) && hi < 1e12)
        {
            hi *= 2;
        }
        for (int k = 0; k < 200; k++)
        {
            double mid = (lo + hi) / 2;
            (lo, hi) = Gain(mid) < Math.Abs(r) ? (mid, hi) : (lo, mid);
        }
        return Enumerable.Range(0, x.Length).Select(j => w[j] == 0 ? 0 :
            ((w[j] > 0) == (r > 0) ? 1 : -1) * Math.Min(l2 ? hi * Math.Abs(w[j]) : hi, Room(x[j], w[j], r))).ToArray();
    }

    /// <summary>ℓ1 by enumeration: every set of coordinates moved fully plus one moved partly; the feasible one of least ℓ1 norm.</summary>
    private static double BestL1Norm(float[] x, float[] w, double r)
    {
        int n = x.Length;
        double best = double.PositiveInfinity;
        for (int partial = -1; partial < n; partial++)
        {
            for (int mask = 0; mask < 1 << n; mask++)
            {
                if (partial >= 0 && (mask >> partial & 1) == 1)
                {
                    continue;
                }
                double gain = 0, norm = 0;
                for (int j = 0; j < n; j++)
                {
                    if ((mask >> j & 1) == 1 && w[j] != 0)
                    {
                        double room = Room(x[j], w[j], r);
                        gain += Math.Abs(w[j]) * room;
                        norm += room;
                    }
                }
                double rest = Math.Abs(r) - gain;
                if (partial >= 0 && w[partial] != 0 && rest >= 0 && rest / Math.Abs(w[partial]) <= Room(x[partial], w[partial], r))
                {
                    best = Math.Min(best, norm + rest / Math.Abs(w[partial]));
                }
                else if (Math.Abs(rest) < 1e-12)
                {
                    best = Math.Min(best, norm);
                }
            }
        }
        return best;
    }

    [TestMethod]
    [DataRow("l2")]
    [DataRow("linf")]
    public void MatchesBisection(string normName)
    {
        var norm = NormKinds.Parse(normName);
        var random = new Random(normName.Length);
        for (int trial = 0; trial < 300; trial++)
        {
            int n = random.Next(1, 120);
            var (x, w, r) = Problem(random, n);
            var d = new float[n];
            new HyperplaneProjection(n).Project(norm, x, w, r, PixelBox.Unit, d);
            var expected = Bisection(x, w, r, norm == NormKind.L2);
            for (int j = 0; j < n; j++)
            {
                Assert.AreEqual(expected[j], d[j], 1e-5, $"trial {trial}, coordinate {j}");
                Assert.IsTrue(x[j] + d[j] is >= -1e-6f and <= 1 + 1e-6f, "inside the box");
            }
            double reach = Enumerable.Range(0, n).Sum(j => (double)w[j] * d[j]);
            double possible = Enumerable.Range(0, n).Sum(j => Math.Abs(w[j]) * Room(x[j], w[j], r));
            Assert.AreEqual(Math.Sign(r) * Math.Min(Math.Abs(r), possible), reach, 1e-4 * Math.Max(1, Math.Abs(r)), $"trial {trial}: on the hyperplane when it can be reached");
        }
    }

    [TestMethod]
    public void L1SpendsTheLeastNormOfAllVertices()
    {
        var random = new Random(3);
        for (int trial = 0; trial < 300; trial++)
        {
            int n = random.Next(1, 8);
            var (x, w, r) = Problem(random, n);
            double possible = Enumerable.Range(0, n).Sum(j => Math.Abs(w[j]) * Room(x[j], w[j], r));
            if (possible < Math.Abs(r))
            {
                continue;
            }
            var d = new float[n];
            new HyperplaneProjection(n).Project(NormKind.L1, x, w, r, PixelBox.Unit, d);
            Assert.AreEqual(r, Enumerable.Range(0, n).Sum(j => (double)w[j] * d[j]), 1e-5, $"trial {trial}: on the hyperplane");
            Assert.AreEqual(BestL1Norm(x, w, r), d.Sum(v => Math.Abs((double)v)), 1e-5, $"trial {trial}: the least ℓ1 norm");
            for (int j = 0; j < n; j++)
            {
                Assert.IsTrue(x[j] + d[j] is >= -1e-6f and <= 1 + 1e-6f, "inside the box");
            }
        }
    }

    [TestMethod]
    public void AnUnreachableHyperplaneMovesEveryUsefulCoordinateToTheBox()
    {
        float[] x = [0.5f, 0.2f, 1f, 0.7f];
        float[] w = [1f, -2f, 1f, 0f];
        var d = new float[4];
        new HyperplaneProjection(4).Project(NormKind.L2, x, w, 100, PixelBox.Unit, d);
        CollectionAssert.AreEqual(new[] { 0.5f, -0.2f, 0f, 0f }, d);
    }
}
