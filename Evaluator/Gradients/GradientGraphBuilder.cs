using RobustEval.Evaluator.Classifiers;
using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Gradients;

/// <summary>
/// Builds, from a <see cref="Classifier"/>'s own graph, an ONNX model that computes the logits, the objective and
/// its gradient with respect to the pixels — reverse-mode differentiation written out in standard ONNX ops, so
/// plain ONNX Runtime (no training build) runs it. Only the nodes on a path from the pixels to the logits are
/// differentiated; shape arithmetic and constants stay as they are. Where a tensor feeds several nodes, the
/// gradients reaching it are summed.
/// </summary>
internal static class GradientGraphBuilder
{
    public const string LogitsName = "robusteval/logits";
    public const string GradientName = "robusteval/grad";

    /// <summary>
    /// The nodes on a pixels-to-logits path that have no backward rule, as "OpType (node name)"; empty when the
    /// model can be differentiated. Checked before anything runs.
    /// </summary>
    public static IReadOnlyList<string> Unsupported(GraphProto graph, string pixels, string logits)
    {
        var path = PathNodes(graph, pixels, logits, types: null);
        return path.Where(n => BackwardRules.For(n) is null)
            .Select(n => $"{(n.Domain is "" or "ai.onnx" ? "" : n.Domain + ".")}{n.OpType} ({(n.Name.Length > 0 ? n.Name : n.Output[0])})")
            .ToList();
    }

    /// <summary>The classifier's gradient graph for <paramref name="loss"/> (inputs: pixels, labels and, for a targeted loss, targets).</summary>
    public static ModelProto Build(Classifier classifier, Loss loss) =>
        Build(classifier.Model, Classifier.PixelsName, classifier.LogitsName, classifier.Tensors, classifier.Classes,
            classifier.FixedBatch, loss.CreateObjective());

    public static ModelProto Build(ModelProto forward, string pixels, string logits, IReadOnlyDictionary<string, TensorInfo> tensors,
        long classes, long? fixedBatch, Objective objective)
    {
        var unsupported = Unsupported(forward.Graph, pixels, logits);
        if (unsupported.Count > 0)
        {
            throw new GradientException($"no gradient rule for {string.Join(", ", unsupported)}");
        }
        var model = forward.Clone();
        var graph = model.Graph;
        long opset = OnnxFiles.DefaultOpset(model);
        tensors = WithPixels(tensors, graph, pixels);
        ForwardRewrites.CropDeadTaps(graph, tensors);
        tensors = ForwardRewrites.SmallConvsAsGemm(graph, tensors);
        tensors = ForwardRewrites.SwapReluAndMaxPool(graph, tensors);
        tensors = ForwardRewrites.FuseThinConvAndTilingMaxPool(graph, tensors);
        var context = new GradientContext(graph, tensors, opset);
        var path = PathNodes(graph, pixels, logits, tensors);
        foreach (var node in path)
        {
            if (BackwardRules.For(node)!.Check(node, context) is { } problem)
            {
                throw new GradientException($"{node.OpType} node '{node.Name}': {problem}");
            }
        }

        object batchDim = fixedBatch is { } b ? b : "batch";
        graph.Output.Clear();
        var seed = objective.Seed(context, graph, logits, classes, batchDim);
        var dependent = Dependent(graph, pixels, tensors);
        var gradients = new Dictionary<string, List<string>>(StringComparer.Ordinal) { [logits] = [seed] };
        foreach (var node in Enumerable.Reverse(path))
        {
            var outputGradients = node.Output.Select(o => Total(context, gradients, o)).ToArray();
            if (outputGradients.All(g => g is null))
            {
                continue;
            }
            var wanted = node.Input.Select(i => i.Length > 0 && dependent.Contains(i)).ToArray();
            var inputGradients = BackwardRules.For(node)!.Backward(node, outputGradients, wanted, context);
            for (int i = 0; i < node.Input.Count; i++)
            {
                if (wanted[i] && (i >= inputGradients.Length || inputGradients[i] is null))
                {
                    // A rule that computes no gradient for an input the loss depends on would make it silently zero.
                    throw new GradientException(
                        $"{node.OpType} node '{node.Name}': its input {i} ('{node.Input[i]}') depends on the pixels, and the rule has no gradient for it");
                }
                if (wanted[i] && inputGradients[i] is { } g)
                {
                    if (!gradients.TryGetValue(node.Input[i], out var list))
                    {
                        gradients[node.Input[i]] = list = [];
                    }
                    list.Add(g);
                }
            }
        }
        var pixelGradient = Total(context, gradients, pixels) ?? context.ZerosLike(pixels);
        context.Op("Identity", [pixelGradient]);
        context.BackwardNodes[^1].Output[0] = GradientName;
        context.Op("Identity", [logits]);
        context.BackwardNodes[^1].Output[0] = LogitsName;

        graph.Node.AddRange(context.BackwardNodes);
        var pixelInfo = graph.Input.First(i => i.Name == pixels).Type.TensorType.Shape.Dim;
        graph.Output.Insert(0, classes > 0
            ? TensorValue(LogitsName, TensorProto.Types.DataType.Float, batchDim, classes)
            : new ValueInfoProto { Name = LogitsName, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } } });
        graph.Output.Add(TensorValue(GradientName, TensorProto.Types.DataType.Float,
            [batchDim, .. pixelInfo.Skip(1).Select(d => (object)d.DimValue)]));
        model.ProducerName = "RobustEval.Evaluator gradient graph";
        return model;
    }

    /// <summary>The sum of the gradients that reached <paramref name="tensor"/> (one Sum node when several did).</summary>
    private static string? Total(GradientContext context, Dictionary<string, List<string>> gradients, string tensor)
    {
        if (!gradients.TryGetValue(tensor, out var list) || list.Count == 0)
        {
            return null;
        }
        if (list.Count > 1)
        {
            var sum = context.Op("Sum", list);
            list.Clear();
            list.Add(sum);
        }
        return list[0];
    }

    /// <summary>Float tensors whose value depends on the pixels (through any chain of nodes).</summary>
    private static HashSet<string> Dependent(GraphProto graph, string pixels, IReadOnlyDictionary<string, TensorInfo>? types)
    {
        var dependent = new HashSet<string>(StringComparer.Ordinal) { pixels };
        foreach (var node in graph.Node)
        {
            if (BackwardRules.PassesNoGradient(node) || !node.Input.Any(dependent.Contains))
            {
                continue;
            }
            foreach (var output in node.Output)
            {
                // Integer and boolean results (comparisons, indices, shapes) carry no gradient.
                if (output.Length > 0 && (types is null || !types.TryGetValue(output, out var info) || info.Type == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float))
                {
                    dependent.Add(output);
                }
            }
        }
        return dependent;
    }

    /// <summary>The nodes, in graph order, that are reached from the pixels and lead to the logits.</summary>
    private static List<NodeProto> PathNodes(GraphProto graph, string pixels, string logits, IReadOnlyDictionary<string, TensorInfo>? types)
    {
        var dependent = Dependent(graph, pixels, types);
        var needed = new HashSet<string>(StringComparer.Ordinal) { logits };
        var path = new List<NodeProto>();
        foreach (var node in Enumerable.Reverse(graph.Node))
        {
            if (!node.Output.Any(needed.Contains) || !node.Input.Any(dependent.Contains) || BackwardRules.PassesNoGradient(node))
            {
                continue;
            }
            path.Add(node);
            foreach (var input in node.Input.Where(dependent.Contains))
            {
                needed.Add(input);
            }
        }
        path.Reverse();
        return path;
    }

    internal static IReadOnlyDictionary<string, TensorInfo> WithPixels(IReadOnlyDictionary<string, TensorInfo> tensors, GraphProto graph, string pixels)
    {
        if (tensors.ContainsKey(pixels))
        {
            return tensors;
        }
        var dims = graph.Input.First(i => i.Name == pixels).Type.TensorType.Shape.Dim;
        bool dynamicBatch = dims[0].ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue;
        var info = new TensorInfo(
            dims.Select((d, i) => i == 0 && dynamicBatch ? 2 : d.DimValue).ToArray(),
            dims.Select((_, i) => i == 0 && dynamicBatch).ToArray(),
            Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float, null, null);
        return new Dictionary<string, TensorInfo>(tensors, StringComparer.Ordinal) { [pixels] = info };
    }
}
