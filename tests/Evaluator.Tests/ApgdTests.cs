using RobustEval.Evaluator.Attacks;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Gradients;
using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Tests;

/// <summary>
/// APGD against a plain re-implementation of the published algorithm written here (Croce &amp; Hein 2020, Algorithm 1;
/// ℓ1: Croce &amp; Hein 2021), iterate by iterate, and against PGD on a model the attacks do not break completely.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class ApgdTests
{
    private static Classifier Classifier = null!;
    private static GradientSessions Sessions = null!;

    [ClassInitialize]
    public static void Load(TestContext _)
    {
        Classifier = ClassifierLoader.Load(TrainedModel.Path, null, GradientChecker.Sessions);
        Sessions = new GradientSessions(Classifier, GradientChecker.Sessions);
    }

    [ClassCleanup]
    public static void Close() => Sessions.Dispose();

    private static AttackRun Attack(AttackSettings settings, int count) =>
        AttackRunner.Run(AttackRegistry.Create(settings, Sessions), TrainedModel.Test.Take(count), batchSize: 32);

    private static AttackSettings Apgd(string name, NormKind norm, float eps, int steps, bool? earlyStop = null, string? loss = null, Goal? goal = null) =>
        AttackRegistry.Resolve(new AttackRequest
        {
            Name = name, Norm = norm, Eps = eps, Steps = steps, EarlyStop = earlyStop, Loss = loss is null ? null : Loss.Parse(loss), Goal = goal,
        });

    [TestMethod]
    [DataRow("linf", "ce", 0.12f, 40)]
    [DataRow("linf", "dlr", 0.12f, 25)]
    [DataRow("l2", "ce", 1.5f, 40)]
    [DataRow("l2", "dlr-targeted", 1.5f, 30)]
    [DataRow("l1", "ce", 6f, 50)]
    [DataRow("l1", "margin", 6f, 30)]
    public void IteratesMatchAPlainImplementationOfThePaper(string normName, string lossName, float eps, int iterations)
    {
        var norm = NormKinds.Parse(normName);
        var loss = Loss.Parse(lossName);
        var settings = Apgd("apgd", norm, eps, iterations, earlyStop: false, loss: lossName, goal: loss.Targeted ? Goal.TopK(1) : null);
        var data = TrainedModel.Test.Take(12);
        var images = data.Pixels.ToArray();
        var labels = Enumerable.Range(0, 12).Select(i => data.Label(i)).ToArray();
        long[]? targets = loss.Targeted ? labels.Select(l => (l + 3) % 10).ToArray() : null;
        var session = Sessions.For(loss);

        var traced = new List<float[]>();
        var apgd = new Attacks.Apgd(Sessions, settings) { Trace = (_, x) => traced.Add((float[])x.Clone()) };
        var batch = new AttackBatch(images, labels, targets, new float[12 * 10], null, new Random(5));
        var results = new AttackResults(12, 784).Slice(0, 12);
        for (int i = 0; i < 12; i++)
        {
            results[i] = new ExampleResult { Label = labels[i], Loss = float.NegativeInfinity };
        }
        apgd.Run(batch, results);

        var reference = new PlainApgd(session, images, labels, targets, norm, eps, iterations, new Random(5)).Run();
        Assert.HasCount(reference.Count, traced, "one point per iteration, plus the start");
        for (int k = 0; k < reference.Count; k++)
        {
            double worst = reference[k].Zip(traced[k], (a, b) => Math.Abs(a - b)).Max();
            Assert.IsLessThanOrEqualTo(2e-5, worst, $"iteration {k}: the iterates differ by up to {worst}");
        }
        // The run ends somewhere the start did not: the test compares real trajectories, not a standing point.
        Assert.IsGreaterThan(1e-3, reference[^1].Zip(reference[0], (a, b) => Math.Abs(a - b)).Max());
    }

    [TestMethod]
    public void ApgdFindsAtLeastWhatPgdFinds()
    {
        float eps = AttackTests.Radius;
        var pgd = Attack(AttackTests.Settings("pgd", NormKind.Linf, eps, steps: 20, stepSize: eps / 4), 120).Summarize();
        var ce = Attack(Apgd("apgd", NormKind.Linf, eps, 100), 120).Summarize();
        var targeted = Attack(Apgd("apgd-t", NormKind.Linf, eps, 100), 120).Summarize();
        Assert.IsGreaterThan(0.3, pgd.AdversarialAccuracy, "PGD leaves part of the model standing, so the comparison can tell the attacks apart");
        Assert.IsLessThanOrEqualTo(pgd.AdversarialAccuracy, ce.AdversarialAccuracy, $"APGD-CE {ce.AdversarialAccuracy:P1} vs PGD-20 {pgd.AdversarialAccuracy:P1}");
        Assert.IsLessThanOrEqualTo(pgd.AdversarialAccuracy, targeted.AdversarialAccuracy, $"APGD-T {targeted.AdversarialAccuracy:P1} vs PGD-20 {pgd.AdversarialAccuracy:P1}");
    }

    [TestMethod]
    public void EarlyStoppingShrinksTheWorkNotTheResult()
    {
        var settings = Apgd("apgd", NormKind.Linf, AttackTests.Radius, 50);
        var early = Attack(settings, 64);
        var full = Attack(settings with { EarlyStop = false }, 64);
        Assert.AreEqual(64L * (1 + 1 + 50), full.ImageEvaluations, "every image: the clean evaluation, the start, 50 iterations");
        Assert.IsLessThan(0.8 * full.ImageEvaluations, early.ImageEvaluations, "fooled examples stop costing evaluations");
        int differing = Enumerable.Range(0, 64).Count(i => early[i].Success != full[i].Success);
        Assert.IsLessThanOrEqualTo(1, differing, "the same examples are fooled (one may drift: fewer examples per evaluation round differently)");
        Assert.IsTrue(early.Results.Examples.Where(e => e.Success).All(e => e.Prediction != e.Label));
    }

    [TestMethod]
    public void TopTargetsTryTheMostLikelyWrongClassesInTurn()
    {
        var settings = Apgd("apgd-t", NormKind.Linf, AttackTests.Radius, 10, earlyStop: false) with { Goal = Goal.TopK(3) };
        var run = Attack(settings, 32);
        // Per batch of 32: the clean logits, the clean gradient towards the first target, then 3 targets × (start + 10).
        Assert.AreEqual(2 + 3 * 11, run.Evaluations);
        var cleanSession = Sessions.For(Loss.CrossEntropy);
        var buffers = cleanSession.For(32);
        TrainedModel.Test.Take(32).Pixels.CopyTo(buffers.Pixels);
        cleanSession.Evaluate(buffers, 32);
        for (int i = 0; i < 32; i++)
        {
            var ranking = Scores.Ranking(buffers.Logits.AsSpan(i * 10, 10)).Where(c => c != run[i].Label).Take(3).Select(c => (long)c).ToArray();
            CollectionAssert.Contains(ranking, run[i].Target, $"example {i}: target {run[i].Target} is one of the three most likely wrong classes");
        }
    }

    [TestMethod]
    public void TheSeedDecidesTheStart()
    {
        var settings = Apgd("apgd", NormKind.L2, 1.5f, 5, earlyStop: false);
        var a = Attack(settings, 16).Results.Adversarial;
        var b = Attack(settings, 16).Results.Adversarial;
        var c = Attack(settings with { Seed = 2 }, 16).Results.Adversarial;
        CollectionAssert.AreEqual(a, b, "deterministic for a fixed seed");
        CollectionAssert.AreNotEqual(a, c, "another seed starts elsewhere");
    }

    [TestMethod]
    public void CheckpointsFollowThePublishedSchedule()
    {
        // Croce & Hein 2020: p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99, … → w_j = ⌈p_j · 100⌉.
        var checkpoints = Attacks.Apgd.CheckpointIntervals(100).Take(8).Aggregate(new List<int>(), (list, d) => { list.Add((list.Count == 0 ? 0 : list[^1]) + d); return list; });
        CollectionAssert.AreEqual(new[] { 22, 41, 57, 70, 80, 87, 93, 99 }, checkpoints);
    }

    [TestMethod]
    public void L1DecreasingRadiiRunAt3Eps2EpsThenEpsAndCountOnlyTheLast()
    {
        // AutoAttack's ℓ1 schedule: 3ε, 2ε and ε for ⌈0.3N⌉, ⌈0.3N⌉ and the rest of the iterations.
        const float eps = 4f;
        var settings = Apgd("apgd-ce", NormKind.L1, eps, 20, earlyStop: false) with { DecreasingRadii = true };
        CollectionAssert.AreEqual(new[] { (3 * eps, 6), (2 * eps, 6), (eps, 8) }, Attacks.Apgd.Phases(settings).ToArray());
        CollectionAssert.AreEqual(new[] { (eps, 20) }, Attacks.Apgd.Phases(settings with { DecreasingRadii = false }).ToArray());

        var data = TrainedModel.Test.Take(12);
        var images = data.Pixels.ToArray();
        var labels = Enumerable.Range(0, 12).Select(i => data.Label(i)).ToArray();
        var norms = new List<double>();
        var apgd = new Attacks.Apgd(Sessions, settings)
        {
            Trace = (_, x) => norms.Add(Enumerable.Range(0, 12).Max(i => Enumerable.Range(0, 784).Sum(j => Math.Abs((double)x[i * 784 + j] - images[i * 784 + j])))),
        };
        var results = new AttackResults(12, 784).Slice(0, 12);
        for (int i = 0; i < 12; i++)
        {
            results[i] = new ExampleResult { Label = labels[i], Loss = float.NegativeInfinity };
        }
        apgd.Run(new AttackBatch(images, labels, null, new float[12 * 10], null, new Random(3)), results);
        // Each phase traces its start and every iteration: 7, 7 and 9 points, in balls of 3ε, 2ε and ε.
        Assert.HasCount(7 + 7 + 9, norms);
        Assert.IsTrue(norms.Take(7).All(r => r <= 3 * eps * (1 + 1e-5)));
        Assert.IsGreaterThan(2 * eps, norms.Take(7).Max(), "the first phase uses the larger ball");
        Assert.IsTrue(norms.Skip(7).Take(7).All(r => r <= 2 * eps * (1 + 1e-5)), "each phase starts inside its own ball");
        Assert.IsTrue(norms.Skip(14).All(r => r <= eps * (1 + 1e-5)));
        for (int i = 0; i < 12; i++)
        {
            Assert.IsLessThanOrEqualTo(eps * (1 + 1e-5), results[i].PerturbationNorm, $"example {i}: only the ε phase is recorded");
        }
    }
}

/// <summary>
/// APGD written down from the papers, one example at a time, with the gradient session as the only shared part:
/// Croce &amp; Hein 2020, Algorithm 1 (ℓ∞, ℓ2: momentum 0.75, step 2ε halved at the checkpoints ⌈p_j N⌉ when fewer
/// than 75 % of the steps since the last one raised the loss, or when neither the step nor the best loss changed
/// between the last two, restarting from the best point) and Croce &amp; Hein 2021 (ℓ1: the top-k sparse step with
/// k following the sparsity of the best point, the exact projection onto the ℓ1 ball inside the box). Random
/// numbers are drawn in the evaluator's order (example by example, coordinate by coordinate), so the starts agree.
/// </summary>
internal sealed class PlainApgd(GradientSession session, float[] clean, long[] labels, long[]? targets, NormKind norm, float eps, int iterations, Random random)
{
    private readonly int _n = labels.Length;
    private readonly int _d = clean.Length / labels.Length;

    public List<float[]> Run()
    {
        var x = Start();
        var trace = new List<float[]> { Flatten(x) };
        var (loss, gradient) = Evaluate(x);
        var best = x.Select(v => (float[])v.Clone()).ToArray();
        var bestGradient = gradient.Select(v => (float[])v.Clone()).ToArray();
        var bestLoss = (float[])loss.Clone();
        var previousLoss = (float[])loss.Clone();
        var previous = x.Select(v => (float[])v.Clone()).ToArray();
        var eta = Enumerable.Repeat(norm == NormKind.L1 ? eps : 2 * eps, _n).ToArray();
        var increases = new int[_n];
        var etaAtLastCheck = (float[])eta.Clone();
        var bestAtLastCheck = (float[])bestLoss.Clone();
        var share = Enumerable.Repeat(0.2, _n).ToArray();
        var sparsityAtLastCheck = Enumerable.Repeat(_d, _n).ToArray();
        var checkpoints = Checkpoints();
        int lastCheckpoint = 0;
        for (int k = 0; k < iterations; k++)
        {
            for (int i = 0; i < _n; i++)
            {
                var before = (float[])x[i].Clone();
                x[i] = norm == NormKind.L1 ? SparseStep(i, x[i], gradient[i], eta[i], share[i]) : MomentumStep(i, x[i], previous[i], gradient[i], eta[i], k == 0 ? 1f : 0.75f);
                previous[i] = before;
            }
            trace.Add(Flatten(x));
            (loss, gradient) = Evaluate(x);
            for (int i = 0; i < _n; i++)
            {
                increases[i] += loss[i] > previousLoss[i] ? 1 : 0;
                previousLoss[i] = loss[i];
                if (loss[i] > bestLoss[i])
                {
                    bestLoss[i] = loss[i];
                    best[i] = (float[])x[i].Clone();
                    bestGradient[i] = (float[])gradient[i].Clone();
                }
            }
            int done = k + 1;
            if (norm == NormKind.L1 ? done % Math.Max(iterations * 4 / 100, 1) == 0 : checkpoints.Contains(done))
            {
                int window = done - lastCheckpoint;
                for (int i = 0; i < _n; i++)
                {
                    bool restart;
                    if (norm == NormKind.L1)
                    {
                        int sparsity = best[i].Zip(clean.AsSpan(i * _d, _d).ToArray(), (a, b) => a != b ? 1 : 0).Sum();
                        restart = sparsity < 0.95 * sparsityAtLastCheck[i];
                        share[i] = sparsity / (double)_d / 1.5;
                        eta[i] = Math.Clamp(restart ? eps : eta[i] / 1.5f, eps / 10, eps);
                        sparsityAtLastCheck[i] = sparsity;
                    }
                    else
                    {
                        bool fewIncreases = increases[i] < 0.75 * window;
                        bool stalled = etaAtLastCheck[i] == eta[i] && bestAtLastCheck[i] == bestLoss[i];
                        restart = fewIncreases || stalled;
                        etaAtLastCheck[i] = eta[i];
                        bestAtLastCheck[i] = bestLoss[i];
                        if (restart)
                        {
                            eta[i] /= 2;
                        }
                    }
                    increases[i] = 0;
                    if (restart)
                    {
                        x[i] = (float[])best[i].Clone();
                        gradient[i] = (float[])bestGradient[i].Clone();
                    }
                }
                lastCheckpoint = done;
            }
        }
        return trace;
    }

    /// <summary>w_j = ⌈p_j N⌉, p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06) (in decimal: no rounding).</summary>
    private HashSet<int> Checkpoints()
    {
        var result = new HashSet<int>();
        decimal before = 0, p = 0.22m;
        while (p * iterations <= iterations + 1)
        {
            result.Add((int)Math.Ceiling(p * iterations));
            (before, p) = (p, p + Math.Max(p - before - 0.03m, 0.06m));
        }
        return result;
    }

    private float[][] Start()
    {
        var x = new float[_n][];
        for (int i = 0; i < _n; i++)
        {
            var x0 = clean.AsSpan(i * _d, _d).ToArray();
            var t = new float[_d];
            for (int j = 0; j < _d; j++)
            {
                t[j] = norm == NormKind.Linf ? (float)(2 * random.NextDouble() - 1) : (float)Gaussian();
            }
            float[] point;
            if (norm == NormKind.L1)
            {
                var delta = ProjectL1InBox(t, x0);
                point = x0.Select((v, j) => v + delta[j]).ToArray();
            }
            else
            {
                // On the sphere of radius ε around x⁰: t scaled to norm ε.
                double size = norm == NormKind.Linf ? t.Max(Math.Abs) : Math.Sqrt(t.Sum(v => (double)v * v));
                point = x0.Select((v, j) => v + (float)(eps / (size + 1e-12)) * t[j]).ToArray();
            }
            x[i] = point.Select(v => Math.Clamp(v, 0f, 1f)).ToArray();
        }
        return x;
    }

    /// <summary>Box–Muller, as the evaluator draws Gaussians.</summary>
    private double Gaussian() => Math.Sqrt(-2.0 * Math.Log(1.0 - random.NextDouble())) * Math.Cos(2.0 * Math.PI * random.NextDouble());

    /// <summary>ℓ∞ / ℓ2: z = P(x + η·s(g)); x' = P(x + α(z − x) + (1 − α)(x − x_prev)), P the projection onto the ball, then the box.</summary>
    private float[] MomentumStep(int i, float[] x, float[] previous, float[] g, float eta, float alpha)
    {
        var x0 = clean.AsSpan(i * _d, _d).ToArray();
        float[] direction;
        if (norm == NormKind.Linf)
        {
            direction = g.Select(v => (float)Math.Sign(v)).ToArray();
        }
        else
        {
            double length = Math.Sqrt(g.Sum(v => (double)v * v));
            direction = g.Select(v => (float)(v / (length + 1e-12))).ToArray();
        }
        var z = Project(x.Select((v, j) => v + eta * direction[j]).ToArray(), x0);
        return Project(x.Select((v, j) => v + alpha * (z[j] - v) + (1 - alpha) * (v - previous[j])).ToArray(), x0);
    }

    private float[] Project(float[] p, float[] x0)
    {
        if (norm == NormKind.Linf)
        {
            return p.Select((v, j) => Math.Clamp(v, Math.Max(x0[j] - eps, 0f), Math.Min(x0[j] + eps, 1f))).ToArray();
        }
        double length = Math.Sqrt(p.Select((v, j) => (double)(v - x0[j]) * (v - x0[j])).Sum());
        double factor = Math.Min(eps, length) / (length + 1e-12);
        return p.Select((v, j) => Math.Clamp((float)(x0[j] + (v - x0[j]) * factor), 0f, 1f)).ToArray();
    }

    /// <summary>ℓ1: the coordinates with |g| at least the (1 − share) quantile move by η·sign(g)/(their count); then the exact projection.</summary>
    private float[] SparseStep(int i, float[] x, float[] g, float eta, double share)
    {
        var x0 = clean.AsSpan(i * _d, _d).ToArray();
        var sorted = g.Select(Math.Abs).Order().ToArray();
        float threshold = sorted[(int)Math.Clamp((1 - share) * _d, 0, _d - 1)];
        var moving = g.Select(v => Math.Abs(v) >= threshold && v != 0).ToArray();
        int count = moving.Count(m => m);
        var delta = x.Select((v, j) => v + (moving[j] ? Math.Sign(g[j]) * eta / (count + 1e-10f) : 0f) - x0[j]).ToArray();
        var projected = ProjectL1InBox(delta, x0);
        return x0.Select((v, j) => Math.Clamp(v + projected[j], 0f, 1f)).ToArray();
    }

    /// <summary>
    /// argmin ‖δ − v‖₂ over ‖δ‖₁ ≤ ε, 0 ≤ x⁰ + δ ≤ 1: δ_j = clip(soft(v_j, θ)) with θ found by sorting the points where
    /// Σ|δ_j(θ)| changes slope and solving on the piece that holds ε.
    /// </summary>
    private float[] ProjectL1InBox(float[] v, float[] x0)
    {
        var room = v.Select((value, j) => value > 0 ? 1.0 - x0[j] : value < 0 ? (double)x0[j] : 0.0).ToArray();
        double Size(double theta) => v.Select((value, j) => Math.Min(Math.Max(Math.Abs(value) - theta, 0), room[j])).Sum();
        double theta = 0;
        if (Size(0) > eps)
        {
            var breaks = v.SelectMany((value, j) => new[] { Math.Abs((double)value) - room[j], Math.Abs((double)value) }).Where(b => b > 0).Append(0).Distinct().Order().ToArray();
            int k = 0;
            while (k + 1 < breaks.Length && Size(breaks[k + 1]) > eps)
            {
                k++;
            }
            // Size is linear between breaks[k] and breaks[k + 1]: interpolate.
            double lo = breaks[k], hi = k + 1 < breaks.Length ? breaks[k + 1] : breaks[k] + 1;
            double sLo = Size(lo), sHi = Size(hi);
            theta = lo + (sLo - eps) * (hi - lo) / (sLo - sHi);
        }
        return v.Select((value, j) => (float)(Math.Sign(value) * Math.Min(Math.Max(Math.Abs(value) - theta, 0), room[j]))).ToArray();
    }

    private (float[] Loss, float[][] Gradient) Evaluate(float[][] x)
    {
        var buffers = session.For(_n);
        for (int i = 0; i < _n; i++)
        {
            x[i].CopyTo(buffers.Pixels, i * _d);
        }
        labels.CopyTo(buffers.Labels, 0);
        targets?.CopyTo(buffers.Targets!, 0);
        session.Evaluate(buffers, _n);
        return (buffers.Loss.Take(_n).ToArray(), Enumerable.Range(0, _n).Select(i => buffers.Gradient.AsSpan(i * _d, _d).ToArray()).ToArray());
    }

    private float[] Flatten(float[][] x) => x.SelectMany(v => v).ToArray();
}
