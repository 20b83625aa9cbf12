using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// FAB, the fast adaptive boundary attack (Croce &amp; Hein, "Minimally distorted adversarial examples with a fast
/// adaptive boundary attack", ICML 2020), in ℓ∞, ℓ2 and ℓ1, as AutoAttack runs it. FAB looks for the smallest
/// perturbation that changes the class: each iteration linearises the boundary between the true class y and a
/// class t (z_t − z_y = 0, from one gradient of the <c>difference</c> loss), projects both the current point and the
/// clean image onto that hyperplane inside the box (<see cref="HyperplaneProjection"/>), and moves to a convex
/// combination of the two, extrapolated by η, that favours the clean image (weight α ≤ α_max). Whenever the
/// current point is misclassified it is remembered if it is the smallest so far, then pulled back towards the clean
/// image by β. An example counts as fooled when the smallest adversarial point found lies within ε.
/// </summary>
/// <remarks>
/// FAB-T (targeted, AutoAttack's third attack) linearises towards one target class; <see cref="TopTargets"/> runs it
/// for each of the 9 most likely wrong classes. Untargeted FAB (<c>fab</c>, in AutoAttack's "plus" version) takes
/// at each iteration the class whose linearised boundary is nearest, which costs one gradient per class. The first
/// run starts at the clean image; restarts start at a random point at distance ε/2 (AutoAttack's choice). With
/// early stopping an example stops once its adversarial point is within ε (the smallest-norm search beyond that
/// does not change whether it is fooled). η = 1.05, α_max = 0.1, β = 0.9, as in AutoAttack.
/// </remarks>
public sealed class Fab(GradientSessions sessions, AttackSettings settings) : IAttack
{
    public const float Eta = 1.05f;
    public const float AlphaMax = 0.1f;
    public const float Beta = 0.9f;

    private readonly NormBall _ball = settings.Ball;

    public AttackSettings Settings { get; } = settings;

    public GradientSessions Sessions { get; } = sessions;

    /// <summary>FAB linearises z_t − z_y whatever the run's loss (untargeted FAB reports the margin, FAB-T the difference).</summary>
    private GradientSession Session { get; } = sessions.For(Gradients.Loss.Difference);

    public void Run(AttackBatch batch, ResultSlice results)
    {
        int n = batch.Count;
        int size = batch.ImageSize;
        var found = new bool[n];
        for (int run = 0; run < Settings.Restarts; run++)
        {
            var left = Enumerable.Range(0, n).Where(i => !(Settings.EarlyStop && (found[i] || results[i].Success))).ToList();
            if (left.Count == 0)
            {
                break;
            }
            int done = run;
            Action<double>? report = batch.Progress is { } progress ? f => progress((done + f) / Settings.Restarts) : null;
            var part = left.Count == n ? batch.WithProgress(report) : batch.Subset(left, report);
            var outcome = RunOnce(part, randomStart: run > 0);
            for (int k = 0; k < left.Count; k++)
            {
                if (outcome.Norm[k] <= Settings.Eps)
                {
                    int i = left[k];
                    found[i] = true;
                    results.Offer(i, outcome.Points.AsSpan(k * size, size), batch.Image(i), outcome.Prediction[k], outcome.Loss[k], true, outcome.NonFinite[k],
                        [], _ball, Settings.Eps, batch.Target(i));
                }
                else
                {
                    results[left[k]].NonFinite |= outcome.NonFinite[k];
                }
            }
        }
        batch.Progress?.Invoke(1);
    }

    /// <summary>Each example's smallest adversarial point of one run: the point, its norm (∞: none), prediction and loss.</summary>
    private sealed record Outcome(float[] Points, double[] Norm, long[] Prediction, float[] Loss, bool[] NonFinite);

    private Outcome RunOnce(AttackBatch batch, bool randomStart)
    {
        int n = batch.Count;
        int size = batch.ImageSize;
        float eps = Settings.Eps;
        var x0 = batch.Images;
        var x = (float[])x0.Clone();
        var gradient = new float[n * size];
        var difference = new float[n];
        var prediction = new long[n];
        var outcome = new Outcome(new float[n * size], Enumerable.Repeat(double.PositiveInfinity, n).ToArray(), new long[n], new float[n], new bool[n]);
        if (randomStart)
        {
            var t = new float[size];
            for (int i = 0; i < n; i++)
            {
                RandomDirection(batch.Random, t);
                float scale = 0.5f * eps / (float)(_ball.Norm(t) + 1e-12);
                var xi = x.AsSpan(i * size, size);
                for (int j = 0; j < size; j++)
                {
                    xi[j] += scale * t[j];
                }
                Settings.Box.Clip(xi);
            }
        }
        var active = Enumerable.Range(0, n).ToArray();
        int running = n;
        Linearise(batch, x, active.AsSpan(0, running), gradient, difference, prediction, outcome.NonFinite);
        for (int iteration = 0; iteration < Settings.Steps && running > 0; iteration++)
        {
            Parallel.For(0, running, Pgd.Parallelism, () => new Scratch(size), (position, _, scratch) =>
            {
                int i = active[position];
                Step(x.AsSpan(i * size, size), x0.AsSpan(i * size, size), gradient.AsSpan(i * size, size), difference[i], scratch);
                return scratch;
            }, _ => { });
            Linearise(batch, x, active.AsSpan(0, running), gradient, difference, prediction, outcome.NonFinite);

            // Misclassified points: the smallest is kept, and the search goes on from nearer the clean image.
            var pulled = new List<int>();
            int kept = 0;
            for (int position = 0; position < running; position++)
            {
                int i = active[position];
                if (prediction[i] != batch.Labels[i] && prediction[i] >= 0)
                {
                    var xi = x.AsSpan(i * size, size);
                    var x0i = x0.AsSpan(i * size, size);
                    double norm = Distance(xi, x0i);
                    if (norm < outcome.Norm[i])
                    {
                        outcome.Norm[i] = norm;
                        outcome.Prediction[i] = prediction[i];
                        outcome.Loss[i] = difference[i];
                        xi.CopyTo(outcome.Points.AsSpan(i * size, size));
                    }
                    for (int j = 0; j < size; j++)
                    {
                        xi[j] = x0i[j] + (xi[j] - x0i[j]) * Beta;
                    }
                    if (Settings.EarlyStop && outcome.Norm[i] <= eps)
                    {
                        continue;
                    }
                    pulled.Add(i);
                }
                active[kept++] = i;
            }
            running = kept;
            if (pulled.Count > 0)
            {
                Linearise(batch, x, pulled.ToArray(), gradient, difference, prediction, outcome.NonFinite);
            }
            batch.Progress?.Invoke((iteration + 1.0) / Settings.Steps);
        }
        return outcome;
    }

    /// <summary>
    /// The gradient and value of z_t − z_y at each listed example's point, for the class t FAB linearises towards:
    /// the target (FAB-T), or the class whose linearised boundary is nearest (untargeted FAB, one evaluation per
    /// class). Also each example's prediction there.
    /// </summary>
    private void Linearise(AttackBatch batch, float[] x, ReadOnlySpan<int> examples, float[] gradient, float[] difference, long[] prediction, bool[] nonFinite)
    {
        int size = batch.ImageSize;
        bool targeted = Settings.Goal.IsTargeted;
        int rounds = targeted ? 1 : batch.Classes - 1;
        var nearest = new double[batch.Count];
        Array.Fill(nearest, double.PositiveInfinity);
        for (int round = 0; round < rounds; round++)
        {
            var aimed = targeted ? batch : batch.WithTargets(batch.Labels.Select(y => round < y ? (long)round : round + 1).ToArray());
            var evaluator = new BatchEvaluator(Session, aimed);
            evaluator.Evaluate(x, examples);
            for (int position = 0; position < examples.Length; position++)
            {
                int i = examples[position];
                if (round == 0)
                {
                    prediction[i] = evaluator.Prediction(position);
                    difference[i] = float.NaN;
                    gradient.AsSpan(i * size, size).Clear();
                }
                nonFinite[i] |= evaluator.NonFinite(position);
                if (evaluator.NonFinite(position))
                {
                    continue;
                }
                var g = evaluator.Gradient(position);
                double distance = Math.Abs(evaluator.Loss(position)) / (_ball.DualNorm(g) + 1e-12);
                if (distance < nearest[i])
                {
                    nearest[i] = distance;
                    difference[i] = evaluator.Loss(position);
                    g.CopyTo(gradient.AsSpan(i * size, size));
                }
            }
        }
    }

    /// <summary>
    /// One FAB step: the boundary z_t − z_y ≈ f + g·(z − x) = 0 as the hyperplane g·z = g·x − f; d1 and d2 the
    /// smallest steps onto it from x and from the clean image x⁰ (inside the box); then
    /// x ← clip((x + η·d1)(1 − α) + (x⁰ + η·d2)·α) with α = min(‖d1‖ / (‖d1‖ + ‖d2‖), α_max).
    /// </summary>
    private void Step(Span<float> x, ReadOnlySpan<float> x0, ReadOnlySpan<float> g, float f, Scratch scratch)
    {
        if (!float.IsFinite(f))
        {
            return;
        }
        double gx = NormBall.Dot(g, x), gx0 = NormBall.Dot(g, x0);
        double b = gx - f;
        scratch.Projection.Project(Settings.Norm, x, g, b - gx, Settings.Box, scratch.D1);
        scratch.Projection.Project(Settings.Norm, x0, g, b - gx0, Settings.Box, scratch.D2);
        double a1 = Math.Max(_ball.Norm(scratch.D1), 1e-8), a2 = Math.Max(_ball.Norm(scratch.D2), 1e-8);
        float alpha = (float)Math.Min(Math.Max(a1 / (a1 + a2), 0), AlphaMax);
        for (int j = 0; j < x.Length; j++)
        {
            x[j] = Settings.Box.Clip((x[j] + Eta * scratch.D1[j]) * (1 - alpha) + (x0[j] + Eta * scratch.D2[j]) * alpha);
        }
    }

    /// <summary>‖x − x⁰‖ in the attack's norm.</summary>
    private double Distance(ReadOnlySpan<float> x, ReadOnlySpan<float> x0)
    {
        var d = new float[x.Length];
        for (int j = 0; j < x.Length; j++)
        {
            d[j] = x[j] - x0[j];
        }
        return _ball.Norm(d);
    }

    /// <summary>A restart's direction: uniform in [−1, 1] per coordinate for ℓ∞, Gaussian for ℓ2 and ℓ1 (scaled to norm ε/2 by the caller).</summary>
    private void RandomDirection(Random random, Span<float> t)
    {
        for (int j = 0; j < t.Length; j++)
        {
            t[j] = Settings.Norm == NormKind.Linf ? (float)(2 * random.NextDouble() - 1) : (float)NormBall.Gaussian(random);
        }
    }

    private sealed class Scratch(int size)
    {
        public HyperplaneProjection Projection { get; } = new(size);

        public float[] D1 { get; } = new float[size];

        public float[] D2 { get; } = new float[size];
    }
}
