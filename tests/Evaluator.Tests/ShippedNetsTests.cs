using RobustEval.Data;
using RobustEval.Evaluator.Attacks;
using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;
using RobustEval.Tests;

namespace RobustEval.Evaluator.Tests;

/// <summary>
/// The shipped MNIST nets (Models/), on the first digits of their sample: APGD-CE and APGD-T never leave more of a
/// net standing than fixed-step PGD-20 does at ε = 0.3, and AutoAttack leaves no more than its own APGD-CE or
/// PGD-20 on the two nets trained against that ε. (reports/attacks.sh runs the same on all 1,000 digits for the
/// README's table.)
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class ShippedNetsTests
{
    private const int Digits = 100;
    private const float Eps = 0.3f;

    [TestMethod]
    [DataRow("mnist-baseline")]
    [DataRow("mnist-robust-l1")]
    [DataRow("mnist-robust-l2")]
    [DataRow("mnist-robust-linf")]
    [DataRow("mnist-mix-linf")]
    [DataRow("mnist-pgd-linf")]
    [DataRow("mnist-dynamic-linf")]
    public void ApgdLeavesNoMoreStandingThanPgd20(string net)
    {
        var (data, loaded) = Load(net);
        using var gradients = loaded;
        double pgd = Robust(gradients, data, "pgd", 20, Eps / 4), ce = Robust(gradients, data, "apgd-ce"), targeted = Robust(gradients, data, "apgd-t");
        Assert.IsLessThanOrEqualTo(pgd, ce, $"{net}: APGD-CE {ce:P0} vs PGD-20 {pgd:P0}");
        Assert.IsLessThanOrEqualTo(pgd, targeted, $"{net}: APGD-T {targeted:P0} vs PGD-20 {pgd:P0}");
    }

    [TestMethod]
    [DataRow("mnist-pgd-linf")]
    [DataRow("mnist-dynamic-linf")]
    public void AutoAttackLeavesNoMoreStandingThanItsApgdCeOrPgd20(string net)
    {
        var (data, loaded) = Load(net);
        using var gradients = loaded;
        double pgd = Robust(gradients, data, "pgd", 20, Eps / 4);
        var plan = AutoAttackPlan.Create("standard", NormKind.Linf, Eps, seed: 1, null, gradients.Classifier.Classes, gradients.GradientBlockers);
        var totals = new AutoAttack(gradients, plan, data, batchSize: 256).Run().Totals;
        double apgdCe = (double)totals.RobustAfterEach().First() / Digits;
        Assert.IsLessThanOrEqualTo(apgdCe, totals.RobustAccuracy, $"{net}: AutoAttack {totals.RobustAccuracy:P0} vs its APGD-CE {apgdCe:P0}");
        Assert.IsLessThanOrEqualTo(pgd, totals.RobustAccuracy, $"{net}: AutoAttack {totals.RobustAccuracy:P0} vs PGD-20 {pgd:P0}");
        Assert.IsEmpty(totals.Flags(), $"{net}: {string.Join("; ", totals.Flags())}");
    }

    /// <summary>
    /// On two threads a gradient graph runs as two one-thread sessions, each on its share of the batch
    /// (<see cref="OrtSessions.CreateLanes"/>): every example's logits, loss and gradient must be those one session
    /// computes for the whole batch — an odd batch (uneven shares), a targeted loss (the targets are split too),
    /// and a single example (one lane only). (Run without ROBUSTEVAL_ORT_LANES set, which would keep one session.)
    /// </summary>
    [TestMethod]
    public void LanesSplitABatchWithoutChangingAnyExample()
    {
        var model = Repository.Path("Models", "mnist-baseline.onnx");
        var twoThreads = new OrtSessions(DeviceChoice.Cpu, threads: 2);
        using var lanes = new GradientSession(ClassifierLoader.Load(model, null, twoThreads), twoThreads, Gradients.Loss.CrossEntropyTargeted);
        using var single = new GradientSession(ClassifierLoader.Load(model, null, GradientChecker.Sessions), GradientChecker.Sessions, Gradients.Loss.CrossEntropyTargeted);
        Assert.AreEqual(2, lanes.Lanes);
        Assert.AreEqual(1, single.Lanes);
        var data = new DatasetCatalog(DataDirectories.Default()).Load(Repository.Path("Models", "mnist-sample.npz")).Data;
        foreach (int count in new[] { 7, 1 })
        {
            var results = new List<(float[] Logits, float[] Loss, float[] Gradient)>();
            foreach (var session in new[] { lanes, single })
            {
                var buffers = session.For(count);
                data.Pixels[..(count * 784)].CopyTo(buffers.Pixels);
                for (int i = 0; i < count; i++)
                {
                    buffers.Labels[i] = data.Label(i);
                    buffers.Targets![i] = (data.Label(i) + 1 + i) % 10;
                }
                session.Evaluate(buffers, count);
                results.Add((buffers.Logits[..(count * 10)], buffers.Loss[..count], buffers.Gradient[..(count * 784)]));
            }
            WholeModelGradientTests.AssertClose(results[1].Logits, results[0].Logits, 1e-5, $"logits of {count}");
            WholeModelGradientTests.AssertClose(results[1].Loss, results[0].Loss, 1e-5, $"losses of {count}");
            for (int i = 0; i < count; i++)
            {
                // Each example on its own scale: a wrong offset would hand one example another's gradient.
                WholeModelGradientTests.AssertClose(results[1].Gradient[(i * 784)..((i + 1) * 784)], results[0].Gradient[(i * 784)..((i + 1) * 784)], 1e-4,
                    $"gradient of example {i} of {count}");
            }
        }
    }

    /// <summary>The shipped net <paramref name="net"/> on two CPU threads, and the first digits of its sample.</summary>
    private static (Dataset Data, GradientSessions Gradients) Load(string net)
    {
        var sessions = new OrtSessions(DeviceChoice.Cpu, threads: 2);
        var classifier = ClassifierLoader.Load(Repository.Path("Models", $"{net}.onnx"), null, sessions);
        var data = new DatasetCatalog(DataDirectories.Default()).Load(Repository.Path("Models", "mnist-sample.npz"), classifier.InputLayout, classifier.ClassNames).Data
            .Take(Digits);
        return (data, new GradientSessions(classifier, sessions));
    }

    /// <summary>Robust accuracy under a registered attack at ℓ∞ ε = 0.3.</summary>
    private static double Robust(GradientSessions gradients, Dataset data, string attack, int? steps = null, float? stepSize = null) => AttackRunner.Run(
        AttackRegistry.Create(new AttackRequest { Name = attack, Norm = NormKind.Linf, Eps = Eps, Steps = steps, StepSize = stepSize }, gradients), data)
        .Summarize().AdversarialAccuracy;
}
