using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// The steepest-ascent loop (Foolbox style): an optional uniform random start in the ball, then steps of steepest
/// ascent of the loss (Shaham et al.'s eq. 11, supplied by the norm), each projected back onto the ball around the
/// clean image and clipped to the pixel box. PGD (Madry et al.) is <see cref="AttackSettings.Steps"/> steps of
/// <see cref="AttackSettings.StepSize"/> from a random start; FGM is one step of size ε from the clean image (FGSM
/// for ℓ∞, the single-pixel attack for ℓ1). The final iterate is the outcome (or, with early stopping, the first
/// iterate that reaches the goal).
/// </summary>
/// <remarks>
/// Steps are box-aware: gradient coordinates of pixels already on the box's edge, pushing outward, are zeroed
/// before the steepest-ascent step, so the budget goes where it can act — for the ℓ1 single-pixel step this picks
/// the largest pixel that can still move rather than one the clip would undo, for ℓ2 the step's length is spent on
/// pixels that can move. For ℓ∞ the mask changes nothing (the clip would undo those coordinates anyway). The
/// trainer's PGD takes the same step.
/// </remarks>
public sealed class Pgd(GradientSessions sessions, AttackSettings settings) : IAttack
{
    private readonly NormBall _ball = settings.Ball;

    public AttackSettings Settings { get; } = settings;

    public GradientSessions Sessions { get; } = sessions;

    private GradientSession Session { get; } = sessions.For(settings.Loss);

    public void Run(AttackBatch batch, ResultSlice results)
    {
        int n = batch.Count;
        int size = batch.ImageSize;
        var clean = batch.Images;
        var x = (float[])clean.Clone();
        if (Settings.RandomStart)
        {
            var delta = new float[size];
            for (int i = 0; i < n; i++)
            {
                var xi = x.AsSpan(i * size, size);
                _ball.RandomStart(batch.Random, Settings.Eps, delta);
                for (int j = 0; j < size; j++)
                {
                    xi[j] += delta[j];
                }
                Settings.Box.Clip(xi);
            }
        }
        var evaluator = new BatchEvaluator(Session, batch, Settings.Draws);
        var active = Enumerable.Range(0, n).ToArray();
        int running = n;
        var nonFinite = new bool[n];
        for (int k = 0; k < Settings.Steps && running > 0; k++)
        {
            // The first step of FGM starts at the clean image, whose gradient the runner already has.
            bool fromClean = k == 0 && !Settings.RandomStart && batch.CleanGradient is not null;
            if (!fromClean)
            {
                evaluator.Evaluate(x, active.AsSpan(0, running));
                Remember(evaluator, active, running, nonFinite);
                if (Settings.EarlyStop)
                {
                    running = OfferReached(batch, results, evaluator, x, active, running, nonFinite);
                }
            }
            Parallel.For(0, running, Parallelism, () => new StepScratch(size), (position, _, scratch) =>
            {
                int i = active[position];
                var g = fromClean ? batch.CleanGradient.AsSpan(i * size, size) : evaluator.Gradient(position);
                Step(x.AsSpan(i * size, size), clean.AsSpan(i * size, size), g, _ball, Settings, scratch);
                return scratch;
            }, _ => { });
            batch.Progress?.Invoke((k + 1.0) / (Settings.Steps + 1));
        }
        if (running > 0)
        {
            evaluator.Evaluate(x, active.AsSpan(0, running));
            Remember(evaluator, active, running, nonFinite);
            for (int position = 0; position < running; position++)
            {
                Offer(batch, results, evaluator, x, active[position], position, nonFinite);
            }
        }
        batch.Progress?.Invoke(1);
    }

    /// <summary>
    /// One box-aware projected steepest-ascent step of <paramref name="x"/> (around <paramref name="x0"/>) along
    /// gradient <paramref name="g"/>, in place.
    /// </summary>
    internal static void Step(Span<float> x, ReadOnlySpan<float> x0, ReadOnlySpan<float> g, NormBall ball, AttackSettings settings, StepScratch scratch)
    {
        settings.Box.MaskImmovable(x, g, scratch.Masked);
        ball.SteepestAscent(scratch.Masked, settings.StepSize, scratch.Step);
        SpanMath.AddSubtract(x, scratch.Step, x0, scratch.Delta);
        ball.Project(scratch.Delta, settings.Eps);
        SpanMath.Add(x0, scratch.Delta, x);
        settings.Box.Clip(x);
    }

    private static void Remember(BatchEvaluator evaluator, int[] active, int running, bool[] nonFinite)
    {
        for (int position = 0; position < running; position++)
        {
            nonFinite[active[position]] |= evaluator.NonFinite(position);
        }
    }

    /// <summary>Offers the examples that reached the goal and drops them from <paramref name="active"/>; returns how many still run.</summary>
    private int OfferReached(AttackBatch batch, ResultSlice results, BatchEvaluator evaluator, float[] x, int[] active, int running, bool[] nonFinite)
    {
        int kept = 0;
        for (int position = 0; position < running; position++)
        {
            int i = active[position];
            if (Settings.Goal.Reached(evaluator.Prediction(position), batch.Labels[i], batch.Target(i)))
            {
                Offer(batch, results, evaluator, x, i, position, nonFinite);
            }
            else
            {
                // The example's gradient follows it to its new position, where the next step reads it.
                evaluator.Move(position, kept);
                active[kept++] = i;
            }
        }
        return kept;
    }

    private void Offer(AttackBatch batch, ResultSlice results, BatchEvaluator evaluator, float[] x, int i, int position, bool[] nonFinite)
    {
        int size = batch.ImageSize;
        long prediction = evaluator.Prediction(position);
        results.Offer(i, x.AsSpan(i * size, size), batch.Image(i), prediction, evaluator.Loss(position),
            Settings.Goal.Reached(prediction, batch.Labels[i], batch.Target(i)), nonFinite[i], evaluator.Gradient(position), _ball, Settings.Eps,
            batch.Target(i));
    }

    /// <summary>Examples take their steps in parallel, between two model evaluations (when the CPU is otherwise idle).</summary>
    internal static readonly ParallelOptions Parallelism = new() { MaxDegreeOfParallelism = Environment.ProcessorCount };

    /// <summary>Per-thread buffers of one step.</summary>
    internal sealed class StepScratch(int size)
    {
        public float[] Masked { get; } = new float[size];

        public float[] Step { get; } = new float[size];

        public float[] Delta { get; } = new float[size];
    }
}
