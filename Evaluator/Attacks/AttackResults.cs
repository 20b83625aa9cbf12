using RobustEval.Geometry;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// Per-example results of an attack over a set of examples: a record per example and the adversarial images.
/// Batches work on a <see cref="ResultSlice"/> of it, so nothing is copied field by field.
/// </summary>
public sealed class AttackResults
{
    public AttackResults(int count, int imageSize)
    {
        Count = count;
        ImageSize = imageSize;
        Examples = new ExampleResult[count];
        Adversarial = new float[(long)count * imageSize];
    }

    public int Count { get; }

    public int ImageSize { get; }

    public ExampleResult[] Examples { get; }

    /// <summary>Every example's adversarial image, example i at i · <see cref="ImageSize"/> (NCHW, [0, 1]).</summary>
    public float[] Adversarial { get; }

    public Span<float> Image(int i) => Adversarial.AsSpan(i * ImageSize, ImageSize);

    /// <summary>The view of examples <paramref name="start"/> … <paramref name="start"/> + <paramref name="count"/> − 1.</summary>
    public ResultSlice Slice(int start, int count) => new(this, start, count);
}

/// <summary>
/// A batch's part of an <see cref="AttackResults"/>: attacks offer each example's outcome to it, and it keeps the
/// worse case for the model (<see cref="ExampleResult.IsBetterThan"/>).
/// </summary>
public sealed class ResultSlice
{
    private readonly AttackResults _results;
    private readonly int _start;
    private float[] _scratch = [];

    internal ResultSlice(AttackResults results, int start, int count)
    {
        if (start < 0 || count < 0 || start + count > results.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(count));
        }
        _results = results;
        _start = start;
        Count = count;
    }

    public int Count { get; }

    public ref ExampleResult this[int i] => ref _results.Examples[_start + Index(i)];

    public Span<float> Image(int i) => _results.Image(_start + Index(i));

    /// <summary>
    /// Offers example <paramref name="i"/>'s outcome at <paramref name="point"/> (made from <paramref name="clean"/>;
    /// <paramref name="gradient"/> is the loss's gradient there, for FOSC; empty for a score-based attack). It replaces the record when it is a worse
    /// case; a non-finite evaluation is remembered either way. Returns whether it replaced the record.
    /// </summary>
    public bool Offer(int i, ReadOnlySpan<float> point, ReadOnlySpan<float> clean, long prediction, float loss, bool success, bool nonFinite,
        ReadOnlySpan<float> gradient, NormBall ball, float eps, long target)
    {
        ref var current = ref this[i];
        current.NonFinite |= nonFinite;
        var candidate = current with { Prediction = prediction, Loss = loss, Success = success, Target = target };
        if (!candidate.IsBetterThan(current))
        {
            return false;
        }
        if (_scratch.Length != point.Length)
        {
            _scratch = new float[point.Length];
        }
        for (int j = 0; j < point.Length; j++)
        {
            _scratch[j] = point[j] - clean[j];
        }
        candidate.PerturbationNorm = ball.Norm(_scratch);
        candidate.Fosc = gradient.IsEmpty ? double.NaN : Fosc.Compute(ball, eps, point, clean, gradient);
        double scale = gradient.IsEmpty ? 0 : eps * ball.DualNorm(gradient);
        candidate.RelativeFosc = scale > 0 ? candidate.Fosc / scale : double.NaN;
        current = candidate;
        point.CopyTo(Image(i));
        return true;
    }

    /// <summary>Takes over example <paramref name="i"/> of <paramref name="other"/> when it is a worse case (merging a sub-run).</summary>
    public void Merge(int i, ResultSlice other, int j)
    {
        ref var current = ref this[i];
        ref var candidate = ref other[j];
        current.NonFinite |= candidate.NonFinite;
        if (candidate.IsBetterThan(current))
        {
            current = candidate with { NonFinite = current.NonFinite };
            other.Image(j).CopyTo(Image(i));
        }
    }

    /// <summary>A fresh slice holding copies of the records and images of <paramref name="indices"/>, for a sub-run.</summary>
    public ResultSlice Copy(IReadOnlyList<int> indices)
    {
        var copy = new AttackResults(indices.Count, _results.ImageSize).Slice(0, indices.Count);
        for (int k = 0; k < indices.Count; k++)
        {
            copy[k] = this[indices[k]];
            Image(indices[k]).CopyTo(copy.Image(k));
        }
        return copy;
    }

    private int Index(int i) => (uint)i < (uint)Count ? i : throw new ArgumentOutOfRangeException(nameof(i));
}
