using RobustEval.Evaluator.Attacks;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;
using RobustEval.Onnx;
using RobustEval.Trainer.Architectures;
using RobustEval.Trainer.Native;
using static TorchSharp.torch;
using static TorchSharp.torch.nn.functional;

namespace RobustEval.Evaluator.Tests;

/// <summary>FGM and PGD on a trained classifier, against independent computations and against each other, iterate by iterate.</summary>
[TestClass]
[DoNotParallelize]
public sealed class AttackTests
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

    internal static AttackSettings Settings(string name, NormKind norm, float eps, int? steps = null, float? stepSize = null, int? restarts = null,
        int? pixels = null, bool? earlyStop = null, int? seed = null) =>
        AttackRegistry.Resolve(new AttackRequest
        {
            Name = name, Norm = norm, Eps = eps, Steps = steps, StepSize = stepSize, Restarts = restarts, Pixels = pixels, EarlyStop = earlyStop, Seed = seed,
        });

    private static AttackRun Attack(AttackSettings settings, int count = 60) =>
        AttackRunner.Run(AttackRegistry.Create(settings, Sessions), TrainedModel.Test.Take(count), batchSize: 16);

    private static IEnumerable<float[]> Perturbations(AttackRun run)
    {
        for (int i = 0; i < run.Count; i++)
        {
            var clean = run.Data.Image(i).ToArray();
            yield return run.Adversarial(i).ToArray().Select((v, j) => v - clean[j]).ToArray();
        }
    }

    [TestMethod]
    public void FgsmMatchesTorchSharpsSignOfTheGradient()
    {
        // The same exported weights in TorchSharp: x_adv = clip(x + ε·sign(∇ₓ CE)), computed independently.
        TorchRuntime.EnsureLoadable();
        using var network = new Network(ArchitectureCatalog.Get(ArchitectureCatalog.ShahamMnist));
        var model = OnnxFiles.Load(TrainedModel.Path);
        LoadWeights(network, model);
        network.eval();
        var data = TrainedModel.Test.Take(40);
        var x = tensor(data.Pixels.ToArray(), [40, 1, 28, 28]).requires_grad_(true);
        var loss = cross_entropy(network.forward(x), tensor(data.Labels.ToArray()), reduction: TorchSharp.torch.nn.Reduction.Sum);
        loss.backward();
        var expected = (x.detach() + x.grad!.sign() * 0.15).clamp(0, 1).data<float>().ToArray();

        var run = Attack(Settings("fgm", NormKind.Linf, 0.15f), 40);
        int differing = expected.Zip(run.Results.Adversarial, (e, a) => Math.Abs(e - a) > 1e-5 ? 1 : 0).Sum();
        Assert.IsLessThanOrEqualTo(expected.Length / 1000, differing, $"{differing} of {expected.Length} pixels differ from TorchSharp's FGSM");
    }

    internal static void LoadWeights(Network network, ModelProto model)
    {
        using var _ = no_grad();
        var initializers = model.Graph.Initializer.ToDictionary(t => t.Name, OnnxTensors.ToFloats);
        foreach (var (name, parameter) in network.named_parameters())
        {
            // Sequential children are "l{i}", exported as "l{i}.weight" / "l{i}.bias".
            var key = name["layers.".Length..];
            parameter.copy_(tensor(initializers[key], parameter.shape));
        }
        network.Standardization.Set(initializers["l0.mean"], initializers["l0.std"]);
    }

    [TestMethod]
    public void FgmStepsReachTheBallsBoundaryInsideTheBox()
    {
        var linf = Attack(Settings("fgm", NormKind.Linf, 0.1f));
        Assert.IsTrue(linf.Results.Adversarial.All(v => v is >= 0 and <= 1), "clipped to [0, 1]");
        Assert.IsTrue(linf.Results.Examples.All(e => e.PerturbationNorm <= 0.1 + 1e-6), "ℓ∞ ≤ ε");

        var l2 = Attack(Settings("fgm", NormKind.L2, 1.0f));
        foreach (var delta in Perturbations(l2))
        {
            Assert.IsLessThanOrEqualTo(1.0 + 1e-4, Math.Sqrt(delta.Sum(d => (double)d * d)), "ℓ2 ≤ ε");
        }
    }

    [TestMethod]
    public void SinglePixelAttackChangesOnePixelByAtMostEps()
    {
        var run = Attack(Settings("fgm", NormKind.L1, 0.8f));
        foreach (var delta in Perturbations(run))
        {
            Assert.IsLessThanOrEqualTo(1, delta.Count(d => d != 0), "one pixel at most");
            Assert.IsLessThanOrEqualTo(0.8 + 1e-6, delta.Sum(d => Math.Abs((double)d)));
        }
        Assert.IsGreaterThan(run.Count / 2, Perturbations(run).Count(d => d.Any(v => v != 0)), "most images do get a pixel changed");

        var three = Attack(Settings("fgm", NormKind.L1, 0.9f, pixels: 3));
        foreach (var delta in Perturbations(three))
        {
            Assert.IsLessThanOrEqualTo(3, delta.Count(d => d != 0), "--pixels 3");
        }
    }

    [TestMethod]
    public void PgdWithOneFullStepFromTheCleanImageIsFgmIterateForIterate()
    {
        // FGM is the PGD loop with one step of size ε and no random start: the same images, bit for bit.
        foreach (var (norm, eps) in new[] { (NormKind.Linf, 0.1f), (NormKind.L2, 1.0f), (NormKind.L1, 0.8f) })
        {
            var fgm = Attack(Settings("fgm", norm, eps));
            var pgd = AttackRunner.Run(new Pgd(Sessions, Settings("pgd", norm, eps, steps: 1, stepSize: eps) with { RandomStart = false }),
                TrainedModel.Test.Take(60), 16);
            CollectionAssert.AreEqual(fgm.Results.Adversarial, pgd.Results.Adversarial, $"{norm}");
        }
    }

    [TestMethod]
    public void PgdFoolsWhatFgmCannotAndStaysInTheBall()
    {
        // A radius at which FGSM leaves most of the model's correct answers standing: PGD must do strictly better.
        var fgm = Attack(Settings("fgm", NormKind.Linf, Radius)).Summarize();
        var pgdRun = Attack(Settings("pgd", NormKind.Linf, Radius, steps: 10, stepSize: Radius / 4));
        var pgd = pgdRun.Summarize();
        Assert.IsGreaterThan(0.3, fgm.AdversarialAccuracy, $"FGSM at ε {Radius} leaves {fgm.AdversarialAccuracy:P0}: the model is too weak for this test");
        Assert.IsLessThan(fgm.AdversarialAccuracy - 0.05, pgd.AdversarialAccuracy, $"PGD {pgd.AdversarialAccuracy:P1} vs FGM {fgm.AdversarialAccuracy:P1}");
        Assert.IsTrue(pgdRun.Results.Examples.All(e => e.PerturbationNorm <= Radius + 1e-6));
        Assert.AreEqual(4 * (1 + 10 + 1), pgd.Evaluations, "per batch of 16: the clean evaluation, one per step, the final one");
        Assert.AreEqual(60 * (1 + 10 + 1), pgd.ImageEvaluations);
    }

    /// <summary>An ℓ∞ radius at which the synthetic-bars model is hurt but not broken by FGSM.</summary>
    internal const float Radius = 0.12f;

    [TestMethod]
    public void RestartsDrawNewStartsAndKeepEachExamplesWorstCase()
    {
        var once = Attack(Settings("pgd", NormKind.L2, 1.2f, steps: 3, stepSize: 0.4f, restarts: 1));
        var thrice = Attack(Settings("pgd", NormKind.L2, 1.2f, steps: 3, stepSize: 0.4f, restarts: 3));
        int better = 0, movable = 0;
        for (int i = 0; i < once.Count; i++)
        {
            // Restart 0 of the three is the single run (the same random sequence), so no example can get a milder outcome.
            var (a, b) = (once[i], thrice[i]);
            Assert.IsFalse(a.IsBetterThan(b), $"example {i}: 3 restarts kept a milder case (loss {b.Loss}) than 1 (loss {a.Loss})");
            better += b.IsBetterThan(a) ? 1 : 0;
            // A saturated softmax gives a loss of exactly 0 and no gradient: no start can change those.
            movable += a.Loss != 0 ? 1 : 0;
        }
        Assert.IsGreaterThan(10, movable, "enough examples have a gradient to follow");
        Assert.IsGreaterThan(movable / 3, better, $"later restarts start elsewhere and find worse cases ({better} of {movable})");
        Assert.IsLessThanOrEqualTo(once.Summarize().AdversarialAccuracy, thrice.Summarize().AdversarialAccuracy);
    }

    [TestMethod]
    public void EarlyStoppingSavesEvaluationsAndFindsWhatTheLastIterateMisses()
    {
        var plain = Attack(Settings("pgd", NormKind.Linf, Radius, steps: 10, stepSize: Radius / 4));
        var early = Attack(Settings("pgd", NormKind.Linf, Radius, steps: 10, stepSize: Radius / 4, earlyStop: true));
        Assert.IsLessThan(plain.ImageEvaluations, early.ImageEvaluations, "fooled examples stop costing evaluations");
        // An example's trajectory is the same with or without early stopping up to its first success, so every example
        // the last iterate fools is fooled at some iterate, and early stopping records that one. (Evaluating fewer
        // examples at once may round differently in ONNX Runtime's kernels: one example is allowed to drift.)
        var missed = Enumerable.Range(0, plain.Count).Where(i => plain[i].Success && !early[i].Success).ToList();
        Assert.IsLessThanOrEqualTo(1, missed.Count, $"fooled by the last iterate but not with early stopping: {string.Join(", ", missed)}");
        Assert.IsLessThanOrEqualTo(plain.Summarize().AdversarialAccuracy, early.Summarize().AdversarialAccuracy);
    }

    [TestMethod]
    public void FoscIsNonNegativeInsideTheBallForEveryNorm()
    {
        // c(x) = ε‖g‖_q − ⟨x − x⁰, g⟩ ≥ 0 for every x in the ball (Hölder): a wrong dual norm or sign breaks it.
        foreach (var (norm, eps) in new[] { (NormKind.L1, 1.5f), (NormKind.L2, 1.2f), (NormKind.Linf, 0.1f) })
        {
            var run = Attack(Settings("pgd", norm, eps, steps: 5, stepSize: eps / 3));
            var fosc = run.Results.Examples.Select(e => e.Fosc).ToArray();
            Assert.IsTrue(fosc.All(c => c >= -1e-4), $"{norm}: min FOSC {fosc.Min()}");
            Assert.IsGreaterThan(0.0, fosc.Max(), $"{norm}: FOSC is not identically zero");
        }
    }
}
