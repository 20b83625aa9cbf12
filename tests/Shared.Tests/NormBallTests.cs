using RobustEval.Geometry;

namespace RobustEval.Tests;

[TestClass]
public sealed class NormBallTests
{
    private static readonly NormKind[] Kinds = [NormKind.L1, NormKind.L2, NormKind.Linf];

    private static float[] RandomVector(Random random, int n, double scale = 1) =>
        Enumerable.Range(0, n).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();

    [TestMethod]
    public void SteepestAscentReachesTheBoundaryAndMaximisesTheLinearObjective()
    {
        var random = new Random(1);
        foreach (var kind in Kinds)
        {
            var ball = NormBall.For(kind);
            for (int trial = 0; trial < 50; trial++)
            {
                int n = random.Next(1, 40);
                float eps = (float)(0.05 + random.NextDouble() * 2);
                var g = RandomVector(random, n);
                var delta = new float[n];
                ball.SteepestAscent(g, eps, delta);

                Assert.AreEqual(eps, ball.Norm(delta), 1e-5 * eps, $"{kind}: the step lies on the sphere");
                double achieved = NormBall.Dot(g, delta);
                Assert.AreEqual(eps * ball.DualNorm(g), achieved, 1e-5 * Math.Max(1, achieved), $"{kind}: ⟨g, Δ⟩ = ε‖g‖*");
                for (int k = 0; k < 30; k++)
                {
                    var other = new float[n];
                    ball.RandomStart(random, eps, other);
                    Assert.IsLessThanOrEqualTo(achieved + 1e-6, NormBall.Dot(g, other), $"{kind}: a random feasible Δ does better");
                    // Points on the boundary too, where a wrong maximiser would be beaten most easily.
                    var onSphere = RandomVector(random, n);
                    double scale = eps / ball.Norm(onSphere);
                    Assert.IsLessThanOrEqualTo(achieved + 1e-5, NormBall.Dot(g, onSphere) * scale, $"{kind}: a boundary Δ does better");
                }
            }
        }
    }

    [TestMethod]
    public void L1StepChangesExactlyTheLargestCoordinate()
    {
        var ball = new L1Ball();
        var delta = new float[6];
        ball.SteepestAscent([0.1f, -0.9f, 0.3f, 0.9f, 0f, -0.2f], 0.5f, delta);
        CollectionAssert.AreEqual(new[] { 0f, -0.5f, 0f, 0f, 0f, 0f }, delta, "ties go to the first index");

        var spread = new float[6];
        new L1Ball(coordinates: 3).SteepestAscent([0.1f, -0.9f, 0.3f, 0.8f, 0f, -0.2f], 0.6f, spread);
        CollectionAssert.AreEqual(new[] { 0f, -0.2f, 0.2f, 0.2f, 0f, 0f }, spread);
    }

    [TestMethod]
    public void ZeroGradientGivesZeroStep()
    {
        foreach (var kind in Kinds)
        {
            var delta = new float[] { 9, 9, 9 };
            NormBall.For(kind).SteepestAscent(new float[3], 1f, delta);
            CollectionAssert.AreEqual(new float[3], delta, kind.ToString());
        }
    }

    [TestMethod]
    public void ProjectionIsIdempotentFeasibleAndNearest()
    {
        var random = new Random(2);
        foreach (var kind in Kinds)
        {
            var ball = NormBall.For(kind);
            for (int trial = 0; trial < 60; trial++)
            {
                int n = random.Next(1, 30);
                float eps = (float)(0.1 + random.NextDouble());
                var v = RandomVector(random, n, scale: 2);
                var p = (float[])v.Clone();
                ball.Project(p, eps);
                Assert.IsLessThanOrEqualTo(eps * (1 + 1e-5), ball.Norm(p), $"{kind}: projection is feasible");

                var again = (float[])p.Clone();
                ball.Project(again, eps);
                CollectionAssert.AreEqual(p, again, $"{kind}: projecting twice changes nothing");

                double distance = Distance(v, p);
                for (int k = 0; k < 40; k++)
                {
                    var z = new float[n];
                    ball.RandomStart(random, eps, z);
                    Assert.IsLessThanOrEqualTo(Distance(v, z) + 1e-5, distance, $"{kind}: a feasible point is nearer than the projection");
                }
                // Small moves from the projection, pulled back into the ball, are never nearer either.
                for (int k = 0; k < 40; k++)
                {
                    var z = p.Select(x => x + (float)((random.NextDouble() - 0.5) * 0.01)).ToArray();
                    double norm = ball.Norm(z);
                    if (norm > eps)
                    {
                        z = z.Select(x => (float)(x * eps / norm)).ToArray();
                    }
                    Assert.IsLessThanOrEqualTo(Distance(v, z) + 1e-5, distance, $"{kind}: a nearby feasible point is nearer");
                }
            }
        }
    }

    [TestMethod]
    public void L1ProjectionMatchesAKnownCase()
    {
        // Projecting (3, 1, 0.2) onto the ℓ1 ball of radius 2: θ = 1 gives (2, 0, 0).
        var v = new float[] { 3f, -1f, 0.2f };
        new L1Ball().Project(v, 2f);
        CollectionAssert.AreEqual(new[] { 2f, 0f, 0f }, v);
        // (1, 1, 1) onto radius 1.5: θ = 0.5.
        var w = new float[] { 1f, 1f, -1f };
        new L1Ball().Project(w, 1.5f);
        CollectionAssert.AreEqual(new[] { 0.5f, 0.5f, -0.5f }, w);
    }

    [TestMethod]
    public void L1ProjectionMatchesTheSortingAlgorithm()
    {
        // The projection finds θ without sorting; Duchi et al.'s sort-based form is the reference. Dense, sparse,
        // tied and long vectors (a CIFAR image has 3,072 coordinates).
        var random = new Random(5);
        for (int trial = 0; trial < 300; trial++)
        {
            int n = trial < 100 ? random.Next(1, 40) : random.Next(100, 3100);
            var v = RandomVector(random, n, scale: 1);
            if (trial % 3 == 1)
            {
                for (int i = 0; i < n; i++)
                {
                    v[i] = random.Next(4) == 0 ? v[i] : 0f;
                }
            }
            if (trial % 3 == 2)
            {
                for (int i = 0; i < n; i++)
                {
                    v[i] = MathF.Round(v[i] * 4) / 4;
                }
            }
            double norm = v.Sum(x => Math.Abs((double)x));
            // Radii from a sliver of the largest coordinate up to nearly the whole norm (log-uniform).
            float eps = (float)(norm * Math.Exp(Math.Log(1e-4) + random.NextDouble() * (Math.Log(0.95) - Math.Log(1e-4))));
            if (eps <= 0)
            {
                continue;
            }
            var sorted = v.Select(x => Math.Abs((double)x)).OrderDescending().ToArray();
            double cumulative = 0, theta = 0;
            for (int j = 0; j < n; j++)
            {
                cumulative += sorted[j];
                double candidate = (cumulative - eps) / (j + 1);
                if (sorted[j] <= candidate)
                {
                    break;
                }
                theta = candidate;
            }
            var projected = (float[])v.Clone();
            new L1Ball().Project(projected, eps);
            for (int i = 0; i < n; i++)
            {
                double expected = Math.Sign(v[i]) * Math.Max(Math.Abs(v[i]) - theta, 0);
                Assert.AreEqual(expected, projected[i], 1e-5 * Math.Max(1, eps), $"trial {trial}, n = {n}, coordinate {i}");
            }
        }
    }

    [TestMethod]
    public void RandomStartsAreInsideAndFillTheBall()
    {
        var random = new Random(3);
        foreach (var kind in Kinds)
        {
            var ball = NormBall.For(kind);
            const int n = 4;
            int inInnerHalf = 0;
            const int samples = 4000;
            for (int i = 0; i < samples; i++)
            {
                var z = new float[n];
                ball.RandomStart(random, 2f, z);
                double norm = ball.Norm(z);
                Assert.IsLessThanOrEqualTo(2 * (1 + 1e-6), norm, kind.ToString());
                if (norm <= 1)
                {
                    inInnerHalf++;
                }
            }
            // Uniform in volume: the ball of half the radius holds (1/2)^4 = 1/16 of the samples.
            Assert.AreEqual(samples / 16.0, inInnerHalf, 4 * Math.Sqrt(samples / 16.0), kind.ToString());
        }
    }

    [TestMethod]
    public void DualNormsPairUp()
    {
        float[] g = [3f, -4f, 1f];
        Assert.AreEqual(4, NormBall.For(NormKind.L1).DualNorm(g), 1e-9);
        Assert.AreEqual(Math.Sqrt(26), NormBall.For(NormKind.L2).DualNorm(g), 1e-6);
        Assert.AreEqual(8, NormBall.For(NormKind.Linf).DualNorm(g), 1e-9);
    }

    [TestMethod]
    public void ParsesNormNames()
    {
        Assert.AreEqual(NormKind.Linf, NormKinds.Parse("linf"));
        Assert.AreEqual(NormKind.Linf, NormKinds.Parse("INF"));
        Assert.AreEqual(NormKind.L1, NormKinds.Parse("l1"));
        Assert.IsNull(NormKinds.TryParse("l3"));
        Assert.AreEqual("ℓ∞", NormKind.Linf.Symbol());
        Assert.AreEqual(2, (int)NormKind.Linf, "the transfer-set code for ℓ∞");
    }

    private static double Distance(float[] a, float[] b) =>
        Math.Sqrt(a.Zip(b, (x, y) => ((double)x - y) * ((double)x - y)).Sum());
}
