using System.Numerics;
using System.Runtime.InteropServices;
using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// Auto-PGD (Croce &amp; Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
/// parameter-free attacks", ICML 2020, Algorithm 1), and for ℓ1 the version of "Mind the box: ℓ1-APGD for sparse
/// adversarial attacks on image classifiers" (ICCV 2021). No step size to tune: each example keeps its own step
/// size, best point and best loss, and halves its step at checkpoints when its loss stopped improving.
/// </summary>
/// <remarks>
/// ℓ∞ and ℓ2: the start is a random point on the sphere of radius ε (clipped to the box); the step size starts at 2ε;
/// each iteration takes z = P(x + η·s(∇)) with s the sign (ℓ∞) or the normalised gradient (ℓ2) and moves to
/// P(x + α(z − x) + (1 − α)(x − x_prev)) with momentum α = 0.75 (1 on the first iteration). Checkpoints come after
/// 22 %, then 19 %, 16 % … of the iterations (each interval 3 % shorter, at least 6 %): an example halves its step
/// and restarts from its best point when fewer than ρ = 75 % of the interval's iterations increased its loss, or
/// when its step was not halved at the previous checkpoint (or the start) and its best loss has not moved since.
/// ℓ1: the start is the projection of a Gaussian onto the ℓ1 ball intersected with the box; each iteration moves
/// the coordinates with the largest |∇| (the top share k, starting at 20 %) by η·sign(∇)/(their count), and
/// projects onto that intersection exactly; every 4 % of the iterations the share k follows the sparsity of the
/// best point found (divided by 1.5) and the step size (starting at ε) is reset to ε where the best point got
/// sparser and divided by 1.5 elsewhere (within [ε/10, ε]), as the authors' code does; no momentum.
/// Where the paper and the authors' code differ we follow the paper: checkpoints at ⌈p_j·N⌉ (the code truncates
/// each interval, the same for N = 100), the first interval's first increase is counted against the start point
/// (the code compares it with zero), "too few increases" is strict (&lt; ρ·interval; the code uses ≤), and the
/// second condition applies at the first checkpoint too (the code skips it there).
/// An example that reaches the goal is recorded at that iterate; with early stopping it takes no further step.
/// Examples that never do are recorded at their best-loss point. AutoAttack's ℓ1 version
/// (<see cref="AttackSettings.DecreasingRadii"/>) runs three phases, at 3ε, 2ε and ε, each starting from the previous
/// one's best points projected into its ball (the first from a random start in the 3ε ball); only the last counts.
/// (AutoAttack starts each phase at the previous best point unprojected; we project, so nothing outside the ε-ball
/// is ever evaluated as a candidate.)
/// </remarks>
public sealed class Apgd(GradientSessions sessions, AttackSettings settings) : IAttack
{
    public const float Momentum = 0.75f;
    public const double Rho = 0.75;

    private readonly NormBall _ball = settings.Ball;

    public AttackSettings Settings { get; } = settings;

    public GradientSessions Sessions { get; } = sessions;

    private GradientSession Session { get; } = sessions.For(settings.Loss);

    /// <summary>Called after the start and after every iteration with each example's current point (tests compare iterates).</summary>
    internal Action<int, float[]>? Trace { get; init; }

    /// <summary>
    /// The numbers of iterations between the ℓ∞/ℓ2 checkpoints of a run of <paramref name="iterations"/>: the
    /// checkpoints are w_j = ⌈p_j·N⌉ with p_0 = 0, p_1 = 0.22 and p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)
    /// (22 %, 41 %, 57 %, 70 %, 80 %, 87 %, 93 %, 99 %, …), worked out in whole percent so no rounding moves one.
    /// </summary>
    public static IEnumerable<int> CheckpointIntervals(int iterations)
    {
        long percent = 0, increase = 22, previous = 0;
        while (true)
        {
            percent += increase;
            long checkpoint = (percent * iterations + 99) / 100;
            if (checkpoint > previous)
            {
                yield return (int)(checkpoint - previous);
                previous = checkpoint;
            }
            increase = Math.Max(increase - 3, 6);
        }
    }

    /// <summary>
    /// The phases of a run: (radius, iterations). One phase at ε; for ℓ1 with <see cref="AttackSettings.DecreasingRadii"/>,
    /// AutoAttack's ℓ1 schedule: 3ε, 2ε, then ε, for ⌈0.3N⌉, ⌈0.3N⌉ and the remaining iterations.
    /// </summary>
    public static IReadOnlyList<(float Eps, int Iterations)> Phases(AttackSettings settings)
    {
        if (settings.Norm != NormKind.L1 || !settings.DecreasingRadii)
        {
            return [(settings.Eps, settings.Steps)];
        }
        int first = (int)Math.Ceiling(0.3 * settings.Steps);
        return [(3 * settings.Eps, first), (2 * settings.Eps, first), (settings.Eps, Math.Max(settings.Steps - 2 * first, 1))];
    }

    public void Run(AttackBatch batch, ResultSlice results)
    {
        var phases = Phases(Settings);
        int done = 0, total = phases.Sum(p => p.Iterations);
        float[]? start = null;
        for (int k = 0; k < phases.Count; k++)
        {
            int before = done;
            var part = batch.Progress is { } report && phases.Count > 1
                ? batch.WithProgress(f => report((before + f * phases[k].Iterations) / total))
                : batch;
            start = RunPhase(part, results, phases[k].Eps, phases[k].Iterations, start, final: k == phases.Count - 1);
            done += phases[k].Iterations;
        }
        batch.Progress?.Invoke(1);
    }

    /// <summary>
    /// One APGD run at radius <paramref name="eps"/> from <paramref name="start"/> (null: a random start). Only the
    /// <paramref name="final"/> phase offers outcomes (earlier ones may leave the ε-ball); each returns its best points,
    /// where the next phase starts.
    /// </summary>
    private float[] RunPhase(AttackBatch batch, ResultSlice results, float eps, int iterations, float[]? start, bool final)
    {
        int n = batch.Count;
        int size = batch.ImageSize;
        bool l1 = Settings.Norm == NormKind.L1;
        var x0 = batch.Images;
        var x = new float[n * size];
        var previous = new float[n * size];
        var gradient = new float[n * size];
        var best = new float[n * size];
        var bestGradient = new float[n * size];
        var stepSize = new float[n];
        var bestLoss = new float[n];
        var bestLossAtCheck = new float[n];
        var lastLoss = new float[n];
        var increases = new int[n];
        var reducedAtCheck = new bool[n];
        var bestPrediction = new long[n];
        var nonFinite = new bool[n];
        var share = new double[n];
        var sparsityAtCheck = new int[n];

        if (start is null)
        {
            Start(batch, x, eps);
        }
        else
        {
            // The previous phase's best points, projected into this phase's smaller ℓ1 ball (inside the box), so that
            // no point this phase evaluates or records lies outside it.
            var delta = new float[size];
            var bounds = new float[size];
            for (int i = 0; i < n; i++)
            {
                var x0i = batch.Image(i);
                for (int j = 0; j < size; j++)
                {
                    delta[j] = start[i * size + j] - x0i[j];
                }
                L1Ball.ProjectInBox(delta, x0i, eps, Settings.Box, bounds);
                SpanMath.Add(x0i, delta, x.AsSpan(i * size, size));
                Settings.Box.Clip(x.AsSpan(i * size, size));
            }
        }
        Trace?.Invoke(0, x);
        var evaluator = new BatchEvaluator(Session, batch, Settings.Draws);
        var active = Enumerable.Range(0, n).ToArray();
        int running = n;
        evaluator.Evaluate(x, active);
        for (int i = 0; i < n; i++)
        {
            evaluator.Gradient(i).CopyTo(gradient.AsSpan(i * size, size));
            evaluator.Gradient(i).CopyTo(bestGradient.AsSpan(i * size, size));
            x.AsSpan(i * size, size).CopyTo(best.AsSpan(i * size, size));
            x.AsSpan(i * size, size).CopyTo(previous.AsSpan(i * size, size));
            bestLoss[i] = bestLossAtCheck[i] = lastLoss[i] = evaluator.Loss(i);
            bestPrediction[i] = evaluator.Prediction(i);
            nonFinite[i] = evaluator.NonFinite(i);
            reducedAtCheck[i] = false;
            stepSize[i] = Settings.StepSize * (eps / Settings.Eps);
            share[i] = 0.2;
            sparsityAtCheck[i] = size;
        }
        running = final ? OfferReached(batch, results, evaluator, x, active, running, nonFinite, Settings.EarlyStop) : running;

        using var intervals = CheckpointIntervals(iterations).GetEnumerator();
        intervals.MoveNext();
        int interval = l1 ? Math.Max(4 * iterations / 100, 1) : intervals.Current;
        int sinceCheck = 0;
        for (int iteration = 0; iteration < iterations && running > 0; iteration++)
        {
            float alpha = iteration > 0 ? Momentum : 1f;
            Parallel.For(0, running, Pgd.Parallelism, () => new Scratch(size), (position, _, scratch) =>
            {
                int i = active[position];
                var xi = x.AsSpan(i * size, size);
                var pi = previous.AsSpan(i * size, size);
                var gi = gradient.AsSpan(i * size, size);
                var x0i = x0.AsSpan(i * size, size);
                switch (Settings.Norm)
                {
                    case NormKind.Linf:
                        LinfStep(xi, pi, gi, x0i, stepSize[i], eps, alpha, Settings.Box);
                        break;
                    case NormKind.L2:
                        L2Step(xi, pi, gi, x0i, stepSize[i], eps, alpha, Settings.Box, scratch);
                        break;
                    case NormKind.L1:
                        L1Step(xi, gi, x0i, stepSize[i], eps, share[i], Settings.Box, scratch);
                        break;
                    default:
                        throw new ArgumentOutOfRangeException(nameof(Settings.Norm), Settings.Norm, "not a norm");
                }
                return scratch;
            }, _ => { });
            Trace?.Invoke(iteration + 1, x);

            evaluator.Evaluate(x, active.AsSpan(0, running));
            Parallel.For(0, running, Pgd.Parallelism, position =>
            {
                int i = active[position];
                float loss = evaluator.Loss(position);
                var g = evaluator.Gradient(position);
                g.CopyTo(gradient.AsSpan(i * size, size));
                nonFinite[i] |= evaluator.NonFinite(position);
                increases[i] += loss > lastLoss[i] ? 1 : 0;
                lastLoss[i] = loss;
                if (loss > bestLoss[i])
                {
                    bestLoss[i] = loss;
                    bestPrediction[i] = evaluator.Prediction(position);
                    x.AsSpan(i * size, size).CopyTo(best.AsSpan(i * size, size));
                    g.CopyTo(bestGradient.AsSpan(i * size, size));
                }
            });
            running = final ? OfferReached(batch, results, evaluator, x, active, running, nonFinite, Settings.EarlyStop) : running;

            if (++sinceCheck == interval)
            {
                for (int position = 0; position < running; position++)
                {
                    int i = active[position];
                    bool restart;
                    if (l1)
                    {
                        int sparsity = NonZeroDifferences(best.AsSpan(i * size, size), x0.AsSpan(i * size, size));
                        restart = sparsity < 0.95 * sparsityAtCheck[i];
                        share[i] = sparsity / (double)size / 1.5;
                        stepSize[i] = Math.Clamp(restart ? eps : stepSize[i] / 1.5f, eps / 10, eps);
                        sparsityAtCheck[i] = sparsity;
                    }
                    else
                    {
                        restart = increases[i] < Rho * interval || (!reducedAtCheck[i] && bestLossAtCheck[i] >= bestLoss[i]);
                        reducedAtCheck[i] = restart;
                        bestLossAtCheck[i] = bestLoss[i];
                        stepSize[i] = restart ? stepSize[i] / 2 : stepSize[i];
                    }
                    increases[i] = 0;
                    if (restart)
                    {
                        best.AsSpan(i * size, size).CopyTo(x.AsSpan(i * size, size));
                        bestGradient.AsSpan(i * size, size).CopyTo(gradient.AsSpan(i * size, size));
                    }
                }
                sinceCheck = 0;
                if (!l1)
                {
                    intervals.MoveNext();
                    interval = intervals.Current;
                }
            }
            batch.Progress?.Invoke((iteration + 1.0) / iterations);
        }
        if (!final)
        {
            return best;
        }
        for (int position = 0; position < running; position++)
        {
            int i = active[position];
            results.Offer(i, best.AsSpan(i * size, size), x0.AsSpan(i * size, size), bestPrediction[i], bestLoss[i],
                Settings.Goal.Reached(bestPrediction[i], batch.Labels[i], batch.Target(i)), nonFinite[i], bestGradient.AsSpan(i * size, size), _ball, eps,
                batch.Target(i));
        }
        return best;
    }

    /// <summary>The random start: on the sphere of radius ε for ℓ∞ and ℓ2, a projected Gaussian for ℓ1, clipped to the box.</summary>
    private void Start(AttackBatch batch, float[] x, float eps)
    {
        int size = batch.ImageSize;
        var t = new float[size];
        var bounds = new float[size];
        for (int i = 0; i < batch.Count; i++)
        {
            var xi = x.AsSpan(i * size, size);
            var x0i = batch.Image(i);
            switch (Settings.Norm)
            {
                case NormKind.Linf:
                {
                    for (int j = 0; j < size; j++)
                    {
                        t[j] = (float)(2 * batch.Random.NextDouble() - 1);
                    }
                    float scale = eps / (SpanMath.MaxAbs(t) + 1e-12f);
                    for (int j = 0; j < size; j++)
                    {
                        xi[j] = x0i[j] + scale * t[j];
                    }
                    break;
                }
                case NormKind.L2:
                {
                    for (int j = 0; j < size; j++)
                    {
                        t[j] = (float)NormBall.Gaussian(batch.Random);
                    }
                    float scale = eps / ((float)Math.Sqrt(NormBall.Dot(t, t)) + 1e-12f);
                    for (int j = 0; j < size; j++)
                    {
                        xi[j] = x0i[j] + scale * t[j];
                    }
                    break;
                }
                case NormKind.L1:
                {
                    for (int j = 0; j < size; j++)
                    {
                        t[j] = (float)NormBall.Gaussian(batch.Random);
                    }
                    L1Ball.ProjectInBox(t, x0i, eps, Settings.Box, bounds);
                    SpanMath.Add(x0i, t, xi);
                    break;
                }
                default:
                    throw new ArgumentOutOfRangeException(nameof(Settings.Norm), Settings.Norm, "not a norm");
            }
            Settings.Box.Clip(xi);
        }
    }

    /// <summary>
    /// ℓ∞: z = clip(x + η·sign(g)); x ← clip(x + α(z − x) + (1 − α)(x − x_prev)), clip onto the ball ∩ box, which
    /// for ℓ∞ is the interval [max(x⁰ − ε, 0), min(x⁰ + ε, 1)] per coordinate. <paramref name="previous"/> becomes x.
    /// </summary>
    private static void LinfStep(Span<float> x, Span<float> previous, ReadOnlySpan<float> g, ReadOnlySpan<float> x0, float eta, float eps, float alpha, PixelBox box)
    {
        var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
        var pv = MemoryMarshal.Cast<float, Vector<float>>(previous);
        var gv = MemoryMarshal.Cast<float, Vector<float>>(g);
        var cv = MemoryMarshal.Cast<float, Vector<float>>(x0);
        var (vEta, vEps, vAlpha, vBeta) = (new Vector<float>(eta), new Vector<float>(eps), new Vector<float>(alpha), new Vector<float>(1 - alpha));
        var (vLower, vUpper) = (new Vector<float>(box.Lower), new Vector<float>(box.Upper));
        for (int k = 0; k < xv.Length; k++)
        {
            var lo = Vector.Max(cv[k] - vEps, vLower);
            var hi = Vector.Min(cv[k] + vEps, vUpper);
            var xk = xv[k];
            var sign = Vector.ConditionalSelect(Vector.GreaterThan(gv[k], Vector<float>.Zero), Vector<float>.One,
                Vector.ConditionalSelect(Vector.LessThan(gv[k], Vector<float>.Zero), -Vector<float>.One, Vector<float>.Zero));
            var z = Vector.Min(Vector.Max(xk + vEta * sign, lo), hi);
            var moved = xk + (z - xk) * vAlpha + (xk - pv[k]) * vBeta;
            pv[k] = xk;
            xv[k] = Vector.Min(Vector.Max(moved, lo), hi);
        }
        for (int j = xv.Length * Vector<float>.Count; j < x.Length; j++)
        {
            float lo = Math.Max(x0[j] - eps, box.Lower), hi = Math.Min(x0[j] + eps, box.Upper);
            float xj = x[j];
            float z = Math.Min(Math.Max(xj + eta * Math.Sign(g[j]), lo), hi);
            float moved = xj + (z - xj) * alpha + (xj - previous[j]) * (1 - alpha);
            previous[j] = xj;
            x[j] = Math.Min(Math.Max(moved, lo), hi);
        }
    }

    /// <summary>ℓ2: the same momentum step with the normalised gradient, each point projected onto the ball then clipped to the box (as the authors do).</summary>
    private static void L2Step(Span<float> x, Span<float> previous, ReadOnlySpan<float> g, ReadOnlySpan<float> x0, float eta, float eps, float alpha, PixelBox box,
        Scratch scratch)
    {
        var z = scratch.A.AsSpan();
        float scale = eta / ((float)Math.Sqrt(NormBall.Dot(g, g)) + 1e-12f);
        for (int j = 0; j < x.Length; j++)
        {
            z[j] = x[j] + scale * g[j];
        }
        ProjectL2(z, x0, eps, box);
        for (int j = 0; j < x.Length; j++)
        {
            float xj = x[j];
            z[j] = xj + (z[j] - xj) * alpha + (xj - previous[j]) * (1 - alpha);
            previous[j] = xj;
        }
        ProjectL2(z, x0, eps, box);
        z.CopyTo(x);
    }

    /// <summary>p ← clip(x⁰ + (p − x⁰) · min(ε, ‖p − x⁰‖) / ‖p − x⁰‖).</summary>
    private static void ProjectL2(Span<float> p, ReadOnlySpan<float> x0, float eps, PixelBox box)
    {
        double sum = 0;
        for (int j = 0; j < p.Length; j++)
        {
            float d = p[j] - x0[j];
            sum += (double)d * d;
        }
        float norm = (float)Math.Sqrt(sum);
        float factor = Math.Min(eps, norm) / (norm + 1e-12f);
        for (int j = 0; j < p.Length; j++)
        {
            p[j] = x0[j] + (p[j] - x0[j]) * factor;
        }
        box.Clip(p);
    }

    /// <summary>
    /// ℓ1: move the coordinates whose |g| is at least the (1 − share)-quantile by η·sign(g) / (their count), then
    /// project onto the ℓ1 ball ∩ box exactly.
    /// </summary>
    private static void L1Step(Span<float> x, ReadOnlySpan<float> g, ReadOnlySpan<float> x0, float eta, float eps, double share, PixelBox box, Scratch scratch)
    {
        int size = x.Length;
        var magnitudes = scratch.A.AsSpan();
        for (int j = 0; j < size; j++)
        {
            magnitudes[j] = Math.Abs(g[j]);
        }
        int rank = (int)Math.Clamp((1 - share) * size, 0, size - 1);
        float threshold = SpanMath.KthSmallest(magnitudes, rank);
        int count = 0;
        for (int j = 0; j < size; j++)
        {
            count += Math.Abs(g[j]) >= threshold && g[j] != 0 ? 1 : 0;
        }
        float move = eta / (count + 1e-10f);
        var delta = scratch.A.AsSpan();
        for (int j = 0; j < size; j++)
        {
            float step = Math.Abs(g[j]) >= threshold ? Math.Sign(g[j]) * move : 0f;
            delta[j] = x[j] + step - x0[j];
        }
        L1Ball.ProjectInBox(delta, x0, eps, box, scratch.B);
        SpanMath.Add(x0, delta, x);
        box.Clip(x);
    }

    private static int NonZeroDifferences(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int count = 0;
        for (int j = 0; j < a.Length; j++)
        {
            count += a[j] != b[j] ? 1 : 0;
        }
        return count;
    }

    /// <summary>Offers the examples whose current point reaches the goal; with early stopping they leave <paramref name="active"/>.</summary>
    private int OfferReached(AttackBatch batch, ResultSlice results, BatchEvaluator evaluator, float[] x, int[] active, int running, bool[] nonFinite, bool stop)
    {
        int size = batch.ImageSize;
        int kept = 0;
        for (int position = 0; position < running; position++)
        {
            int i = active[position];
            long prediction = evaluator.Prediction(position);
            if (Settings.Goal.Reached(prediction, batch.Labels[i], batch.Target(i)))
            {
                results.Offer(i, x.AsSpan(i * size, size), batch.Image(i), prediction, evaluator.Loss(position), true, nonFinite[i],
                    evaluator.Gradient(position), _ball, Settings.Eps, batch.Target(i));
                if (stop)
                {
                    continue;
                }
            }
            active[kept++] = i;
        }
        return kept;
    }

    private sealed class Scratch(int size)
    {
        public float[] A { get; } = new float[size];

        public float[] B { get; } = new float[size];
    }
}
