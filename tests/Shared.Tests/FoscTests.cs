using RobustEval.Geometry;

namespace RobustEval.Tests;

[TestClass]
public sealed class FoscTests
{
    [TestMethod]
    public void ZeroAtTheMaximiserOfALinearFunctionAndPositiveElsewhere()
    {
        var random = new Random(4);
        foreach (var kind in new[] { NormKind.L1, NormKind.L2, NormKind.Linf })
        {
            var ball = NormBall.For(kind);
            for (int trial = 0; trial < 40; trial++)
            {
                int n = random.Next(2, 30);
                float eps = (float)(0.1 + random.NextDouble());
                var x0 = Enumerable.Range(0, n).Select(_ => (float)random.NextDouble()).ToArray();
                var g = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();

                // For a linear loss J(x) = ⟨g, x⟩ the gradient is g everywhere; its maximiser over the ball is x0 + Δ*.
                var best = new float[n];
                ball.SteepestAscent(g, eps, best);
                var xStar = x0.Zip(best, (a, b) => a + b).ToArray();
                Assert.AreEqual(0, Fosc.Compute(ball, eps, xStar, x0, g), 1e-5, $"{kind}: FOSC at the maximiser");

                Assert.AreEqual(eps * ball.DualNorm(g), Fosc.Compute(ball, eps, x0, x0, g), 1e-5, $"{kind}: at the centre");
                var inside = new float[n];
                ball.RandomStart(random, eps, inside);
                var x = x0.Zip(inside, (a, b) => a + b).ToArray();
                Assert.IsGreaterThan(0, Fosc.Compute(ball, eps, x, x0, g), $"{kind}: FOSC inside the ball");
            }
        }
    }

    [TestMethod]
    public void LinfUsesTheL1NormOfTheGradientAsInWangEtAl()
    {
        float[] x0 = [0.5f, 0.5f];
        float[] x = [0.6f, 0.4f];
        float[] g = [1f, 2f];
        // c = ε‖g‖₁ − ⟨x − x0, g⟩ = 0.3·3 − (0.1 − 0.2) = 1.0
        Assert.AreEqual(1.0, Fosc.Compute(new LinfBall(), 0.3f, x, x0, g), 1e-6);
    }

    [TestMethod]
    public void ThresholdFallsLinearlyToZero()
    {
        Assert.AreEqual(0.5, Fosc.Threshold(0.5, 0, 100), 1e-12);
        Assert.AreEqual(0.25, Fosc.Threshold(0.5, 50, 100), 1e-12);
        Assert.AreEqual(0, Fosc.Threshold(0.5, 100, 100), 1e-12);
        Assert.AreEqual(0, Fosc.Threshold(0.5, 120, 100), 1e-12);
    }
}
