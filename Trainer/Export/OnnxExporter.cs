using RobustEval.ModelCards;
using RobustEval.Onnx;
using RobustEval.Trainer.Architectures;
using TorchSharp.Modules;
using static RobustEval.Onnx.GraphBuilder;
using static TorchSharp.torch;

namespace RobustEval.Trainer.Export;

/// <summary>
/// Writes a trained <see cref="Network"/> as an ONNX model (TorchSharp has no exporter: dotnet/TorchSharp#1281).
/// The graph takes pixels in [0, 1] as (batch, C, H, W) float32 and returns logits; standardisation is its first
/// two nodes, BatchNorm is exported in inference form and dropout is left out, as in evaluation mode.
/// </summary>
internal static class OnnxExporter
{
    public const int Opset = 17;
    public const int IrVersion = 8;
    public const string InputName = "input";
    public const string OutputName = "logits";

    public static ModelProto Export(Network network, ModelCard card)
    {
        var spec = network.Spec;
        var graph = new GraphProto { Name = spec.Name };
        graph.Input.Add(TensorValue(InputName, TensorProto.Types.DataType.Float, "batch", spec.Channels, spec.Height, spec.Width));
        var builder = new GraphBuilder(graph);
        string x = InputName;
        for (int i = 0; i < spec.Layers.Count; i++)
        {
            x = ExportLayer(builder, spec.Layers[i], network.Layer(i), x, $"l{i}");
        }
        var renamed = graph.Node.Last(n => n.Output.Contains(x));
        renamed.Output[renamed.Output.IndexOf(x)] = OutputName;
        graph.Output.Add(TensorValue(OutputName, TensorProto.Types.DataType.Float, "batch", spec.Classes));

        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "RobustEval.Trainer",
            ProducerVersion = TrainerInfo.Version,
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        OnnxFiles.WriteCard(model, card);
        return model;
    }

    private static string ExportLayer(GraphBuilder b, LayerSpec layer, TorchSharp.torch.nn.Module module, string x, string name)
    {
        switch (layer)
        {
            case StandardizeSpec s:
            {
                var standardize = (Standardize)module;
                var mean = b.Initializer($"{name}.mean", Values(standardize.Mean), 1, s.Channels, 1, 1);
                var std = b.Initializer($"{name}.std", Values(standardize.Std), 1, s.Channels, 1, 1);
                var centred = b.Add("Sub", [x, mean], $"{name}.centred");
                return b.Add("Div", [centred, std], $"{name}.standardized");
            }
            case ConvSpec c:
            {
                var conv = (Conv2d)module;
                var weight = b.Initializer($"{name}.weight", Values(conv.weight!), c.OutChannels, c.InChannels, c.Kernel, c.Kernel);
                var bias = b.Initializer($"{name}.bias", Values(conv.bias!), c.OutChannels);
                return b.Add("Conv", [x, weight, bias], name,
                    Attr("kernel_shape", [c.Kernel, c.Kernel]),
                    Attr("strides", [c.Stride, c.Stride]),
                    Attr("pads", [c.Padding, c.Padding, c.Padding, c.Padding]),
                    Attr("dilations", [1L, 1L]),
                    Attr("group", 1L));
            }
            case BatchNormSpec n:
            {
                var norm = (NormBase)module;
                var scale = b.Initializer($"{name}.weight", Values(norm.weight!), n.Features);
                var shift = b.Initializer($"{name}.bias", Values(norm.bias!), n.Features);
                var mean = b.Initializer($"{name}.running_mean", Values(norm.running_mean!), n.Features);
                var variance = b.Initializer($"{name}.running_var", Values(norm.running_var!), n.Features);
                return b.Add("BatchNormalization", [x, scale, shift, mean, variance], name, Attr("epsilon", (float)n.Eps));
            }
            case ReluSpec:
                return b.Add("Relu", [x], name);
            case MaxPoolSpec m:
                return b.Add("MaxPool", [x], name,
                    Attr("kernel_shape", [m.Kernel, m.Kernel]),
                    Attr("strides", [m.Stride, m.Stride]),
                    Attr("pads", [0L, 0L, 0L, 0L]));
            case DropoutSpec:
                return x;
            case FlattenSpec:
                return b.Add("Flatten", [x], name, Attr("axis", 1L));
            case LinearSpec l:
            {
                var linear = (Linear)module;
                var weight = b.Initializer($"{name}.weight", Values(linear.weight!), l.OutFeatures, l.InFeatures);
                var bias = b.Initializer($"{name}.bias", Values(linear.bias!), l.OutFeatures);
                return b.Add("Gemm", [x, weight, bias], name, Attr("transB", 1L));
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(layer), layer.GetType().Name);
        }
    }

    private static float[] Values(Tensor tensor)
    {
        using var cpu = tensor.detach().cpu().contiguous();
        return cpu.data<float>().ToArray();
    }
}
