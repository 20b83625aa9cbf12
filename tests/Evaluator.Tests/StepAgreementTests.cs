using RobustEval.Data;
using RobustEval.Evaluator.Attacks;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;
using RobustEval.Onnx;
using RobustEval.Trainer.Architectures;
using RobustEval.Trainer.Native;
using RobustEval.Trainer.Training;
using static TorchSharp.torch;

namespace RobustEval.Evaluator.Tests;

/// <summary>
/// The trainer's PGD (TorchSharp, training time) and the evaluator's (ONNX Runtime, evaluation time) take the same
/// box-aware step: from the same start on the same weights they reach the same iterates.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class StepAgreementTests
{
    [TestMethod]
    [DataRow("linf", 0.2f, 0.05f)]
    [DataRow("l2", 3f, 1f)]
    [DataRow("l1", 4f, 1f)]
    public void TrainerAndEvaluatorReachTheSameIterates(string normName, float eps, float stepSize)
    {
        var norm = NormKinds.Parse(normName);
        const int count = 24, steps = 6;
        // Images with many pixels exactly on the box's edges, where a box-aware step and a plain one part ways.
        var test = TrainedModel.Test.Take(count);
        var pixels = test.Pixels.ToArray().Select(v => Math.Clamp(1.6f * v - 0.3f, 0f, 1f)).ToArray();
        var data = new Dataset(pixels, test.Labels.ToArray(), 1, 28, 28, test.ClassNames, "bars on the box's edges");

        var classifier = ClassifierLoader.Load(TrainedModel.Path, null, GradientChecker.Sessions);
        using var sessions = new GradientSessions(classifier, GradientChecker.Sessions);
        var settings = AttackRegistry.Resolve(new AttackRequest { Name = "pgd", Norm = norm, Eps = eps, Steps = steps, StepSize = stepSize }) with { RandomStart = false };
        var evaluator = AttackRunner.Run(new Pgd(sessions, settings), data, count).Results.Adversarial;

        TorchRuntime.EnsureLoadable();
        using var network = new Network(ArchitectureCatalog.Get(ArchitectureCatalog.ShahamMnist));
        AttackTests.LoadWeights(network, OnnxFiles.Load(TrainedModel.Path));
        network.eval();
        var x = tensor(pixels, [count, 1, 28, 28]);
        using var result = AdversarialExamples.Pgd(network, x, tensor(data.Labels.ToArray()), new TensorBall(norm), eps, stepSize, steps, null, start: x);
        var trainer = result.Adversarial.data<float>().ToArray();

        int differing = trainer.Zip(evaluator, (a, b) => Math.Abs(a - b) > 1e-4 ? 1 : 0).Sum();
        int moved = pixels.Zip(evaluator, (a, b) => a != b ? 1 : 0).Sum();
        Assert.IsGreaterThan(count, moved, "the attacks moved pixels");
        // ONNX Runtime and libtorch round the gradient differently: a near-tie of two pixels (ℓ1) or a gradient
        // coordinate within rounding of zero (ℓ∞) may go either way, and such a pixel then moves differently.
        Assert.IsLessThanOrEqualTo(Math.Max(2, moved / 200), differing, $"{differing} of {moved} moved pixels differ between the trainer's and the evaluator's PGD");
    }
}
