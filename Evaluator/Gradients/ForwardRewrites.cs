using RobustEval.Evaluator.Classifiers;

namespace RobustEval.Evaluator.Gradients;

/// <summary>
/// Rewrites of the forward graph that leave every output unchanged but make the gradient graph cheaper.
/// </summary>
internal static class ForwardRewrites
{
    /// <summary>
    /// Relu → MaxPool becomes MaxPool → Relu: max and relu commute (relu is monotone), so the pooled values are the
    /// same, and with PyTorch's convention that relu's gradient at 0 is 0 the input gradients are the same too — but
    /// the backward Relu mask then covers the pooled tensor (a quarter to a ninth of the size) instead of the
    /// full activation map. Applies when the Relu's output feeds only that MaxPool (and is not a graph output).
    /// Returns the shape table extended with the tensors the rewrite creates.
    /// </summary>
    public static IReadOnlyDictionary<string, TensorInfo> SwapReluAndMaxPool(GraphProto graph, IReadOnlyDictionary<string, TensorInfo> tensors)
    {
        var consumers = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var input in graph.Node.SelectMany(n => n.Input))
        {
            consumers[input] = consumers.GetValueOrDefault(input) + 1;
        }
        var outputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var producers = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < graph.Node.Count; i++)
        {
            foreach (var output in graph.Node[i].Output)
            {
                producers[output] = i;
            }
        }
        var extended = new Dictionary<string, TensorInfo>(tensors, StringComparer.Ordinal);
        var builder = new GraphBuilder(graph, "rewrite/");
        for (int p = 0; p < graph.Node.Count; p++)
        {
            var pool = graph.Node[p];
            if (pool.OpType != "MaxPool" || pool.Domain is not ("" or "ai.onnx") || pool.Output.Count != 1
                || !producers.TryGetValue(pool.Input[0], out int r))
            {
                continue;
            }
            var relu = graph.Node[r];
            var activation = relu.Output[0];
            if (relu.OpType != "Relu" || relu.Domain is not ("" or "ai.onnx") || consumers.GetValueOrDefault(activation) != 1 || outputs.Contains(activation)
                || !tensors.TryGetValue(pool.Output[0], out var pooledInfo))
            {
                continue;
            }
            var pooled = builder.Fresh(pool.Output[0] + ".before_relu");
            var result = pool.Output[0];
            pool.Input[0] = relu.Input[0];
            pool.Output[0] = pooled;
            relu.Input[0] = pooled;
            relu.Output[0] = result;
            // The Relu now reads the pool's output, so it must come after it.
            graph.Node.RemoveAt(r);
            graph.Node.Insert(p, relu);
            extended[pooled] = pooledInfo;
        }
        return extended;
    }
}
