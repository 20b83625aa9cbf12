using RobustEval.Geometry;
using RobustEval.Trainer.Native;
using RobustEval.Trainer.Training;
using static TorchSharp.torch;

namespace RobustEval.Trainer.Tests;

/// <summary>The trainer's batched tensor geometry against Shared's per-example <see cref="NormBall"/>, the reference.</summary>
[TestClass]
public sealed class TensorBallTests
{
    private static readonly NormKind[] Kinds = [NormKind.L1, NormKind.L2, NormKind.Linf];

    [ClassInitialize]
    public static void Load(TestContext _) => TorchRuntime.EnsureLoadable();

    private static float[] Random(Random random, int n, double scale) =>
        Enumerable.Range(0, n).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();

    [TestMethod]
    public void StepProjectionAndDualNormMatchTheReference()
    {
        var random = new Random(5);
        const int batch = 6;
        const int size = 2 * 3 * 4;
        foreach (var kind in Kinds)
        {
            foreach (int coordinates in kind == NormKind.L1 ? new[] { 1, 3 } : [1])
            {
                var reference = NormBall.For(kind, coordinates);
                var ball = new TensorBall(kind, coordinates);
                var g = Random(random, batch * size, 1);
                var v = Random(random, batch * size, 2);
                float eps = 0.7f;
                using var gt = tensor(g, [batch, 2, 3, 4]);
                using var vt = tensor(v, [batch, 2, 3, 4]);
                var step = ball.SteepestAscent(gt, eps).data<float>().ToArray();
                var projected = ball.Project(vt, eps).data<float>().ToArray();
                var dual = ball.DualNorm(gt).data<float>().ToArray();
                for (int n = 0; n < batch; n++)
                {
                    var expectedStep = new float[size];
                    reference.SteepestAscent(g.AsSpan(n * size, size), eps, expectedStep);
                    var expectedProjection = v.AsSpan(n * size, size).ToArray();
                    reference.Project(expectedProjection, eps);
                    for (int i = 0; i < size; i++)
                    {
                        Assert.AreEqual(expectedStep[i], step[n * size + i], 1e-6f, $"{kind}/{coordinates} step [{n},{i}]");
                        Assert.AreEqual(expectedProjection[i], projected[n * size + i], 1e-5f, $"{kind} projection [{n},{i}]");
                    }
                    Assert.AreEqual(reference.DualNorm(g.AsSpan(n * size, size)), dual[n], 1e-4, $"{kind} dual norm");
                }
            }
        }
    }

    [TestMethod]
    public void RandomStartsLieInTheBallAndFoscMatchesTheReference()
    {
        var random = new Random(6);
        foreach (var kind in Kinds)
        {
            var reference = NormBall.For(kind);
            var ball = new TensorBall(kind);
            using var like = zeros(200, 1, 5, 5);
            var starts = ball.RandomStart(like, 0.3).data<float>().ToArray();
            for (int n = 0; n < 200; n++)
            {
                Assert.IsLessThanOrEqualTo(0.3 * (1 + 1e-5), reference.Norm(starts.AsSpan(n * 25, 25)), kind.ToString());
            }
            Assert.IsGreaterThan(0.0, starts.Select(Math.Abs).Average(), "starts are not all zero");

            var x0 = Random(random, 4 * 25, 1);
            var x = Random(random, 4 * 25, 1);
            var g = Random(random, 4 * 25, 1);
            using var xt = tensor(x, [4, 25]);
            using var x0t = tensor(x0, [4, 25]);
            using var gt = tensor(g, [4, 25]);
            var fosc = ball.Fosc(xt, x0t, gt, 0.3).data<float>().ToArray();
            for (int n = 0; n < 4; n++)
            {
                var expected = Fosc.Compute(reference, 0.3f, x.AsSpan(n * 25, 25), x0.AsSpan(n * 25, 25), g.AsSpan(n * 25, 25));
                Assert.AreEqual(expected, fosc[n], 1e-4, $"{kind} FOSC");
            }
        }
    }

    [TestMethod]
    public void ZeroGradientRowsStayPut()
    {
        foreach (var kind in Kinds)
        {
            using var g = zeros(2, 10);
            var step = new TensorBall(kind).SteepestAscent(g, 1.0).data<float>().ToArray();
            CollectionAssert.AreEqual(new float[20], step, kind.ToString());
        }
    }

    [TestMethod]
    public void AnUnknownNormIsAnErrorNotASilentDefault()
    {
        var ball = new TensorBall((NormKind)7);
        var g = ones(2, 4);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ball.SteepestAscent(g, 0.1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ball.Project(g, 0.1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ball.RandomStart(g, 0.1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ball.DualNorm(g));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ((NormKind)7).Name());
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ((NormKind)7).Symbol());
        StringAssert.Contains(Assert.ThrowsExactly<UserErrorException>(() => NormKinds.Parse("l3")).Message, "unknown norm 'l3' (use l1, l2 or linf)");
    }
}
