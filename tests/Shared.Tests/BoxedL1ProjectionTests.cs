using RobustEval.Geometry;

namespace RobustEval.Tests;

/// <summary>
/// The projection onto the ℓ1 ball inside the pixel box (ℓ1-APGD's feasible set) against the optimality conditions
/// of that problem and against a slow reference that tries every candidate threshold.
/// </summary>
[TestClass]
public sealed class BoxedL1ProjectionTests
{
    /// <summary>The reference: θ over every breakpoint of Σ|δ(θ)|, then interpolated on the piece that holds ε.</summary>
    private static double[] Reference(float[] v, float[] x0, double eps)
    {
        var room = v.Select((value, j) => value > 0 ? 1.0 - x0[j] : value < 0 ? x0[j] : 0.0).ToArray();
        double Size(double t) => v.Select((value, j) => Math.Min(Math.Max(Math.Abs(value) - t, 0), room[j])).Sum();
        double theta = 0;
        if (Size(0) > eps)
        {
            var points = v.SelectMany((value, j) => new[] { Math.Abs((double)value) - room[j], Math.Abs((double)value) }).Where(p => p > 0).Append(0).Distinct().Order().ToList();
            for (int k = 0; k + 1 < points.Count; k++)
            {
                double a = Size(points[k]), b = Size(points[k + 1]);
                if (a >= eps && b <= eps)
                {
                    theta = points[k] + (a - eps) * (points[k + 1] - points[k]) / (a - b);
                    break;
                }
            }
        }
        return v.Select((value, j) => Math.Sign(value) * Math.Min(Math.Max(Math.Abs(value) - theta, 0), room[j])).ToArray();
    }

    [TestMethod]
    public void MatchesTheReferenceAndTheOptimalityConditions()
    {
        var random = new Random(7);
        for (int trial = 0; trial < 300; trial++)
        {
            int n = random.Next(1, 200);
            // Pixels often sit on the box's edges (background, saturated strokes).
            var x0 = Enumerable.Range(0, n).Select(_ => random.Next(4) switch { 0 => 0f, 1 => 1f, _ => (float)random.NextDouble() }).ToArray();
            var v = Enumerable.Range(0, n).Select(_ => (float)((random.NextDouble() * 2 - 1) * (random.Next(3) == 0 ? 2 : 0.2))).ToArray();
            float eps = (float)(0.01 + random.NextDouble() * 3);
            var expected = Reference(v, x0, eps);
            var delta = (float[])v.Clone();
            L1Ball.ProjectInBox(delta, x0, eps, PixelBox.Unit, new float[n]);

            for (int j = 0; j < n; j++)
            {
                Assert.AreEqual(expected[j], delta[j], 2e-6 * Math.Max(1, eps), $"trial {trial}, coordinate {j}");
                Assert.IsTrue(x0[j] + delta[j] is >= -1e-7f and <= 1 + 1e-7f, "inside the box");
                Assert.IsTrue(delta[j] == 0 || Math.Sign(delta[j]) == Math.Sign(v[j]), "never against v's sign");
            }
            double norm = delta.Sum(d => Math.Abs((double)d));
            Assert.IsLessThanOrEqualTo(eps * (1 + 1e-5), norm, "inside the ball");
            double clipped = v.Select((value, j) => Math.Abs(Math.Clamp(x0[j] + value, 0f, 1f) - x0[j])).Sum();
            Assert.AreEqual(Math.Min(clipped, eps), norm, 1e-5 * Math.Max(1, eps), "on the sphere exactly when the clipped point is outside it");
        }
    }

    [TestMethod]
    public void LeavesAFeasiblePointAlone()
    {
        float[] x0 = [0.2f, 0.5f, 1f, 0f];
        float[] v = [0.1f, -0.2f, -0.3f, 0.05f];
        var delta = (float[])v.Clone();
        L1Ball.ProjectInBox(delta, x0, 1f, PixelBox.Unit, new float[4]);
        CollectionAssert.AreEqual(v, delta);
    }

    [TestMethod]
    public void KthSmallestIsWhatASortPutsThere()
    {
        var random = new Random(3);
        for (int trial = 0; trial < 200; trial++)
        {
            int n = random.Next(1, 300);
            // Few distinct values, so ties are common (gradients of saturated pixels are exactly zero).
            var values = Enumerable.Range(0, n).Select(_ => (float)random.Next(random.Next(1, 20))).ToArray();
            var sorted = values.Order().ToArray();
            int k = random.Next(n);
            Assert.AreEqual(sorted[k], SpanMath.KthSmallest(values.ToArray(), k), $"trial {trial}, k = {k} of {n}");
        }
    }
}
