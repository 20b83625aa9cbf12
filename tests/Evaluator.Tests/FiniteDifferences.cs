using RobustEval.Evaluator.Runtime;

namespace RobustEval.Evaluator.Tests;

/// <summary>Central finite differences of a gradient session's total loss along random directions.</summary>
internal static class FiniteDifferences
{
    public static void CheckLoss(GradientSession session, float[] x, long[] labels, long[]? targets = null, int directions = 4, float step = 1e-2f,
        double tolerance = 2e-2)
    {
        int batch = labels.Length;
        var buffers = session.For(batch);
        double Loss(float[] point)
        {
            point.CopyTo(buffers.Pixels, 0);
            labels.CopyTo(buffers.Labels, 0);
            if (targets is not null)
            {
                targets.CopyTo(buffers.Targets!, 0);
            }
            session.Evaluate(buffers, batch);
            return buffers.Loss.Take(batch).Sum(v => (double)v);
        }
        Loss(x);
        var gradient = buffers.Gradient.Take(x.Length).ToArray();
        Assert.IsGreaterThan(0f, gradient.Max(Math.Abs), "the gradient is not zero");
        var random = new Random(3);
        for (int k = 0; k < directions; k++)
        {
            var direction = x.Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            double norm = Math.Sqrt(direction.Sum(d => (double)d * d));
            var plus = x.Zip(direction, (v, d) => v + step * (float)(d / norm)).ToArray();
            var minus = x.Zip(direction, (v, d) => v - step * (float)(d / norm)).ToArray();
            double numeric = (Loss(plus) - Loss(minus)) / (2 * step);
            double analytic = gradient.Zip(direction, (g, d) => (double)g * d / norm).Sum();
            double error = Math.Abs(numeric - analytic) / Math.Max(Math.Abs(numeric), 1e-3);
            Assert.IsLessThanOrEqualTo(tolerance, error, $"direction {k}: finite differences {numeric}, gradient graph {analytic}");
        }
    }
}
