using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using RobustEval.ModelCards;
using RobustEval.Onnx;
using RobustEval.Trainer.Architectures;
using RobustEval.Trainer.Export;
using RobustEval.Trainer.Native;
using RobustEval.Tests;
using TorchSharp;
using static TorchSharp.torch;

namespace RobustEval.Trainer.Tests;

/// <summary>The exporter against TorchSharp's own forward pass, run by ONNX Runtime.</summary>
[TestClass]
public sealed class ExportTests
{
    [ClassInitialize]
    public static void Load(TestContext _) => TorchRuntime.EnsureLoadable();

    [TestMethod]
    [DataRow(ArchitectureCatalog.ShahamMnist)]
    [DataRow(ArchitectureCatalog.SmallCnn)]
    [DataRow(ArchitectureCatalog.VggCifar)]
    public void OnnxRuntimeReproducesTorchSharpsForwardPass(string architecture)
    {
        using var network = TestNetworks.Random(architecture, seed: 11);
        var spec = network.Spec;
        var model = OnnxExporter.Export(network, new ModelCard { Name = "test", Architecture = architecture });
        Assert.IsEmpty(OnnxGraphChecker.Check(model), string.Join("; ", OnnxGraphChecker.Check(model)));
        Assert.IsFalse(model.Graph.Node.Any(n => n.OpType == "Dropout"), "dropout is left out of the inference graph");

        const int batch = 5;
        manual_seed(12);
        using var input = rand(batch, spec.Channels, spec.Height, spec.Width);
        float[] expected;
        using (no_grad())
        {
            expected = network.forward(input).data<float>().ToArray();
        }
        using var session = new InferenceSession(Google.Protobuf.MessageExtensions.ToByteArray(model));
        var pixels = input.data<float>().ToArray();
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(OnnxExporter.InputName,
            new DenseTensor<float>(pixels, [batch, spec.Channels, spec.Height, spec.Width]))]);
        var actual = results.Single().AsEnumerable<float>().ToArray();

        Assert.HasCount(batch * spec.Classes, actual);
        double scale = expected.Max(Math.Abs);
        double worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.IsLessThanOrEqualTo(1e-4, worst / scale, $"max |ORT − TorchSharp| = {worst} at logit scale {scale}");
    }

    [TestMethod]
    public void ExportedFilePassesTheOnnxChecker()
    {
        ReferencePython.Require("onnx");
        using var dir = new TempDirectory();
        using var network = TestNetworks.Random(ArchitectureCatalog.SmallCnn, seed: 3);
        var path = dir.File("m.onnx");
        OnnxFiles.Save(OnnxExporter.Export(network, new ModelCard { Name = "m", ClassNames = ["a", "b"] }), path);
        var output = ReferencePython.Run($"""
            import onnx
            m = onnx.load("{path}")
            onnx.checker.check_model(m, full_check=True)
            inferred = onnx.shape_inference.infer_shapes(m, strict_mode=True)
            out = inferred.graph.output[0].type.tensor_type.shape
            print(m.opset_import[0].version, [d.dim_param or d.dim_value for d in out.dim])
            """);
        Assert.AreEqual("17 ['batch', 10]", output.Trim());
    }

    [TestMethod]
    public void ModelCardTravelsWithTheFile()
    {
        using var dir = new TempDirectory();
        using var network = TestNetworks.Random(ArchitectureCatalog.ShahamMnist, seed: 4);
        var card = new ModelCard { Name = "x", Method = "robust", Norm = "l1", Eps = 0.62, CleanAccuracy = 0.98 };
        var path = dir.File("x.onnx");
        OnnxFiles.Save(OnnxExporter.Export(network, card), path);
        var back = OnnxFiles.ReadCard(OnnxFiles.Load(path))!;
        Assert.AreEqual("robust ℓ1 ε=0.62", back.TrainingSummary());
        Assert.AreEqual(0.98, back.CleanAccuracy!.Value, 1e-9);
    }
}
