using RobustEval.Evaluator.Attacks;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Gradients;
using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Tests;

/// <summary>
/// The attacks AutoAttack adds to APGD — Square and FAB — against plain re-implementations of the published
/// algorithms written here, one example at a time, and against the published schedule; the ensemble against the
/// definition of its result (each attack on the points still robust, the pointwise worst case); the flags and the
/// interval against their definitions.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class AutoAttackTests
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

    private static AttackSettings Settings(string name, NormKind norm, float eps, int? steps = null, bool? earlyStop = null, Goal? goal = null) =>
        AttackRegistry.Resolve(new AttackRequest { Name = name, Norm = norm, Eps = eps, Steps = steps, EarlyStop = earlyStop, Goal = goal });

    private static float[] Scores(float[] x)
    {
        using var forward = new PredictionSession(Classifier, GradientChecker.Sessions);
        return forward.Logits(x, 1);
    }

    [TestMethod]
    public void SquareFollowsThePublishedScheduleOfSquareSizes()
    {
        // Andriushchenko et al. 2020 (and AutoAttack): p = 0.8, halved after 10, 50, 200, 500, 1k, 2k, 4k, 6k, 8k of 10k queries.
        (int Query, double Share)[] expected =
        [
            (0, 0.8), (10, 0.8), (11, 0.4), (50, 0.4), (51, 0.2), (200, 0.2), (201, 0.1), (500, 0.1), (501, 0.05), (1000, 0.05), (1001, 0.025),
            (2000, 0.025), (2001, 0.0125), (4000, 0.0125), (4001, 0.00625), (6001, 0.003125), (8001, 0.0015625), (9999, 0.0015625),
        ];
        foreach (var (query, share) in expected)
        {
            Assert.AreEqual(share, Square.Share(query, 10000), 1e-12, $"query {query} of 10,000");
        }
        // The schedule scales with the budget: at 5,000 queries each stage is half as long.
        Assert.AreEqual(0.8, Square.Share(5, 5000), 1e-12);
        Assert.AreEqual(0.4, Square.Share(6, 5000), 1e-12);
        // Side lengths on a 28 × 28 image: √(0.8·784) ≈ 25 at first, at least 1 (ℓ∞) or 3 and odd (ℓ2).
        Assert.AreEqual(25, Square.Side(0, 10000, 28, 28, NormKind.Linf));
        Assert.AreEqual(25, Square.Side(0, 10000, 28, 28, NormKind.L2));
        Assert.AreEqual(1, Square.Side(9000, 10000, 28, 28, NormKind.Linf));
        Assert.AreEqual(3, Square.Side(9000, 10000, 28, 28, NormKind.L2));
    }

    [TestMethod]
    public void SquareLinfMatchesAPlainImplementation()
    {
        const float eps = 0.1f;
        const int queries = 150, count = 12;
        var data = TrainedModel.Test.Take(count);
        var settings = Settings("square", NormKind.Linf, eps, steps: queries);
        var run = AttackRunner.Run(AttackRegistry.Create(settings, Sessions), data, batchSize: count);

        // The runner seeds the batch's sequence, from which each example draws the seed of its own.
        var batchRandom = new Random(unchecked(settings.Seed * 1_000_003));
        int fooled = 0;
        for (int i = 0; i < count; i++)
        {
            var random = new Random(batchRandom.Next());
            var x = data.Image(i).ToArray();
            long y = data.Label(i);
            var best = new float[784];
            for (int col = 0; col < 28; col++)
            {
                float sign = random.Next(2) == 0 ? -1 : 1;
                for (int row = 0; row < 28; row++)
                {
                    best[row * 28 + col] = Math.Clamp(x[row * 28 + col] + eps * sign, 0, 1);
                }
            }
            var z = Scores(best);
            float bestMargin = global::RobustEval.Evaluator.Classifiers.Scores.Margin(z, y);
            long prediction = global::RobustEval.Evaluator.Classifiers.Scores.ArgMax(z);
            for (int q = 0; q < queries && prediction == y; q++)
            {
                double p = Square.Share(q, queries);
                int s = Math.Clamp((int)Math.Round(Math.Sqrt(p * 784)), 1, 28);
                int top = 28 - s > 0 ? (int)(random.NextDouble() * (28 - s)) : 0;
                int left = 28 - s > 0 ? (int)(random.NextDouble() * (28 - s)) : 0;
                float sign = random.Next(2) == 0 ? -1 : 1;
                var proposal = (float[])best.Clone();
                for (int row = top; row < top + s; row++)
                {
                    for (int col = left; col < left + s; col++)
                    {
                        proposal[row * 28 + col] = Math.Clamp(x[row * 28 + col] + eps * sign, 0, 1);
                    }
                }
                z = Scores(proposal);
                float margin = global::RobustEval.Evaluator.Classifiers.Scores.Margin(z, y);
                long predicted = global::RobustEval.Evaluator.Classifiers.Scores.ArgMax(z);
                if (margin > bestMargin || predicted != y)
                {
                    (best, bestMargin, prediction) = (proposal, Math.Max(margin, bestMargin), predicted);
                }
            }
            if (run[i].CleanPrediction != y)
            {
                continue;
            }
            fooled += prediction != y ? 1 : 0;
            Assert.AreEqual(prediction, run[i].Prediction, $"example {i}: prediction");
            CollectionAssert.AreEqual(best, run.Adversarial(i).ToArray(), $"example {i}: final point");
        }
        Assert.IsGreaterThan(0, fooled, "the test runs through fooled and unfooled examples");
        Assert.IsLessThan(count, fooled);
    }

    [TestMethod]
    public void SquareL2StaysOnTheSphereInsideTheBox()
    {
        var random = new Random(4);
        var shape = new ImageShape(3, 16, 16);
        var x0 = Enumerable.Range(0, 768).Select(_ => (float)random.NextDouble()).ToArray();
        var best = new float[768];
        var scratch = new float[768];
        const float eps = 0.5f;
        // Away from the box's edges the start is exactly on the sphere; every proposal stays in ball ∩ box.
        var middle = Enumerable.Repeat(0.5f, 768).ToArray();
        Square.L2Start(middle, best, shape, eps, random, PixelBox.Unit, scratch);
        Assert.AreEqual(eps, Norm(best, middle), 1e-5);
        Square.L2Start(x0, best, shape, eps, random, PixelBox.Unit, scratch);
        var proposal = new float[768];
        for (int q = 0; q < 200; q++)
        {
            int side = Square.Side(q, 200, 16, 16, NormKind.L2);
            Square.L2Proposal(x0, best, proposal, shape, side, eps, random, PixelBox.Unit, scratch);
            Assert.IsLessThanOrEqualTo(eps + 1e-5, Norm(proposal, x0), $"query {q}");
            Assert.IsTrue(proposal.All(v => v is >= 0 and <= 1));
            proposal.CopyTo(best, 0);
        }
        // The pseudo-Gaussian block: unit norm, opposite halves (as rows or, transposed, as columns).
        foreach (int side in new[] { 1, 3, 4, 7 })
        {
            var block = Square.PseudoGaussian(side, random);
            Assert.AreEqual(1, Math.Sqrt(block.Sum(v => (double)v * v)), 1e-5, $"side {side}");
            // Opposite halves: the sum is far below the ‖·‖₁ of a block of one sign (one pixel: a single ±1).
            double total = block.Sum(v => (double)v), size = block.Sum(v => Math.Abs((double)v));
            Assert.IsTrue(side == 1 ? Math.Abs(total) == 1 : Math.Abs(total) < 0.5 * size, $"side {side}: positive and negative halves");
        }
    }

    private static double Norm(float[] a, float[] b) => Math.Sqrt(a.Select((v, j) => (double)(v - b[j]) * (v - b[j])).Sum());

    [TestMethod]
    [DataRow("linf", 0.4f)]
    [DataRow("l2", 4f)]
    [DataRow("l1", 20f)]
    public void FabTMatchesAPlainImplementation(string normName, float eps)
    {
        var norm = NormKinds.Parse(normName);
        const int count = 8, iterations = 15;
        var data = TrainedModel.Test.Take(count);
        var settings = Settings("fab-t", norm, eps, steps: iterations, earlyStop: false, goal: Goal.TopK(1));
        var run = AttackRunner.Run(AttackRegistry.Create(settings, Sessions), data, batchSize: count);
        var ball = NormBall.For(norm);
        using var session = new GradientSession(Classifier, GradientChecker.Sessions, Loss.Difference);
        var projection = new HyperplaneProjection(784);
        int found = 0;
        for (int i = 0; i < count; i++)
        {
            var x0 = data.Image(i).ToArray();
            long y = data.Label(i);
            if (run[i].CleanPrediction != y)
            {
                continue;
            }
            long target = Goal.WrongClassOfRank(Scores(x0), y, 1);
            (float F, float[] G, long Prediction) Linearise(float[] x)
            {
                var buffers = session.For(1);
                x.CopyTo(buffers.Pixels, 0);
                buffers.Labels[0] = y;
                buffers.Targets![0] = target;
                session.Evaluate(buffers, 1);
                return (buffers.Loss[0], buffers.Gradient.AsSpan(0, 784).ToArray(), global::RobustEval.Evaluator.Classifiers.Scores.ArgMax(buffers.Logits.AsSpan(0, 10)));
            }
            // FAB (Croce & Hein 2020, Alg. 1 as in AutoAttack): project x and x⁰ onto the linearised boundary, mix, extrapolate.
            var x1 = (float[])x0.Clone();
            var (f, g, _) = Linearise(x1);
            double bestNorm = double.PositiveInfinity;
            float[]? best = null;
            for (int it = 0; it < iterations; it++)
            {
                double gx = g.Select((v, j) => (double)v * x1[j]).Sum(), gx0 = g.Select((v, j) => (double)v * x0[j]).Sum();
                var d1 = new float[784];
                var d2 = new float[784];
                projection.Project(norm, x1, g, -f, PixelBox.Unit, d1);
                projection.Project(norm, x0, g, gx - f - gx0, PixelBox.Unit, d2);
                double a1 = Math.Max(ball.Norm(d1), 1e-8), a2 = Math.Max(ball.Norm(d2), 1e-8);
                float alpha = (float)Math.Min(a1 / (a1 + a2), 0.1);
                for (int j = 0; j < 784; j++)
                {
                    x1[j] = Math.Clamp((x1[j] + 1.05f * d1[j]) * (1 - alpha) + (x0[j] + 1.05f * d2[j]) * alpha, 0, 1);
                }
                (f, g, long prediction) = Linearise(x1);
                if (prediction != y)
                {
                    double size = ball.Norm(x1.Select((v, j) => v - x0[j]).ToArray());
                    if (size < bestNorm)
                    {
                        (bestNorm, best) = (size, (float[])x1.Clone());
                    }
                    for (int j = 0; j < 784; j++)
                    {
                        x1[j] = x0[j] + (x1[j] - x0[j]) * 0.9f;
                    }
                    (f, g, _) = Linearise(x1);
                }
            }
            if (bestNorm <= eps)
            {
                found++;
                Assert.IsTrue(run[i].Success, $"example {i}: fooled at norm {bestNorm}");
                Assert.AreEqual(bestNorm, run[i].PerturbationNorm, 1e-4 * Math.Max(1, bestNorm), $"example {i}: the smallest adversarial norm");
                CollectionAssert.AreEqual(best, run.Adversarial(i).ToArray(), $"example {i}: the point");
            }
            else
            {
                Assert.IsFalse(run[i].Success, $"example {i}: not fooled within ε");
            }
        }
        Assert.IsGreaterThan(0, found, "FAB found adversarial points within ε");
    }

    [TestMethod]
    public void TheEnsembleIsThePointwiseWorstCaseOfItsAttacks()
    {
        const int count = 48, batch = 16;
        const float eps = 0.1f;
        var data = TrainedModel.Test.Take(count);
        AttackSettings[] attacks =
        [
            Settings("fgm", NormKind.Linf, eps),
            Settings("apgd-ce", NormKind.Linf, eps, steps: 10),
            Settings("square", NormKind.Linf, eps, steps: 100),
        ];
        var plan = new AutoAttackPlan { Version = "custom", Norm = NormKind.Linf, Eps = eps, Seed = 1, Attacks = attacks };
        var result = new AutoAttack(Sessions, plan, data, batch).Run();

        // The definition, written out: each attack runs over the points still robust, in chunks of one batch seeded
        // by (attack, chunk); a point is robust when it is classified correctly and no attack fooled it.
        var labels = Enumerable.Range(0, count).Select(i => data.Label(i)).ToArray();
        using var forward = new PredictionSession(Classifier, GradientChecker.Sessions);
        var clean = forward.Predict(data.Pixels, count);
        var fooledBy = Enumerable.Repeat(-1, count).ToArray();
        var robustAfter = new List<int>();
        for (int stage = 0; stage < attacks.Length; stage++)
        {
            var left = Enumerable.Range(0, count).Where(i => clean[i] == labels[i] && fooledBy[i] < 0).ToArray();
            var attack = AttackRegistry.Create(attacks[stage], Sessions);
            for (int chunk = 0; chunk * batch < left.Length; chunk++)
            {
                var indices = left.Skip(chunk * batch).Take(batch).ToArray();
                var part = AttackRunner.Run(attack, data.Subset(indices), batch, firstBatch: (stage + 1) * 1_000_003 + chunk);
                for (int k = 0; k < indices.Length; k++)
                {
                    if (part[k].Success && part[k].Prediction != labels[indices[k]])
                    {
                        fooledBy[indices[k]] = stage;
                    }
                }
            }
            robustAfter.Add(Enumerable.Range(0, count).Count(i => clean[i] == labels[i] && fooledBy[i] < 0));
        }
        CollectionAssert.AreEqual(fooledBy, result.FooledBy);
        CollectionAssert.AreEqual(robustAfter, result.Totals.RobustAfterEach().ToList());
        Assert.AreEqual(robustAfter[^1], result.Totals.Robust, "the re-evaluated adversarial points agree");
        Assert.IsTrue(fooledBy.Distinct().Count() >= 3, "more than one attack contributed");
        for (int i = 0; i < count; i++)
        {
            var delta = result.Adversarial.AsSpan(i * 784, 784).ToArray().Select((v, j) => v - data.Image(i)[j]).ToArray();
            Assert.IsLessThanOrEqualTo(eps * (1 + 1e-6), NormBall.For(NormKind.Linf).Norm(delta), $"example {i} in the ball");
        }
    }

    [TestMethod]
    public void WilsonIntervalHasItsTextbookValues()
    {
        // Wilson (1927) at 95 %: 0 of 10 → [0, 0.2775], 5 of 10 → [0.2366, 0.7634], 79 of 100 → [0.7002, 0.8583].
        Assert.AreEqual(0, Wilson.Interval(0, 10).Lower, 1e-4);
        Assert.AreEqual(0.2775, Wilson.Interval(0, 10).Upper, 1e-4);
        Assert.AreEqual(0.2366, Wilson.Interval(5, 10).Lower, 1e-4);
        Assert.AreEqual(0.7634, Wilson.Interval(5, 10).Upper, 1e-4);
        Assert.AreEqual(0.7002, Wilson.Interval(79, 100).Lower, 1e-4);
        Assert.AreEqual(0.8583, Wilson.Interval(79, 100).Upper, 1e-4);
    }

    [TestMethod]
    public void FlagsAreRaisedExactlyAtTheirThresholds()
    {
        StageTotals Stage(string name, int fooled, bool whiteBox = true, int zero = 0, double fosc = 0, int foscCount = 0) => new()
        {
            Name = name, Description = name, WhiteBox = whiteBox, Attacked = 1000, Fooled = fooled, ZeroGradient = zero, FoscSum = fosc * foscCount, FoscCount = foscCount,
        };
        AutoAttackTotals Totals(int clean, StageTotals[] stages, double? card = null, int probabilityRows = 0, double change = 0) => new()
        {
            Examples = 1000, CleanCorrect = clean, Robust = clean - stages.Sum(s => s.Fooled), Classes = 10, CardCleanAccuracy = card,
            ProbabilityRows = probabilityRows, MaxScoreChange = change, Stages = stages,
        };
        IEnumerable<string> Ids(AutoAttackTotals totals) => totals.Flags().Select(f => f.Id);

        Assert.IsEmpty(Ids(Totals(950, [Stage("apgd-ce", 100), Stage("square", 2, whiteBox: false)], card: 0.96)));
        // Square finding more than 0.2 % of the data after the white-box attacks: gradient masking.
        CollectionAssert.Contains(Ids(Totals(950, [Stage("apgd-ce", 100), Stage("square", 3, whiteBox: false)])).ToList(), "gradient-masking");
        // Square alone is not compared with anything.
        Assert.IsEmpty(Ids(Totals(950, [Stage("square", 300, whiteBox: false)])));
        CollectionAssert.Contains(Ids(Totals(950, [Stage("apgd-ce", 100, zero: 1)])).ToList(), "zero-gradient");
        CollectionAssert.Contains(Ids(Totals(200, [Stage("apgd-ce", 10)])).ToList(), "clean-accuracy-chance");
        CollectionAssert.Contains(Ids(Totals(849, [Stage("apgd-ce", 10)], card: 0.95)).ToList(), "clean-accuracy-card");
        Assert.IsEmpty(Ids(Totals(850, [Stage("apgd-ce", 10)], card: 0.95)), "exactly 10 points below is not more than 10");
        // Near chance for 10 classes is at most min(2/10, 1/10 + 0.1) = 20 %.
        Assert.IsEmpty(Ids(Totals(201, [Stage("apgd-ce", 10)])));
        Assert.IsEmpty(Ids(Totals(920, [Stage("apgd-ce", 10)], card: 0.95)), "within sampling error of the card");
        CollectionAssert.Contains(Ids(Totals(950, [Stage("apgd-ce", 10, fosc: 0.5, foscCount: 900)])).ToList(), "not-converged");
        Assert.IsEmpty(Ids(Totals(950, [Stage("apgd-ce", 10, fosc: 0.05, foscCount: 900)])));
        Assert.IsEmpty(Ids(Totals(950, [Stage("apgd-ce", 10, fosc: 0.5, foscCount: 9)])), "nine survivors are too few to judge");
        var both = Totals(950, [Stage("apgd-ce", 10, fosc: 0.5, foscCount: 900), Stage("apgd-t", 10, fosc: 0.4, foscCount: 890)]).Flags();
        Assert.HasCount(1, both, "one flag names every attack that did not converge");
        StringAssert.Contains(both[0].Message, "apgd-ce 0.5 on 900 points, apgd-t 0.4 on 890 points");
        CollectionAssert.Contains(Ids(Totals(950, [Stage("apgd-ce", 10)], probabilityRows: 1000)).ToList(), "probabilities");
        CollectionAssert.Contains(Ids(Totals(950, [Stage("apgd-ce", 10)], change: 0.01)).ToList(), "randomized");

        // Merged totals raise the flags of the sums: 2 + 2 points found by square in two shards of 1,000 is 0.2 % of 2,000, not more.
        var half = Totals(950, [Stage("apgd-ce", 100), Stage("square", 2, whiteBox: false)]);
        Assert.IsEmpty(Ids(half.Add(half)));
        var more = Totals(950, [Stage("apgd-ce", 100), Stage("square", 3, whiteBox: false)]);
        CollectionAssert.Contains(Ids(half.Add(more)).ToList(), "gradient-masking");
    }
}
