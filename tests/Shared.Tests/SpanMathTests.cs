using RobustEval.Geometry;

namespace RobustEval.Tests;

/// <summary>The vectorised loops against their scalar definitions, bit for bit, on lengths with and without a tail.</summary>
[TestClass]
public sealed class SpanMathTests
{
    private static readonly int[] Lengths = [0, 1, 7, 8, 15, 16, 17, 33, 784, 3072 + 5];

    private static float[] Values(Random random, int n) =>
        Enumerable.Range(0, n).Select(_ => random.Next(6) switch
        {
            0 => 0f,
            1 => 1f,
            2 => -0.25f,
            _ => (float)(random.NextDouble() * 3 - 1.5),
        }).ToArray();

    [TestMethod]
    public void ElementwiseLoopsMatchTheirScalarForms()
    {
        var random = new Random(3);
        foreach (int n in Lengths)
        {
            var a = Values(random, n);
            var b = Values(random, n);
            var c = Values(random, n);
            var result = new float[n];

            var clamped = (float[])a.Clone();
            SpanMath.Clamp(clamped, -0.25f, 1f);
            CollectionAssert.AreEqual(a.Select(x => Math.Clamp(x, -0.25f, 1f)).ToArray(), clamped, $"Clamp, n = {n}");

            SpanMath.SignTimes(a, 0.3f, result);
            CollectionAssert.AreEqual(a.Select(x => x > 0 ? 0.3f : x < 0 ? -0.3f : 0f).ToArray(), result, $"SignTimes, n = {n}");

            SpanMath.Scale(a, 0.7f, result);
            CollectionAssert.AreEqual(a.Select(x => x * 0.7f).ToArray(), result, $"Scale, n = {n}");

            SpanMath.AddSubtract(a, b, c, result);
            CollectionAssert.AreEqual(a.Select((x, i) => x + b[i] - c[i]).ToArray(), result, $"AddSubtract, n = {n}");

            SpanMath.Add(a, b, result);
            CollectionAssert.AreEqual(a.Select((x, i) => x + b[i]).ToArray(), result, $"Add, n = {n}");

            SpanMath.MaskBlocked(b, a, -0.25f, 1f, result);
            CollectionAssert.AreEqual(a.Select((g, i) => (g > 0 && b[i] >= 1f) || (g < 0 && b[i] <= -0.25f) ? 0f : g).ToArray(), result, $"MaskBlocked, n = {n}");

            var thresholded = (float[])a.Clone();
            SpanMath.SoftThreshold(thresholded, 0.5f);
            CollectionAssert.AreEqual(a.Select(x => x > 0.5f ? x - 0.5f : x < -0.5f ? x + 0.5f : 0f).ToArray(), thresholded, $"SoftThreshold, n = {n}");

            Assert.AreEqual(n == 0 ? 0f : a.Max(Math.Abs), SpanMath.MaxAbs(a), $"MaxAbs, n = {n}");

            double sum = SpanMath.SumAbsAbove(a, 0.5f, out int count);
            Assert.AreEqual(a.Count(x => Math.Abs(x) > 0.5f), count, $"SumAbsAbove count, n = {n}");
            Assert.AreEqual(a.Where(x => Math.Abs(x) > 0.5f).Sum(x => (double)Math.Abs(x)), sum, 1e-9 * Math.Max(1, n), $"SumAbsAbove, n = {n}");
            Assert.AreEqual(a.Sum(x => (double)Math.Abs(x)), SpanMath.SumAbsAbove(a, -1f, out int all), 1e-9 * Math.Max(1, n));
            Assert.AreEqual(n, all, "a negative threshold takes every element");
        }
    }
}
