using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Runtime;
using RobustEval.ModelCards;
using RobustEval.Onnx;
using RobustEval.Tests;
using RobustEval.Trainer.Architectures;
using RobustEval.Trainer.Export;
using RobustEval.Trainer.Native;
using static TorchSharp.torch;
using static TorchSharp.torch.nn.functional;

namespace RobustEval.Evaluator.Tests;

/// <summary>The gradient graph of the trainer's exported nets against TorchSharp's autograd on the same weights.</summary>
[TestClass]
[DoNotParallelize]
public sealed class WholeModelGradientTests
{
    [ClassInitialize]
    public static void Load(TestContext _) => TorchRuntime.EnsureLoadable();

    [TestMethod]
    [DataRow(ArchitectureCatalog.ShahamMnist)]
    [DataRow(ArchitectureCatalog.SmallCnn)]
    [DataRow(ArchitectureCatalog.VggCifar)]
    public void GradientGraphMatchesTorchSharpAutograd(string architecture) => Compare(architecture, flatBackground: false);

    /// <summary>
    /// Images that are mostly one flat value (like MNIST's black background) make exact ties inside pooling
    /// windows; the gradient must still go where PyTorch sends it (the first maximum in row-major order).
    /// </summary>
    [TestMethod]
    [DataRow(ArchitectureCatalog.ShahamMnist)]
    [DataRow(ArchitectureCatalog.SmallCnn)]
    public void GradientGraphMatchesTorchSharpAutogradOnFlatBackgrounds(string architecture) => Compare(architecture, flatBackground: true);

    private static void Compare(string architecture, bool flatBackground)
    {
        using var dir = new TempDirectory();
        using var network = TestNetworks.Random(architecture, seed: 21);
        var spec = network.Spec;
        var path = dir.File("m.onnx");
        OnnxFiles.Save(OnnxExporter.Export(network, new ModelCard { Name = "m" }), path);

        const int batch = 6;
        manual_seed(22);
        using var x = rand(batch, spec.Channels, spec.Height, spec.Width);
        if (flatBackground)
        {
            // Zero everywhere but a 10×10 square of random pixels.
            using var mask = zeros(1, 1, spec.Height, spec.Width);
            mask[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(9, 19), TensorIndex.Slice(9, 19)] = 1f;
            x.mul_(mask);
        }
        var labels = Enumerable.Range(0, batch).Select(i => (long)(i * 7 % spec.Classes)).ToArray();

        // TorchSharp: the summed cross-entropy's gradient w.r.t. the input, in evaluation mode.
        var input = x.detach().requires_grad_(true);
        var logits = network.forward(input);
        var loss = cross_entropy(logits, tensor(labels), reduction: TorchSharp.torch.nn.Reduction.None);
        loss.sum().backward();
        var expectedGradient = input.grad!.data<float>().ToArray();
        var expectedLoss = loss.data<float>().ToArray();
        var expectedLogits = logits.detach().data<float>().ToArray();

        var classifier = ClassifierLoader.Load(path, null, GradientChecker.Sessions);
        using var session = new GradientSession(classifier, GradientChecker.Sessions);
        var buffers = session.For(batch);
        x.data<float>().CopyTo(buffers.Pixels);
        labels.CopyTo(buffers.Labels);
        session.Evaluate(buffers, buffers.Capacity);

        AssertClose(expectedLogits, buffers.Logits, 1e-4, "logits");
        AssertClose(expectedLoss, buffers.Loss, 1e-4, "per-example loss");
        AssertClose(expectedGradient, buffers.Gradient, 1e-4, "d loss / d input");
        Assert.IsGreaterThan(0f, buffers.Gradient.Max(Math.Abs), "the gradient is not zero");
    }

    /// <summary>max |actual − expected| relative to max |expected| at most <paramref name="tolerance"/>.</summary>
    internal static void AssertClose(float[] expected, float[] actual, double tolerance, string what)
    {
        Assert.HasCount(expected.Length, actual, what);
        double scale = expected.Max(v => Math.Abs((double)v));
        double worst = expected.Zip(actual, (e, a) => Math.Abs((double)e - a)).Max();
        Assert.IsLessThanOrEqualTo(tolerance, worst / Math.Max(scale, 1e-12), $"{what}: max error {worst} at scale {scale}");
    }
}
