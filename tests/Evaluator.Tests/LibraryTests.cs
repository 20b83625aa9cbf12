using RobustEval.Data;
using RobustEval.Evaluator.Attacks;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Gradients;
using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;
using RobustEval.Tests;

namespace RobustEval.Evaluator.Tests;

/// <summary>The evaluator as a library: the README's example runs, and everything it touches is public.</summary>
[TestClass]
[DoNotParallelize]
public sealed class LibraryTests
{
    [TestMethod]
    public void TheReadmeExampleRuns()
    {
        var model = Repository.Path("Models", "mnist-pgd-linf.onnx");
        var sample = Repository.Path("Models", "mnist-sample.npz");
        // From README.md, "As a library" (paths made absolute):
        var ort = new OrtSessions(DeviceChoice.Cpu);
        var classifier = ClassifierLoader.Load(model, ort);
        var data = new DatasetCatalog(DataDirectories.Default()).Load(sample).Data.Take(50);
        using var gradients = new GradientSessions(classifier, ort);
        var attack = AttackRegistry.Create(new AttackRequest { Name = "apgd", Norm = NormKind.Linf, Eps = 0.3f, Loss = Loss.Dlr }, gradients);
        var run = AttackRunner.Run(attack, data);
        Console.WriteLine($"robust accuracy {run.Summarize().AdversarialAccuracy:P1}");
        for (int i = 0; i < run.Count; i++)
        {
            ExampleResult e = run[i];
            if (e.Success)
            {
                Assert.AreNotEqual(e.Label, e.Prediction);
                Assert.IsLessThanOrEqualTo(0.3 + 1e-6, e.PerturbationNorm);
            }
        }

        var summary = run.Summarize();
        Assert.AreEqual(50, summary.Examples);
        Assert.IsGreaterThan(0.5, summary.AdversarialAccuracy, "the PGD-trained net keeps most digits at ε = 0.3");
    }

    [TestMethod]
    public void TheReadmeAutoAttackExampleRuns()
    {
        var ort = new OrtSessions(DeviceChoice.Cpu);
        var classifier = ClassifierLoader.Load(Repository.Path("Models", "mnist-pgd-linf.onnx"), ort);
        var data = new DatasetCatalog(DataDirectories.Default()).Load(Repository.Path("Models", "mnist-sample.npz")).Data.Take(10);
        using var gradients = new GradientSessions(classifier, ort);
        // From README.md, "As a library":
        var result = new AutoAttack(gradients, AutoAttackPlan.Create("standard", NormKind.Linf,
            0.3f, seed: 1, null, classifier.Classes, gradients.GradientBlockers), data, batchSize: 256).Run();
        Assert.AreEqual(10, result.Totals.Examples);
        Assert.HasCount(4, result.Totals.Stages);
        Assert.AreEqual(result.Totals.Robust, Enumerable.Range(0, 10).Count(i => result.Predictions[i] == result.Labels[i] && result.CleanPredictions[i] == result.Labels[i]));
    }

    [TestMethod]
    public void WhatALibraryUserNeedsIsPublic()
    {
        Type[] types =
        [
            typeof(OrtSessions), typeof(DeviceChoice), typeof(ClassifierLoader), typeof(Classifier), typeof(Preprocessing), typeof(PredictionSession),
            typeof(GradientSession), typeof(GradientSessions), typeof(Loss), typeof(Goal), typeof(TargetChoice), typeof(IAttack), typeof(Pgd),
            typeof(Attacks.Apgd), typeof(Restarts), typeof(TopTargets), typeof(AttackRegistry), typeof(AttackDefinition), typeof(AttackRequest),
            typeof(AttackSettings), typeof(AttackBatch), typeof(AttackResults), typeof(ResultSlice), typeof(ExampleResult), typeof(AttackRunner),
            typeof(AttackRun), typeof(AttackSummary), typeof(Dataset), typeof(DatasetCatalog), typeof(Square), typeof(Fab), typeof(AutoAttack),
            typeof(AutoAttackPlan), typeof(AutoAttackResult), typeof(AutoAttackState), typeof(AutoAttackTotals), typeof(StageTotals),
            typeof(ReliabilityFlag), typeof(Wilson),
        ];
        Assert.IsEmpty(types.Where(t => !t.IsPublic).Select(t => t.Name).ToList());
        Assert.IsTrue(typeof(ClassifierLoader).GetMethod(nameof(ClassifierLoader.Load), [typeof(string), typeof(OrtSessions)])!.IsPublic);
        Assert.IsTrue(typeof(AttackRunner).GetMethod(nameof(AttackRunner.Run))!.IsPublic);
        Assert.IsTrue(typeof(AttackRegistry).GetMethod(nameof(AttackRegistry.Create), [typeof(AttackRequest), typeof(GradientSessions)])!.IsPublic);
    }
}
