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

[TestClass]
[DoNotParallelize]
public sealed class AttackTests
{
    private static Classifier Classifier = null!;
    private static GradientSession Session = null!;

    [ClassInitialize]
    public static void Load(TestContext _)
    {
        Classifier = ClassifierLoader.Load(TrainedModel.Path, null, GradientChecker.Sessions);
        Session = new GradientSession(Classifier, GradientChecker.Sessions);
    }

    [ClassCleanup]
    public static void Close() => Session.Dispose();

    private static AttackRun Attack(AttackConfig config, int count = 60) =>
        AttackRun.Execute(Session, new GradientAttack(Session, config), TrainedModel.Test.Take(count), batchSize: 16);

    private static IEnumerable<float[]> Perturbations(AttackRun run)
    {
        for (int i = 0; i < run.Count; i++)
        {
            var clean = run.Data.Image(i).ToArray();
            yield return run.Adversarial.AsSpan(i * 784, 784).ToArray().Select((v, j) => v - clean[j]).ToArray();
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

        var run = Attack(Fgm.Config(NormKind.Linf, 0.15f), 40);
        int differing = expected.Zip(run.Adversarial, (e, a) => Math.Abs(e - a) > 1e-5 ? 1 : 0).Sum();
        Assert.IsLessThanOrEqualTo(expected.Length / 1000, differing, $"{differing} of {expected.Length} pixels differ from TorchSharp's FGSM");
    }

    private static void LoadWeights(Network network, ModelProto model)
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
        var linf = Attack(Fgm.Config(NormKind.Linf, 0.1f));
        Assert.IsTrue(linf.Adversarial.All(v => v is >= 0 and <= 1), "clipped to [0, 1]");
        Assert.IsTrue(linf.PerturbationNorm.All(n => n <= 0.1 + 1e-6), "ℓ∞ ≤ ε");

        var l2 = Attack(Fgm.Config(NormKind.L2, 1.0f));
        foreach (var delta in Perturbations(l2))
        {
            Assert.IsLessThanOrEqualTo(1.0 + 1e-4, Math.Sqrt(delta.Sum(d => (double)d * d)), "ℓ2 ≤ ε");
        }
    }

    [TestMethod]
    public void SinglePixelAttackChangesOnePixelByAtMostEps()
    {
        var run = Attack(Fgm.Config(NormKind.L1, 0.8f));
        foreach (var delta in Perturbations(run))
        {
            Assert.IsLessThanOrEqualTo(1, delta.Count(d => d != 0), "one pixel at most");
            Assert.IsLessThanOrEqualTo(0.8 + 1e-6, delta.Sum(d => Math.Abs((double)d)));
        }
        Assert.IsTrue(Perturbations(run).Count(d => d.Any(v => v != 0)) > run.Count / 2, "most images do get a pixel changed");

        var three = Attack(Fgm.Config(NormKind.L1, 0.9f, pixels: 3));
        foreach (var delta in Perturbations(three))
        {
            Assert.IsLessThanOrEqualTo(3, delta.Count(d => d != 0), "--pixels 3");
        }
    }

    [TestMethod]
    public void PgdIsStrongerThanFgmAndStaysInTheBall()
    {
        var fgm = Attack(Fgm.Config(NormKind.Linf, 0.12f)).Summarize();
        var pgdRun = Attack(Pgd.Config(NormKind.Linf, 0.12f, steps: 10, stepSize: 0.03f));
        var pgd = pgdRun.Summarize();
        Assert.IsLessThanOrEqualTo(fgm.AdversarialAccuracy, pgd.AdversarialAccuracy, $"PGD {pgd.AdversarialAccuracy} vs FGM {fgm.AdversarialAccuracy}");
        Assert.IsTrue(pgdRun.PerturbationNorm.All(n => n <= 0.12 + 1e-6));
        Assert.AreEqual(4 * (1 + 10 + 1), pgd.Evaluations, "per batch of 16: the clean evaluation, one per step, the final one");
    }

    [TestMethod]
    public void RestartsOnlyMakeTheAttackStronger()
    {
        var once = Attack(Pgd.Config(NormKind.L2, 1.2f, steps: 3, stepSize: 0.4f, restarts: 1)).Summarize();
        var thrice = Attack(Pgd.Config(NormKind.L2, 1.2f, steps: 3, stepSize: 0.4f, restarts: 3)).Summarize();
        Assert.IsLessThanOrEqualTo(once.AdversarialAccuracy, thrice.AdversarialAccuracy);
    }

    [TestMethod]
    public void FoscIsNonNegativeInsideTheBallForEveryNorm()
    {
        // c(x) = ε‖g‖_q − ⟨x − x⁰, g⟩ ≥ 0 for every x in the ball (Hölder): a wrong dual norm or sign breaks it.
        foreach (var (norm, eps) in new[] { (NormKind.L1, 1.5f), (NormKind.L2, 1.2f), (NormKind.Linf, 0.1f) })
        {
            var run = Attack(Pgd.Config(norm, eps, steps: 5, stepSize: eps / 3));
            Assert.IsTrue(run.Fosc.All(c => c >= -1e-4), $"{norm}: min FOSC {run.Fosc.Min()}");
            Assert.IsGreaterThan(0.0, run.Fosc.Max(), $"{norm}: FOSC is not identically zero");
        }
    }
}
