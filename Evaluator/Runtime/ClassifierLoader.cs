using Google.Protobuf;
using RobustEval.Data;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Gradients;
using RobustEval.ModelCards;
using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Runtime;

/// <summary>
/// Reads any ONNX image classifier and prepares it for attacks (see <see cref="Classifier"/>): checks the file,
/// resolves external data safely, finds the image input and the logits, puts the preprocessing in front, raises
/// the opset when needed and runs the model once to learn its tensors' shapes.
/// </summary>
public static class ClassifierLoader
{
    /// <summary>Reads and checks an ONNX file: the first step of every command.</summary>
    internal static ModelProto ReadModel(string path)
    {
        var model = OnnxFiles.Load(path);
        ExternalData.Resolve(model, path);
        var problems = OnnxGraphChecker.Check(model);
        if (problems.Count > 0)
        {
            throw new UserErrorException($"{path}: malformed ONNX graph: {string.Join("; ", problems.Take(3))}" +
                (problems.Count > 3 ? $" (and {problems.Count - 3} more)" : ""));
        }
        return model;
    }

    /// <summary>Loads a classifier with the preprocessing its sidecar file or model card describes (none: pixels in [0, 1]).</summary>
    public static Classifier Load(string path, OrtSessions sessions) => Load(path, null, sessions);

    /// <summary>
    /// Loads a classifier. With <paramref name="requireGradients"/>, every op between the input and the logits
    /// must have a backward rule, and the ones that do not are named before the model is run at all.
    /// </summary>
    /// <remarks>
    /// An input whose channel, height or width dims are dynamic takes them from <paramref name="size"/> (from
    /// --input-shape or the data); without one it is refused, saying how to give it.
    /// </remarks>
    public static Classifier Load(string path, Preprocessing? preprocessingOptions, OrtSessions sessions, string? outputName = null,
        bool requireGradients = true, InputSize? size = null, Func<InputSize?>? sizeFromData = null)
    {
        var model = ReadModel(path);
        var card = OnnxFiles.ReadCard(model);
        var preprocessing = Preprocessing.Resolve(path, card, preprocessingOptions);
        var graph = model.Graph;
        long originalOpset = OnnxFiles.DefaultOpset(model);

        var initializers = graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var inputs = graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        if (inputs.Count != 1)
        {
            throw new UserErrorException($"{path}: has {inputs.Count} inputs ({string.Join(", ", inputs.Select(i => i.Name))}); RobustEval attacks image classifiers with one input");
        }
        var input = inputs[0];
        var (dims, fixedBatch) = InputShape(path, input);
        var layout = preprocessing.Layout ?? (dims[3] is 1 or 3 && dims[1] is not (1 or 3) ? ImageLayout.Nhwc : ImageLayout.Nchw);
        if (size is null && dims.Skip(1).Any(d => d == 0))
        {
            size = sizeFromData?.Invoke();
        }
        var (channels, height, width) = ImageSize(path, input.Name, dims, layout, size);
        if (preprocessing.Mean is not null && preprocessing.Mean.Length != channels)
        {
            throw new UserErrorException($"{path}: mean/std have {preprocessing.Mean.Length} values but the model takes {channels} channels");
        }

        if (graph.Output.Count == 0)
        {
            throw new UserErrorException($"{path}: the graph has no outputs");
        }
        var output = outputName is null ? graph.Output[0] : graph.Output.FirstOrDefault(o => o.Name == outputName)
            ?? throw new UserErrorException($"{path}: no output named '{outputName}' (outputs: {string.Join(", ", graph.Output.Select(o => o.Name))})");
        if (output.Type?.TensorType is { } outputType && outputType.ElemType != (int)TensorProto.Types.DataType.Float)
        {
            throw new UserErrorException($"{path}: output '{output.Name}' is not float scores; not a classifier");
        }
        var (logits, stripped) = FindLogits(graph, output.Name);

        var notes = new List<string>();
        if (stripped is not null)
        {
            notes.Add($"the model ends in {stripped}; attacks differentiate its input, the logits (a {stripped} output masks gradients)");
        }
        Wrap(model, input.Name, logits, layout, preprocessing, channels, height, width);
        notes.AddRange(OpsetUpgrade.Apply(model));
        if (requireGradients && GradientGraphBuilder.Unsupported(model.Graph, Classifier.PixelsName, logits) is { Count: > 0 } unsupported)
        {
            throw new GradientException($"{path}: no gradient rule for {string.Join(", ", unsupported)}");
        }

        AllocationCheck.Check(path, model.Graph);
        long[] pixelDims = [fixedBatch ?? 1, channels, height, width];
        var tensors = ShapeProbe.Run(model, Classifier.PixelsName, pixelDims, fixedBatch, sessions,
            dims.Skip(1).Any(d => d == 0) ? $" (the model's input size is dynamic; it was taken from {(size!.Explicit ? "--input-shape" : "the data")})" : "");
        if (!tensors.TryGetValue(logits, out var logitsInfo) || logitsInfo.Rank != 2 || !logitsInfo.BatchAxes[0] && fixedBatch is null)
        {
            var shape = logitsInfo is null ? "unknown" : string.Join("x", logitsInfo.Dims);
            throw new UserErrorException($"{path}: output '{output.Name}' has shape {shape}; a classifier returns (batch, classes) scores");
        }
        int classes = (int)logitsInfo.Dims[1];
        if (classes < 2)
        {
            throw new UserErrorException($"{path}: the model returns {classes} score per image; RobustEval needs one score per class (at least 2)");
        }
        var classNames = card?.ClassNames is { } names && names.Count == classes
            ? names
            : Enumerable.Range(0, classes).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        if (preprocessing.LabelMap is { } map && map.Any(i => i >= classes))
        {
            throw new UserErrorException($"{path}: the label map names output {map.Max()} but the model has {classes} classes");
        }
        return new Classifier
        {
            Path = path,
            Model = model,
            LogitsName = logits,
            Channels = (int)channels,
            Height = (int)height,
            Width = (int)width,
            Classes = classes,
            FixedBatch = fixedBatch,
            InputLayout = layout,
            StrippedOutputOp = stripped,
            Card = card,
            Preprocessing = preprocessing,
            OutputOption = outputName,
            ClassNames = classNames,
            OriginalOpset = originalOpset,
            Notes = notes,
            Tensors = tensors,
        };
    }

    /// <summary>
    /// The same model and output at the same image size, fed with other <paramref name="preprocessing"/> (for
    /// trying which settings make its clean accuracy sane); loads without requiring gradient rules.
    /// </summary>
    public static Classifier Reload(Classifier classifier, Preprocessing preprocessing, OrtSessions sessions) =>
        Load(classifier.Path, preprocessing, sessions, classifier.OutputOption, requireGradients: false,
            size: new InputSize(classifier.Channels, classifier.Height, classifier.Width, Explicit: true));

    /// <summary>The input's four dims (batch first) and the batch size when it is fixed.</summary>
    private static (long[] Dims, long? FixedBatch) InputShape(string path, ValueInfoProto input)
    {
        var tensorType = input.Type?.TensorType
            ?? throw new UserErrorException($"{path}: input '{input.Name}' is not a tensor; not an image classifier");
        if (tensorType.ElemType != (int)TensorProto.Types.DataType.Float)
        {
            var type = (TensorProto.Types.DataType)tensorType.ElemType;
            throw new UserErrorException($"{path}: input '{input.Name}' is {type}, not float; RobustEval attacks models that take float images");
        }
        var shape = tensorType.Shape?.Dim;
        if (shape is null || shape.Count != 4)
        {
            throw new UserErrorException($"{path}: input '{input.Name}' has {(shape is null ? "no declared shape" : $"rank {shape.Count}")}; image classifiers take (batch, C, H, W) or (batch, H, W, C)");
        }
        // Dynamic dims (a dim_param, no value, or a value below 1) are 0 here, filled from the InputSize later.
        var dims = new long[4];
        for (int i = 1; i < 4; i++)
        {
            dims[i] = shape[i].ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && shape[i].DimValue > 0 ? shape[i].DimValue : 0;
        }
        if (dims[1] * dims[2] * dims[3] > Classifiers.InputSize.MaxValues)
        {
            throw new UserErrorException($"{path}: input images of {dims[1]}x{dims[2]}x{dims[3]} values are beyond what RobustEval handles");
        }
        long? fixedBatch = shape[0].ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && shape[0].DimValue > 0
            ? shape[0].DimValue
            : null;
        if (fixedBatch > 4096)
        {
            throw new UserErrorException($"{path}: a fixed batch of {fixedBatch} is beyond what RobustEval handles");
        }
        dims[0] = fixedBatch ?? 1;
        return (dims, fixedBatch);
    }

    /// <summary>
    /// The model's (channels, height, width): its fixed dims, and for the dynamic ones the <paramref name="size"/>
    /// given. An explicit size (--input-shape) must agree with the fixed dims.
    /// </summary>
    private static (long Channels, long Height, long Width) ImageSize(string path, string input, long[] dims, ImageLayout layout, InputSize? size)
    {
        var (channels, height, width) = layout == ImageLayout.Nchw ? (dims[1], dims[2], dims[3]) : (dims[3], dims[1], dims[2]);
        string Declared() => layout == ImageLayout.Nchw
            ? $"NCHW {Dim(channels)}x{Dim(height)}x{Dim(width)}"
            : $"NHWC {Dim(height)}x{Dim(width)}x{Dim(channels)}";
        if (size is { Explicit: true } && ((channels != 0 && channels != size.Channels) || (height != 0 && height != size.Height) || (width != 0 && width != size.Width)))
        {
            throw new UserErrorException($"{path}: --input-shape {size.Channels},{size.Height},{size.Width} contradicts the model's input '{input}' ({Declared()})");
        }
        if (channels != 0 && height != 0 && width != 0)
        {
            return (channels, height, width);
        }
        if (size is null)
        {
            throw new UserErrorException($"{path}: input '{input}' ({Declared()}) has a dynamic image size; give --input-shape C,H,W (commands with data take it from --data)");
        }
        (channels, height, width) = (channels == 0 ? size.Channels : channels, height == 0 ? size.Height : height, width == 0 ? size.Width : width);
        if (channels * height * width > Classifiers.InputSize.MaxValues)
        {
            throw new UserErrorException($"{path}: input images of {channels}x{height}x{width} values are beyond what RobustEval handles");
        }
        return (channels, height, width);

        static string Dim(long d) => d == 0 ? "?" : d.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The logits: the output itself, or the input of a final Softmax/LogSoftmax (through Identity nodes).</summary>
    private static (string Logits, string? Stripped) FindLogits(GraphProto graph, string output)
    {
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var o in node.Output)
            {
                producers[o] = node;
            }
        }
        var current = output;
        while (producers.TryGetValue(current, out var node) && node.Domain is "" or "ai.onnx")
        {
            if (node.OpType == "Identity")
            {
                current = node.Input[0];
                continue;
            }
            if (node.OpType is "Softmax" or "LogSoftmax")
            {
                return (node.Input[0], node.OpType);
            }
            break;
        }
        return (output, null);
    }

    /// <summary>
    /// Puts the preprocessing in front of the model — scale to the input range, subtract the mean, divide by the
    /// std, transpose to NHWC — fed by the new pixels input, and makes the logits the only output.
    /// </summary>
    private static void Wrap(ModelProto model, string input, string logits, ImageLayout layout, Preprocessing p, long channels, long height, long width)
    {
        var graph = model.Graph;
        var originalInput = graph.Input.First(i => i.Name == input);
        graph.Input.Remove(originalInput);
        var batch = originalInput.Type.TensorType.Shape.Dim[0];
        var pixels = TensorValue(Classifier.PixelsName, TensorProto.Types.DataType.Float,
            batch.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && batch.DimValue > 0 ? batch.DimValue : "batch", channels, height, width);
        graph.Input.Insert(0, pixels);

        var builder = new GraphBuilder(graph, "preprocess/");
        var front = new List<NodeProto>();
        string x = Classifier.PixelsName;
        void Emit(string op, string[] inputs, string output, params AttributeProto[] attributes)
        {
            var node = new NodeProto { OpType = op, Name = builder.Fresh("node/" + op) };
            node.Input.AddRange(inputs);
            node.Output.Add(output);
            node.Attribute.AddRange(attributes);
            front.Add(node);
            x = output;
        }
        if (p.InputMax - p.InputMin != 1)
        {
            Emit("Mul", [x, builder.Scalar("scale", p.InputMax - p.InputMin)], builder.Fresh("scaled"));
        }
        if (p.InputMin != 0)
        {
            Emit("Add", [x, builder.Scalar("offset", p.InputMin)], builder.Fresh("shifted"));
        }
        if (p.Mean is not null)
        {
            Emit("Sub", [x, builder.Initializer("mean", p.Mean, 1, channels, 1, 1)], builder.Fresh("centred"));
            Emit("Div", [x, builder.Initializer("std", p.Std!, 1, channels, 1, 1)], builder.Fresh("normalised"));
        }
        if (layout == ImageLayout.Nhwc)
        {
            Emit("Transpose", [x], builder.Fresh("nhwc"), Attr("perm", [0L, 2, 3, 1]));
        }
        if (front.Count == 0)
        {
            Emit("Identity", [x], input);
        }
        else
        {
            front[^1].Output[0] = input;
        }
        for (int i = front.Count - 1; i >= 0; i--)
        {
            graph.Node.Insert(0, front[i]);
        }
        graph.Output.Clear();
        graph.Output.Add(new ValueInfoProto { Name = logits });
    }
}
