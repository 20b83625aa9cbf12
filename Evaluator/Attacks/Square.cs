using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// The Square attack (Andriushchenko, Croce, Flammarion &amp; Hein, "Square Attack: a query-efficient black-box
/// adversarial attack via random search", ECCV 2020), as AutoAttack runs it: score-based random search on the
/// margin loss z_y − max_{i≠y} z_i, forward passes only — so it runs on any model ONNX Runtime runs, including those
/// whose graph has ops without a gradient rule, and it is blind to gradient masking.
/// </summary>
/// <remarks>
/// Each example keeps its best point. ℓ∞: the start puts ±ε on vertical stripes (one sign per channel and column);
/// each query redraws one random square window of side s to ±ε (one sign per channel) and keeps the result when
/// the margin fell (or the example is fooled). ℓ2: the start is a grid of "pseudo-Gaussian" blocks (two opposite
/// rectangles of 1/r² rings) with random signs, scaled to ‖δ‖ = ε; each query moves the mass of a second window into
/// the first and adds a fresh pseudo-Gaussian block there, rescaled so that ‖δ‖ = ε again. The side s follows the
/// published schedule: the share p of the image a window covers starts at 0.8 and halves after 10, 50, 200, 500,
/// 1,000, 2,000, 4,000, 6,000 and 8,000 of 10,000 queries (scaled to the query budget), s = round(√(p·h·w)) (ℓ2:
/// at least 3 and odd). An example stops once fooled. Unlike AutoAttack's batch version, every example draws its own
/// windows and signs from its own random sequence, so its outcome does not depend on the others in the batch.
/// </remarks>
public sealed class Square(GradientSessions sessions, AttackSettings settings) : IAttack
{
    /// <summary>The share of the image the first windows cover (AutoAttack's p_init).</summary>
    public const double InitialShare = 0.8;

    private readonly NormBall _ball = settings.Ball;

    public AttackSettings Settings { get; } = settings.Norm is NormKind.Linf or NormKind.L2
        ? settings
        : throw new UserErrorException($"square runs in the linf and l2 balls, not {settings.Norm.Name()}");

    public GradientSessions Sessions { get; } = sessions;

    public bool NeedsGradients => false;

    /// <summary>The share p of the image a window covers at query <paramref name="iteration"/> of <paramref name="queries"/>.</summary>
    public static double Share(int iteration, int queries)
    {
        int scaled = (int)(iteration / (double)queries * 10000);
        int halvings = scaled switch
        {
            <= 10 => 0,
            <= 50 => 1,
            <= 200 => 2,
            <= 500 => 3,
            <= 1000 => 4,
            <= 2000 => 5,
            <= 4000 => 6,
            <= 6000 => 7,
            <= 8000 => 8,
            _ => 9,
        };
        return InitialShare / (1 << halvings);
    }

    /// <summary>The window side at query <paramref name="iteration"/> for an h × w image (ℓ2: at least 3 and odd), at most the image's side.</summary>
    public static int Side(int iteration, int queries, int height, int width, NormKind norm)
    {
        int side = (int)Math.Round(Math.Sqrt(Share(iteration, queries) * height * width));
        if (norm == NormKind.L2)
        {
            side = Math.Max(side, 3);
            side += side % 2 == 0 ? 1 : 0;
        }
        return Math.Clamp(side, 1, Math.Min(height, width));
    }

    public void Run(AttackBatch batch, ResultSlice results)
    {
        var classifier = Sessions.Classifier;
        var forward = Sessions.Forward;
        int n = batch.Count;
        int size = batch.ImageSize;
        int classes = batch.Classes;
        var shape = new ImageShape(classifier.Channels, classifier.Height, classifier.Width);
        float eps = Settings.Eps;
        var x0 = batch.Images;
        var best = new float[n * size];
        var candidate = new float[n * size];
        var bestLoss = new float[n];
        var bestPrediction = new long[n];
        var nonFinite = new bool[n];
        var randoms = new Random[n];
        for (int i = 0; i < n; i++)
        {
            randoms[i] = new Random(batch.Random.Next());
        }

        Parallel.For(0, n, Pgd.Parallelism, i =>
        {
            var scratch = new float[size];
            if (Settings.Norm == NormKind.Linf)
            {
                LinfStart(x0.AsSpan(i * size, size), best.AsSpan(i * size, size), shape, eps, randoms[i], Settings.Box);
            }
            else
            {
                L2Start(x0.AsSpan(i * size, size), best.AsSpan(i * size, size), shape, eps, randoms[i], Settings.Box, scratch);
            }
        });
        var active = Enumerable.Range(0, n).ToArray();
        int running = n;
        var scores = Evaluate(forward, best, active, running, size);
        for (int position = 0; position < running; position++)
        {
            int i = active[position];
            var z = scores.AsSpan(position * classes, classes);
            bestLoss[i] = Loss(z, batch.Labels[i], ref nonFinite[i]);
            bestPrediction[i] = Scores.ArgMax(z);
        }
        running = OfferFooled(batch, results, best, active, running, bestPrediction, bestLoss, nonFinite);

        for (int query = 0; query < Settings.Steps && running > 0; query++)
        {
            int side = Side(query, Settings.Steps, shape.Height, shape.Width, Settings.Norm);
            Parallel.For(0, running, Pgd.Parallelism, () => new float[size], (position, _, scratch) =>
            {
                int i = active[position];
                var proposal = candidate.AsSpan(i * size, size);
                if (Settings.Norm == NormKind.Linf)
                {
                    LinfProposal(x0.AsSpan(i * size, size), best.AsSpan(i * size, size), proposal, shape, side, eps, randoms[i], Settings.Box);
                }
                else
                {
                    L2Proposal(x0.AsSpan(i * size, size), best.AsSpan(i * size, size), proposal, shape, side, eps, randoms[i], Settings.Box, scratch);
                }
                return scratch;
            }, _ => { });
            scores = Evaluate(forward, candidate, active, running, size);
            for (int position = 0; position < running; position++)
            {
                int i = active[position];
                var z = scores.AsSpan(position * classes, classes);
                float loss = Loss(z, batch.Labels[i], ref nonFinite[i]);
                long prediction = Scores.ArgMax(z);
                // Kept when the margin fell, or when the proposal fools the model (AutoAttack's rule).
                if (loss > bestLoss[i] || prediction != batch.Labels[i] && prediction >= 0)
                {
                    bestLoss[i] = Math.Max(loss, bestLoss[i]);
                    bestPrediction[i] = prediction;
                    candidate.AsSpan(i * size, size).CopyTo(best.AsSpan(i * size, size));
                }
            }
            running = OfferFooled(batch, results, best, active, running, bestPrediction, bestLoss, nonFinite);
            batch.Progress?.Invoke((query + 1.0) / Settings.Steps);
        }
        for (int position = 0; position < running; position++)
        {
            int i = active[position];
            results.Offer(i, best.AsSpan(i * size, size), x0.AsSpan(i * size, size), bestPrediction[i], bestLoss[i], false, nonFinite[i], [], _ball, eps, -1);
        }
        batch.Progress?.Invoke(1);
    }

    /// <summary>The margin loss (higher: closer to fooled); −∞ and flagged when the scores are not finite.</summary>
    private static float Loss(ReadOnlySpan<float> z, long label, ref bool nonFinite)
    {
        float loss = Scores.Margin(z, label);
        if (float.IsFinite(loss))
        {
            return loss;
        }
        nonFinite = true;
        return float.NegativeInfinity;
    }

    private float[] _gathered = [];

    /// <summary>The scores of the listed examples' points, gathered into one batch (the buffer is reused across queries).</summary>
    private float[] Evaluate(PredictionSession forward, float[] points, int[] active, int running, int size)
    {
        if (_gathered.Length < running * size)
        {
            _gathered = new float[running * size];
        }
        for (int position = 0; position < running; position++)
        {
            points.AsSpan(active[position] * size, size).CopyTo(_gathered.AsSpan(position * size));
        }
        return forward.Logits(_gathered.AsSpan(0, running * size), running, running);
    }

    /// <summary>Offers the examples that are fooled at their best point; they leave <paramref name="active"/>.</summary>
    private int OfferFooled(AttackBatch batch, ResultSlice results, float[] best, int[] active, int running, long[] prediction, float[] loss, bool[] nonFinite)
    {
        int size = batch.ImageSize;
        int kept = 0;
        for (int position = 0; position < running; position++)
        {
            int i = active[position];
            if (prediction[i] != batch.Labels[i])
            {
                results.Offer(i, best.AsSpan(i * size, size), batch.Image(i), prediction[i], loss[i], true, nonFinite[i], [], _ball, Settings.Eps, -1);
                continue;
            }
            active[kept++] = i;
        }
        return kept;
    }

    /// <summary>ℓ∞ start: x + ε·(±1) with one sign per channel and column (vertical stripes), clipped to the box.</summary>
    internal static void LinfStart(ReadOnlySpan<float> x0, Span<float> x, ImageShape shape, float eps, Random random, PixelBox box)
    {
        for (int c = 0; c < shape.Channels; c++)
        {
            for (int col = 0; col < shape.Width; col++)
            {
                float sign = random.Next(2) == 0 ? -1f : 1f;
                for (int row = 0; row < shape.Height; row++)
                {
                    int j = shape.Index(c, row, col);
                    x[j] = box.Clip(x0[j] + eps * sign);
                }
            }
        }
    }

    /// <summary>ℓ∞ query: the best point with one window of side <paramref name="side"/> set to x + ε·(±1), a sign per channel, clipped to the box.</summary>
    internal static void LinfProposal(ReadOnlySpan<float> x0, ReadOnlySpan<float> best, Span<float> proposal, ImageShape shape, int side, float eps, Random random,
        PixelBox box)
    {
        best.CopyTo(proposal);
        int top = Position(random, shape.Height - side), left = Position(random, shape.Width - side);
        for (int c = 0; c < shape.Channels; c++)
        {
            float sign = random.Next(2) == 0 ? -1f : 1f;
            for (int row = top; row < top + side; row++)
            {
                for (int col = left; col < left + side; col++)
                {
                    int j = shape.Index(c, row, col);
                    proposal[j] = box.Clip(x0[j] + eps * sign);
                }
            }
        }
    }

    /// <summary>ℓ2 start: a grid of pseudo-Gaussian blocks with a random sign per channel, scaled to ‖δ‖ = ε, clipped to the box.</summary>
    internal static void L2Start(ReadOnlySpan<float> x0, Span<float> x, ImageShape shape, float eps, Random random, PixelBox box, float[] delta)
    {
        Array.Clear(delta);
        int side = Math.Max(shape.Height / 5, 1);
        int margin = Math.Max((shape.Height - side * 5) / 2, 0);
        for (int top = margin, rowBlock = 0; rowBlock < shape.Height / side; rowBlock++, top += side)
        {
            for (int left = margin, colBlock = 0; colBlock < shape.Width / side; colBlock++, left += side)
            {
                var block = PseudoGaussian(side, random);
                for (int c = 0; c < shape.Channels; c++)
                {
                    float sign = random.Next(2) == 0 ? -1f : 1f;
                    for (int r = 0; r < side && top + r < shape.Height; r++)
                    {
                        for (int q = 0; q < side && left + q < shape.Width; q++)
                        {
                            delta[shape.Index(c, top + r, left + q)] += sign * block[r * side + q];
                        }
                    }
                }
            }
        }
        ScaleInto(x0, delta, x, eps, box);
    }

    /// <summary>
    /// ℓ2 query: δ = best − x; the mass of window 2 moves into window 1, which becomes (per channel) its normalised
    /// old content plus a fresh signed pseudo-Gaussian block, scaled to √(max(ε² − ‖δ‖², 0)/C + ‖δ on both windows‖²);
    /// then δ is scaled to norm ε and x + δ clipped to the box.
    /// </summary>
    internal static void L2Proposal(ReadOnlySpan<float> x0, ReadOnlySpan<float> best, Span<float> proposal, ImageShape shape, int side, float eps, Random random,
        PixelBox box, float[] delta)
    {
        for (int j = 0; j < delta.Length; j++)
        {
            delta[j] = best[j] - x0[j];
        }
        int top = Position(random, shape.Height - side), left = Position(random, shape.Width - side);
        int top2 = Position(random, shape.Height - side), left2 = Position(random, shape.Width - side);
        var block = PseudoGaussian(side, random);
        double imageNorm2 = NormBall.Dot(delta, delta);
        double windowsNorm2 = 0;
        for (int c = 0; c < shape.Channels; c++)
        {
            for (int row = 0; row < shape.Height; row++)
            {
                for (int col = 0; col < shape.Width; col++)
                {
                    bool inside = InWindow(row, col, top, left, side) || InWindow(row, col, top2, left2, side);
                    float d = delta[shape.Index(c, row, col)];
                    windowsNorm2 += inside ? (double)d * d : 0;
                }
            }
        }
        double target = Math.Sqrt(Math.Max((double)eps * eps - imageNorm2, 0) / shape.Channels + windowsNorm2);
        var fresh = new float[side * side];
        for (int c = 0; c < shape.Channels; c++)
        {
            float sign = random.Next(2) == 0 ? -1f : 1f;
            double oldNorm2 = 0;
            for (int r = 0; r < side; r++)
            {
                for (int q = 0; q < side; q++)
                {
                    float d = delta[shape.Index(c, top + r, left + q)];
                    oldNorm2 += (double)d * d;
                }
            }
            double oldScale = 1 / (1e-12 + Math.Sqrt(oldNorm2));
            double freshNorm2 = 0;
            for (int r = 0; r < side; r++)
            {
                for (int q = 0; q < side; q++)
                {
                    double v = sign * block[r * side + q] + delta[shape.Index(c, top + r, left + q)] * oldScale;
                    fresh[r * side + q] = (float)v;
                    freshNorm2 += v * v;
                }
            }
            double scale = target / (1e-12 + Math.Sqrt(freshNorm2));
            for (int r = 0; r < side; r++)
            {
                for (int q = 0; q < side; q++)
                {
                    delta[shape.Index(c, top2 + r, left2 + q)] = 0;
                }
            }
            for (int r = 0; r < side; r++)
            {
                for (int q = 0; q < side; q++)
                {
                    delta[shape.Index(c, top + r, left + q)] = (float)(fresh[r * side + q] * scale);
                }
            }
        }
        ScaleInto(x0, delta, proposal, eps, box);
    }

    /// <summary>x = clip(x⁰ + ε·δ/‖δ‖₂).</summary>
    private static void ScaleInto(ReadOnlySpan<float> x0, ReadOnlySpan<float> delta, Span<float> x, float eps, PixelBox box)
    {
        float scale = (float)(eps / (Math.Sqrt(NormBall.Dot(delta, delta)) + 1e-12));
        for (int j = 0; j < x.Length; j++)
        {
            x[j] = box.Clip(x0[j] + delta[j] * scale);
        }
    }

    /// <summary>
    /// The s × s pseudo-Gaussian block (row-major): the top ⌊s/2⌋ rows and the other rows each a rectangle of
    /// concentric rings weighted 1/r², of opposite signs, each normalised, the whole normalised to ‖·‖₂ = 1, and
    /// transposed with probability ½.
    /// </summary>
    internal static float[] PseudoGaussian(int side, Random random)
    {
        var block = new double[side * side];
        int half = side / 2;
        Rings(block, side, 0, half, 1);
        Rings(block, side, half, side - half, -1);
        double norm = Math.Sqrt(block.Sum(v => v * v));
        bool transpose = random.NextDouble() > 0.5;
        var result = new float[side * side];
        for (int r = 0; r < side; r++)
        {
            for (int q = 0; q < side; q++)
            {
                result[transpose ? q * side + r : r * side + q] = (float)(block[r * side + q] / norm);
            }
        }
        return result;
    }

    /// <summary>
    /// Rows <paramref name="first"/> … of <paramref name="block"/>: a <paramref name="rows"/> × side rectangle where
    /// the k-th ring around its centre (⌊rows/2⌋, ⌊side/2⌋) adds 1/(k+1)² to everything inside it, normalised.
    /// </summary>
    private static void Rings(double[] block, int side, int first, int rows, int sign)
    {
        if (rows == 0)
        {
            return;
        }
        var rect = new double[rows * side];
        int centreRow = rows / 2, centreCol = side / 2;
        for (int k = 0; k < Math.Max(rows / 2 + 1, side / 2 + 1); k++)
        {
            int r0 = Math.Max(centreRow - k, 0), r1 = Math.Min(centreRow - k + 2 * k + 1, rows);
            int c0 = Math.Max(centreCol - k, 0), c1 = Math.Min(centreCol - k + 2 * k + 1, side);
            for (int r = r0; r < r1; r++)
            {
                for (int c = c0; c < c1; c++)
                {
                    rect[r * side + c] += 1.0 / ((k + 1) * (k + 1));
                }
            }
        }
        double norm = Math.Sqrt(rect.Sum(v => v * v));
        for (int j = 0; j < rect.Length; j++)
        {
            block[first * side + j] = sign * rect[j] / norm;
        }
    }

    private static bool InWindow(int row, int col, int top, int left, int side) => row >= top && row < top + side && col >= left && col < left + side;

    /// <summary>A window's offset in [0, room) (0 when the window fills the side), as AutoAttack draws it.</summary>
    private static int Position(Random random, int room) => room <= 0 ? 0 : (int)(random.NextDouble() * room);
}

/// <summary>An image's channels, height and width (NCHW, one example): the index of a pixel.</summary>
internal readonly record struct ImageShape(int Channels, int Height, int Width)
{
    public int Index(int channel, int row, int col) => (channel * Height + row) * Width + col;
}
