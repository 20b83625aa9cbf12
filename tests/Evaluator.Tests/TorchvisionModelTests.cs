using RobustEval.Onnx;
using RobustEval.Data;
using RobustEval.Tests;
using static RobustEval.Evaluator.Tests.EvaluatorRunner;

namespace RobustEval.Evaluator.Tests;

/// <summary>
/// Models people attack today, exported by PyTorch's own exporter from torchvision's architectures (made small, random
/// weights; Reference/torchvision_models.py): ViT, Swin and ConvNeXt at opsets 14 (LayerNorm written out with Pow),
/// 17 (LayerNormalization) and 18–23, MobileNetV3, EfficientNet and the benchmark's resnet18 and mobilenet_v2 (strided,
/// depthwise and ReLU6 gradients), and models whose input height and width are
/// dynamic. Through the public CLI, FGSM must equal PyTorch's on ≥ 99.5 % of the pixels, and an ℓ2 step must point
/// along PyTorch's gradient (cosine ≥ 0.999 per image).
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class TorchvisionModelTests
{
    [ClassInitialize]
    public static void RequireTorchvision(TestContext _)
    {
        ReferencePython.Require("torch");
        ReferencePython.Require("torchvision");
    }

    [TestMethod]
    [DataRow("vit", 14, false)]
    [DataRow("vit", 17, false)]
    [DataRow("vit", 21, false)]
    [DataRow("swin", 17, false)]
    [DataRow("swin", 18, false)]
    [DataRow("convnext", 14, false)]
    [DataRow("convnext", 20, false)]
    [DataRow("convnext", 23, false)]
    [DataRow("mobilenet", 13, true)]
    [DataRow("efficientnet", 17, true)]
    [DataRow("resnet-softmax", 9, true)]
    [DataRow("resnet", 17, false)]
    [DataRow("mobilenet_v2", 17, false)]
    public void GradientsEqualPyTorchs(string name, int opset, bool dynamic)
    {
        using var dir = new TempDirectory();
        Export(name, opset, dynamic, dir.Path);
        var model = dir.File("model.onnx");
        var data = dir.File("data.npz");
        var reference = Npz.Read(dir.File("reference.npz"));
        // resnet-softmax expects inputs in [−1, 1] (PaddleOCR's convention) and ends in a softmax.
        string[] preprocessing = name == "resnet-softmax" ? ["--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5"] : [];

        var (code, output, error) = Run(["attack", model, "--data", data, "--norm", "linf", "--eps", "8/255", "--attack", "fgm", "--device", "cpu", "--out", dir.File("linf"),
            .. preprocessing]);
        Assert.AreEqual(0, code, error);
        if (name == "resnet-softmax")
        {
            StringAssert.Contains(output, "the model ends in Softmax");
        }
        var adversarial = Npz.Read(dir.File("linf/adversarial.npz"))["x_adv"].ToFloat32();
        var expected = reference["fgsm"].ToFloat32();
        double equal = adversarial.Zip(expected, (a, b) => Math.Abs(a - b) < 1e-5 ? 1.0 : 0.0).Average();
        Assert.IsGreaterThanOrEqualTo(0.995, equal, $"{name} opset {opset}: FGSM equals PyTorch's on {equal:P2} of the pixels");

        // An ℓ2 step of 0.5 from images in [0.2, 0.8] is never clipped, so it is the gradient's direction.
        (code, _, error) = Run(["attack", model, "--data", data, "--norm", "l2", "--eps", "0.5", "--attack", "fgm", "--device", "cpu", "--out", dir.File("l2"),
            .. preprocessing]);
        Assert.AreEqual(0, code, error);
        var arrays = Npz.Read(dir.File("l2/adversarial.npz"));
        var x = arrays["x"].ToFloat32();
        var step = arrays["x_adv"].ToFloat32().Zip(x, (a, b) => (double)a - b).ToArray();
        var gradient = reference["gradient"].ToFloat32();
        int images = (int)arrays["x"].Shape[0];
        int size = x.Length / images;
        for (int i = 0; i < images; i++)
        {
            double dot = 0, ss = 0, gg = 0;
            for (int j = i * size; j < (i + 1) * size; j++)
            {
                dot += step[j] * gradient[j];
                ss += step[j] * step[j];
                gg += (double)gradient[j] * gradient[j];
            }
            double cosine = dot / Math.Sqrt(ss * gg);
            Assert.IsGreaterThanOrEqualTo(0.999, cosine, $"{name} opset {opset}: image {i}'s ℓ2 step has cosine {cosine} with PyTorch's gradient");
        }
    }

    [TestMethod]
    public void DynamicImageSizeComesFromTheDataOrFromInputShape()
    {
        using var dir = new TempDirectory();
        Export("mobilenet", 17, dynamic: true, dir.Path);
        var model = dir.File("model.onnx");
        // No data to read the size from: refused, saying how to give it.
        var (code, _, error) = Run("gradient-graph", model, "-o", dir.File("g.onnx"), "--device", "cpu");
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "dynamic image size; give --input-shape C,H,W");
        (code, var output, error) = Run("gradient-graph", model, "--input-shape", "3,48,40", "-o", dir.File("g.onnx"), "--device", "cpu");
        Assert.AreEqual(0, code, error);
        var graph = OnnxFiles.Load(dir.File("g.onnx"));
        CollectionAssert.AreEqual(new long[] { 3, 48, 40 }, graph.Graph.Input[0].Type.TensorType.Shape.Dim.Skip(1).Select(d => d.DimValue).ToArray());
        (code, output, _) = Run("inspect", model, "--input-shape", "3,40,40");
        Assert.AreEqual(0, code);
        StringAssert.Contains(output, "runs at 3x40x40");

        // Bad sizes: one line each, exit code 2.
        foreach (var (shape, message) in new[]
        {
            ("1,32,32", "contradicts the model's input 'input' (NCHW 3x?x?)"),
            ("3,0,32", "every size must be at least 1"),
            ("3,-4,32", "give channels, height and width as C,H,W"),
            ("3,32", "give channels, height and width as C,H,W"),
        })
        {
            (code, _, error) = Run("gradient-graph", model, "--input-shape", shape, "-o", dir.File("g.onnx"), "--device", "cpu");
            Assert.AreEqual(2, code, shape);
            Assert.HasCount(1, ErrorLines(error), error);
            StringAssert.Contains(error, message);
        }
    }

    [TestMethod]
    public void InputShapeContradictingAFixedShapeOrThatTheModelCannotRunAtIsOneLine()
    {
        using var dir = new TempDirectory();
        Export("vit", 17, dynamic: true, dir.Path);
        // The ViT's position embedding fixes 16 patches: 40x40 images give 25 and cannot run.
        var (code, _, error) = Run("gradient-graph", dir.File("model.onnx"), "--input-shape", "3,40,40", "-o", dir.File("g.onnx"), "--device", "cpu");
        Assert.AreEqual(2, code);
        Assert.HasCount(1, ErrorLines(error), error);
        StringAssert.Contains(error, "cannot run the model on a 1x3x40x40 input");
        StringAssert.Contains(error, "taken from --input-shape");
        (code, _, error) = Run("gradient-graph", TrainedModel.Path, "--input-shape", "1,32,32", "-o", dir.File("g.onnx"), "--device", "cpu");
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "contradicts the model's input");
    }

    private static void Export(string name, int opset, bool dynamic, string directory)
    {
        var script = Repository.Path("tests", "Evaluator.Tests", "Reference", "torchvision_models.py");
        var args = new List<string> { script, name, opset.ToString(System.Globalization.CultureInfo.InvariantCulture), directory };
        if (dynamic)
        {
            args.Add("--dynamic");
        }
        ReferencePython.Run($"import sys, runpy; sys.argv = {ToPythonList(args)}; runpy.run_path(sys.argv[0], run_name='__main__')");
    }

    private static string ToPythonList(IEnumerable<string> values) =>
        "[" + string.Join(", ", values.Select(v => "'" + v.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'")) + "]";
}
