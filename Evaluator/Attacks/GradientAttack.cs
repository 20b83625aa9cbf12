using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// The one gradient-attack loop (Foolbox style): optional uniform random start in the ball, then steps of
/// steepest ascent (eq. 11 of Shaham et al., supplied by the norm) of the cross-entropy, each projected back onto
/// the ball around the clean image and clipped to the pixel box. FGM is this loop with one step of size ε and no
/// random start; PGD is k steps with a random start and restarts, keeping each example's worst case.
/// </summary>
/// <remarks>
/// Steps are box-aware: gradient coordinates of pixels already on the box's edge, pushing outward, are zeroed
/// before the steepest-ascent step, so the budget goes where it can act — for the ℓ1 single-pixel step this picks
/// the largest pixel that can still move rather than one the clip would undo.
/// </remarks>
internal sealed class GradientAttack(GradientSession session, AttackConfig config) : IAttack
{
    public AttackConfig Config { get; } = config;

    public AttackResult Run(ReadOnlySpan<float> images, ReadOnlySpan<long> labels, int batchIndex)
    {
        var classifier = session.Classifier;
        int count = labels.Length;
        int size = classifier.ImageSize;
        var buffers = session.For(count);
        var result = new AttackResult(count, size);
        var ball = Config.Ball;
        var box = Config.Box;
        var clean = images.ToArray();
        labels.CopyTo(buffers.Labels);

        clean.CopyTo(buffers.Pixels, 0);
        session.Evaluate(buffers);
        Sanitize(buffers, count, size, result.NonFinite);
        var cleanGradient = (float[])buffers.Gradient.Clone();
        for (int i = 0; i < count; i++)
        {
            result.CleanPrediction[i] = ArgMax(buffers.Logits.AsSpan(i * classifier.Classes, classifier.Classes));
            result.CleanLoss[i] = buffers.Loss[i];
            result.ZeroGradient[i] = !cleanGradient.AsSpan(i * size, size).ContainsAnyExcept(0f);
            // Until an attack finds better, each example's worst case is the clean image itself.
            result.AdversarialPrediction[i] = result.CleanPrediction[i];
            result.AdversarialLoss[i] = float.NegativeInfinity;
        }
        clean.CopyTo(result.Adversarial, 0);

        var random = new Random(unchecked(Config.Seed * 1_000_003 + batchIndex));
        var adversarial = new float[clean.Length];
        var delta = new float[size];
        for (int restart = 0; restart < Config.Restarts; restart++)
        {
            clean.CopyTo(adversarial, 0);
            if (Config.RandomStart)
            {
                for (int i = 0; i < count; i++)
                {
                    var x = adversarial.AsSpan(i * size, size);
                    ball.RandomStart(random, Config.Eps, delta);
                    for (int j = 0; j < size; j++)
                    {
                        x[j] += delta[j];
                    }
                    box.Clip(x);
                }
            }
            for (int k = 0; k < Config.Steps; k++)
            {
                float[] gradient;
                if (k == 0 && !Config.RandomStart)
                {
                    gradient = cleanGradient;
                }
                else
                {
                    adversarial.CopyTo(buffers.Pixels, 0);
                    session.Evaluate(buffers);
                    Sanitize(buffers, count, size, result.NonFinite);
                    gradient = buffers.Gradient;
                }
                Parallel.For(0, count, Parallelism, () => new StepScratch(size), (i, _, scratch) =>
                {
                    var x = adversarial.AsSpan(i * size, size);
                    var x0 = clean.AsSpan(i * size, size);
                    box.MaskImmovable(x, gradient.AsSpan(i * size, size), scratch.Masked);
                    ball.SteepestAscent(scratch.Masked, Config.StepSize, scratch.Step);
                    SpanMath.AddSubtract(x, scratch.Step, x0, scratch.Delta);
                    ball.Project(scratch.Delta, Config.Eps);
                    SpanMath.Add(x0, scratch.Delta, x);
                    box.Clip(x);
                    return scratch;
                }, _ => { });
            }
            adversarial.CopyTo(buffers.Pixels, 0);
            session.Evaluate(buffers);
            Sanitize(buffers, count, size, result.NonFinite);
            for (int i = 0; i < count; i++)
            {
                long prediction = ArgMax(buffers.Logits.AsSpan(i * classifier.Classes, classifier.Classes));
                bool fools = prediction != labels[i];
                bool fooled = result.AdversarialPrediction[i] != labels[i] && result.AdversarialLoss[i] > float.NegativeInfinity;
                float loss = buffers.Loss[i];
                if ((fools && !fooled) || (fools == fooled && loss > result.AdversarialLoss[i]))
                {
                    var x = adversarial.AsSpan(i * size, size);
                    var x0 = clean.AsSpan(i * size, size);
                    x.CopyTo(result.Adversarial.AsSpan(i * size, size));
                    result.AdversarialPrediction[i] = prediction;
                    result.AdversarialLoss[i] = loss;
                    for (int j = 0; j < size; j++)
                    {
                        delta[j] = x[j] - x0[j];
                    }
                    result.PerturbationNorm[i] = ball.Norm(delta);
                    result.Fosc[i] = Fosc.Compute(ball, Config.Eps, x, x0, buffers.Gradient.AsSpan(i * size, size));
                }
            }
        }
        return result;
    }

    /// <summary>Examples take their steps in parallel, between two model evaluations (when the CPU is otherwise idle).</summary>
    private static readonly ParallelOptions Parallelism = new() { MaxDegreeOfParallelism = Environment.ProcessorCount };

    /// <summary>Per-thread buffers of one step.</summary>
    private sealed class StepScratch(int size)
    {
        public float[] Masked { get; } = new float[size];

        public float[] Step { get; } = new float[size];

        public float[] Delta { get; } = new float[size];
    }

    /// <summary>The index of the largest score; −1 (no class, so never correct) when a score is NaN.</summary>
    internal static long ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 0; i < values.Length; i++)
        {
            if (float.IsNaN(values[i]))
            {
                return -1;
            }
            if (values[i] > values[best])
            {
                best = i;
            }
        }
        return best;
    }

    /// <summary>
    /// A model can produce NaN or infinite scores (a Log of a negative, an overflow). Such an example is flagged,
    /// its gradient is zeroed so it takes no step (a NaN step would spread into the image) and its loss counts as
    /// −∞, so any finite outcome is preferred to it.
    /// </summary>
    private static void Sanitize(GradientSession.Buffers buffers, int count, int size, bool[] flags)
    {
        int classes = buffers.Logits.Length / buffers.Batch;
        for (int i = 0; i < count; i++)
        {
            var gradient = buffers.Gradient.AsSpan(i * size, size);
            bool finite = float.IsFinite(buffers.Loss[i]) && !HasNonFinite(buffers.Logits.AsSpan(i * classes, classes)) && !HasNonFinite(gradient);
            if (!finite)
            {
                flags[i] = true;
                gradient.Clear();
                buffers.Loss[i] = float.NegativeInfinity;
            }
        }
    }

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
