using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Gradients;
using RobustEval.Evaluator.Runtime;
using RobustEval.Onnx;
using RobustEval.Tests;
using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Tests;

/// <summary>
/// Every loss the gradient graph computes: its value against the formula evaluated here on the model's own logits,
/// its gradient against central finite differences, and its refusal of models with too few classes.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class LossTests
{
    private static Classifier Classifier = null!;

    [ClassInitialize]
    public static void Load(TestContext _) => Classifier = ClassifierLoader.Load(TrainedModel.Path, null, GradientChecker.Sessions);

    /// <summary>Bars blended pairwise, so the trained model is unsure and no logit dominates (no saturated softmax, no ties).</summary>
    private static (float[] X, long[] Labels, long[] Targets) Points(int count)
    {
        var data = TrainedModel.Test;
        var x = new float[count * 784];
        for (int i = 0; i < count; i++)
        {
            var a = data.Image(i);
            var b = data.Image(i + 3);
            for (int j = 0; j < 784; j++)
            {
                x[i * 784 + j] = 0.6f * a[j] + 0.4f * b[j];
            }
        }
        var labels = Enumerable.Range(0, count).Select(i => data.Label(i)).ToArray();
        var targets = labels.Select(l => (l + 4) % 10).ToArray();
        return (x, labels, targets);
    }

    /// <summary>The losses as the papers define them, from one example's logits z.</summary>
    private static double Expected(Loss loss, float[] z, long y, long t)
    {
        var sorted = z.Select(v => (double)v).OrderDescending().ToArray();
        double logSumExp = Math.Log(z.Sum(v => Math.Exp(v - sorted[0]))) + sorted[0];
        double bestOther(long skip) => z.Where((_, i) => i != skip).Max();
        return loss.Name switch
        {
            "ce" => logSumExp - z[y],
            "ce-targeted" => z[t] - logSumExp,
            "margin" => bestOther(y) - z[y],
            "margin-targeted" => z[t] - bestOther(t),
            "dlr" => -(z[y] - bestOther(y)) / (sorted[0] - sorted[2] + 1e-12),
            "dlr-targeted" => -(z[y] - z[t]) / (sorted[0] - 0.5 * (sorted[2] + sorted[3]) + 1e-12),
            "difference" => z[t] - z[y],
            _ => throw new ArgumentOutOfRangeException(nameof(loss)),
        };
    }

    [TestMethod]
    public void EveryLossHasTheValueItsFormulaGives()
    {
        var (x, labels, targets) = Points(8);
        foreach (var loss in Loss.All)
        {
            using var session = new GradientSession(Classifier, GradientChecker.Sessions, loss);
            var buffers = session.For(8);
            x.CopyTo(buffers.Pixels, 0);
            labels.CopyTo(buffers.Labels, 0);
            if (loss.Targeted)
            {
                targets.CopyTo(buffers.Targets!, 0);
            }
            session.Evaluate(buffers, 8);
            for (int i = 0; i < 8; i++)
            {
                var z = buffers.Logits.AsSpan(i * 10, 10).ToArray();
                double expected = Expected(loss, z, labels[i], targets[i]);
                Assert.AreEqual(expected, buffers.Loss[i], 1e-4 * Math.Max(1, Math.Abs(expected)), $"{loss.Name}, example {i}");
            }
        }
    }

    [TestMethod]
    [DataRow("ce")]
    [DataRow("dlr")]
    [DataRow("margin")]
    [DataRow("ce-targeted")]
    [DataRow("dlr-targeted")]
    [DataRow("margin-targeted")]
    [DataRow("difference")]
    public void GradientMatchesCentralFiniteDifferences(string name)
    {
        // A smooth classifier (a linear map and tanh), so the only kinks are the loss's own (which class is the best
        // other one, the sorted logits) and random inputs stay away from them.
        var loss = Loss.Parse(name);
        using var dir = new TempDirectory();
        var classifier = ClassifierLoader.Load(Linear(dir, 10, smooth: true), null, GradientChecker.Sessions);
        var random = new Random(11);
        var x = Enumerable.Range(0, 6 * 16).Select(_ => (float)random.NextDouble()).ToArray();
        long[] labels = [0, 3, 5, 7, 9, 2];
        long[] targets = [4, 1, 8, 0, 6, 9];
        using var session = new GradientSession(classifier, GradientChecker.Sessions, loss);
        FiniteDifferences.CheckLoss(session, x, labels, loss.Targeted ? targets : null, directions: 8, tolerance: 1e-2);
    }

    [TestMethod]
    public void TooFewClassesAreRefusedWithTheLossesThatWork()
    {
        using var dir = new TempDirectory();
        var two = ClassifierLoader.Load(Linear(dir, 2), null, GradientChecker.Sessions);
        var error = Assert.ThrowsExactly<UserErrorException>(() => new GradientSession(two, GradientChecker.Sessions, Loss.Dlr));
        StringAssert.Contains(error.Message, "--loss dlr needs at least 3 classes");
        StringAssert.Contains(error.Message, "--loss margin");
        var three = ClassifierLoader.Load(Linear(dir, 3), null, GradientChecker.Sessions);
        using (new GradientSession(three, GradientChecker.Sessions, Loss.Dlr))
        {
        }
        error = Assert.ThrowsExactly<UserErrorException>(() => new GradientSession(three, GradientChecker.Sessions, Loss.DlrTargeted));
        StringAssert.Contains(error.Message, "needs at least 4 classes");
        using (new GradientSession(two, GradientChecker.Sessions, Loss.Margin))
        using (new GradientSession(two, GradientChecker.Sessions, Loss.CrossEntropyTargeted))
        {
        }
    }

    [TestMethod]
    public void UnknownLossNamesTheKnownOnes()
    {
        var error = Assert.ThrowsExactly<UserErrorException>(() => Loss.Parse("hinge"));
        StringAssert.Contains(error.Message, "ce, dlr, margin, ce-targeted, dlr-targeted, margin-targeted");
    }

    /// <summary>
    /// A linear classifier of 1×4×4 images into <paramref name="classes"/> classes (with <paramref name="smooth"/>, its
    /// scores go through 3·tanh), saved in <paramref name="dir"/>.
    /// </summary>
    internal static string Linear(TempDirectory dir, int classes, bool smooth = false)
    {
        var graph = new GraphProto { Name = "linear" };
        graph.Input.Add(TensorValue("x", TensorProto.Types.DataType.Float, "N", 1, 4, 4));
        var b = new GraphBuilder(graph);
        var flat = b.Add("Flatten", ["x"], "flat");
        var weights = Enumerable.Range(0, classes * 16).Select(i => (float)((i * 7 % 13) - 6) / 6).ToArray();
        var scores = b.Add("Gemm", [flat, b.Initializer("w", weights, classes, 16)], smooth ? "linear" : "scores", Attr("transB", 1L));
        if (smooth)
        {
            b.Add("Mul", [b.Add("Tanh", [scores], "tanh"), b.Scalar("three", 3f)], "scores");
        }
        graph.Output.Add(TensorValue("scores", TensorProto.Types.DataType.Float, "N", classes));
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        var path = dir.File($"linear-{classes}{(smooth ? "-tanh" : "")}.onnx");
        OnnxFiles.Save(model, path);
        return path;
    }
}
