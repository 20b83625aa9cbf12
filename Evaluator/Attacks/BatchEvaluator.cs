using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Runtime;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// Evaluates some examples of a batch at points an attack chose: the loss's value and gradient, the logits and the
/// prediction, by position in the list of examples evaluated. Examples whose scores, loss or gradient are not finite
/// (a Log of a negative, an overflow) are flagged, their gradient zeroed so they take no step (a NaN step would
/// spread into the image) and their loss set to −∞, so any finite outcome is preferred to theirs.
/// </summary>
/// With <paramref name="draws"/> &gt; 1 each evaluation is the mean of that many runs (expectation over
/// transformation, for randomized models).
internal sealed class BatchEvaluator(GradientSession session, AttackBatch batch, int draws = 1)
{
    private float[] _sumLoss = [], _sumLogits = [], _sumGradient = [];
    private readonly int _size = batch.ImageSize;
    private readonly int _classes = session.Classifier.Classes;
    private GradientSession.Buffers _buffers = session.For(1);
    private bool[] _nonFinite = [];
    private long[] _predictions = [];

    public AttackBatch Batch { get; } = batch;

    /// <summary>How many examples the last evaluation covered.</summary>
    public int Count { get; private set; }

    /// <summary>Evaluates examples <paramref name="examples"/>, each at its point in <paramref name="points"/> (example i at i · image size).</summary>
    public void Evaluate(ReadOnlySpan<float> points, ReadOnlySpan<int> examples)
    {
        int n = examples.Length;
        _buffers = session.For(n);
        for (int k = 0; k < n; k++)
        {
            int i = examples[k];
            points.Slice(i * _size, _size).CopyTo(_buffers.Pixels.AsSpan(k * _size, _size));
            _buffers.Labels[k] = Batch.Labels[i];
            if (_buffers.Targets is { } targets)
            {
                targets[k] = Batch.Targets?[i] ?? throw new InvalidOperationException($"the {session.Loss.Name} loss needs targets");
            }
        }
        session.Evaluate(_buffers, n);
        if (draws > 1)
        {
            Average(n);
        }
        Count = n;
        if (_nonFinite.Length < n)
        {
            _nonFinite = new bool[_buffers.Capacity];
            _predictions = new long[_buffers.Capacity];
        }
        for (int k = 0; k < n; k++)
        {
            var gradient = Gradient(k);
            bool finite = float.IsFinite(_buffers.Loss[k]) && !HasNonFinite(Logits(k)) && !HasNonFinite(gradient);
            _nonFinite[k] = !finite;
            if (!finite)
            {
                gradient.Clear();
                _buffers.Loss[k] = float.NegativeInfinity;
            }
            _predictions[k] = Scores.ArgMax(Logits(k));
        }
    }

    /// <summary>Runs the session <c>draws</c> − 1 more times on the same inputs and leaves the means in the buffers.</summary>
    private void Average(int n)
    {
        int classes = _classes, size = _size;
        if (_sumLoss.Length < n)
        {
            _sumLoss = new float[_buffers.Capacity];
            _sumLogits = new float[_buffers.Capacity * classes];
            _sumGradient = new float[_buffers.Capacity * size];
        }
        _buffers.Loss.AsSpan(0, n).CopyTo(_sumLoss);
        _buffers.Logits.AsSpan(0, n * classes).CopyTo(_sumLogits);
        _buffers.Gradient.AsSpan(0, n * size).CopyTo(_sumGradient);
        for (int draw = 1; draw < draws; draw++)
        {
            session.Evaluate(_buffers, n);
            Geometry.SpanMath.Add(_sumLoss.AsSpan(0, n), _buffers.Loss.AsSpan(0, n), _sumLoss.AsSpan(0, n));
            Geometry.SpanMath.Add(_sumLogits.AsSpan(0, n * classes), _buffers.Logits.AsSpan(0, n * classes), _sumLogits.AsSpan(0, n * classes));
            Geometry.SpanMath.Add(_sumGradient.AsSpan(0, n * size), _buffers.Gradient.AsSpan(0, n * size), _sumGradient.AsSpan(0, n * size));
        }
        float scale = 1f / draws;
        for (int j = 0; j < n; j++)
        {
            _buffers.Loss[j] = _sumLoss[j] * scale;
        }
        for (int j = 0; j < n * classes; j++)
        {
            _buffers.Logits[j] = _sumLogits[j] * scale;
        }
        for (int j = 0; j < n * size; j++)
        {
            _buffers.Gradient[j] = _sumGradient[j] * scale;
        }
    }

    /// <summary>Evaluates every example of the batch at <paramref name="points"/>.</summary>
    public void EvaluateAll(ReadOnlySpan<float> points)
    {
        Span<int> all = Batch.Count <= 1024 ? stackalloc int[Batch.Count] : new int[Batch.Count];
        for (int i = 0; i < all.Length; i++)
        {
            all[i] = i;
        }
        Evaluate(points, all);
    }

    /// <summary>Moves the results at position <paramref name="from"/> to <paramref name="to"/> (when an attack drops examples from its list).</summary>
    public void Move(int from, int to)
    {
        if (from == to)
        {
            return;
        }
        Gradient(from).CopyTo(Gradient(to));
        _buffers.Logits.AsSpan(from * _classes, _classes).CopyTo(_buffers.Logits.AsSpan(to * _classes, _classes));
        _buffers.Loss[to] = _buffers.Loss[from];
        _predictions[to] = _predictions[from];
        _nonFinite[to] = _nonFinite[from];
    }

    public float Loss(int position) => _buffers.Loss[position];

    public Span<float> Gradient(int position) => _buffers.Gradient.AsSpan(position * _size, _size);

    public ReadOnlySpan<float> Logits(int position) => _buffers.Logits.AsSpan(position * _classes, _classes);

    public long Prediction(int position) => _predictions[position];

    public bool NonFinite(int position) => _nonFinite[position];

    private static bool HasNonFinite(ReadOnlySpan<float> values)
    {
        foreach (float v in values)
        {
            if (!float.IsFinite(v))
            {
                return true;
            }
        }
        return false;
    }
}
