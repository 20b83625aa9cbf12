using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using RobustEval.Evaluator.Classifiers;

namespace RobustEval.Evaluator.Runtime;

/// <summary>
/// Learns every intermediate tensor's shape by running the model: each node output is made a graph output and
/// the model is run at two batch sizes (1 and 2; only the fixed size for a model whose batch axis is fixed).
/// Axes whose size differs between the runs are batch axes. This works for any model ONNX Runtime can run —
/// including shape arithmetic no static inference understands — and doubles as a check that the model runs.
/// </summary>
internal static class ShapeProbe
{
    private const int MaxConstantElements = 4096;

    /// <summary>The second run's batch size: the shapes kept are this run's.</summary>
    internal const int LargerBatch = 2;

    /// <param name="why">Appended to the error when the model cannot run at this size (where the size came from).</param>
    public static IReadOnlyDictionary<string, TensorInfo> Run(ModelProto model, string input, long[] inputDims, long? fixedBatch,
        OrtSessions sessions, string why = "")
    {
        var probe = model.Clone();
        var graph = probe.Graph;
        var existing = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var output in graph.Node.SelectMany(n => n.Output))
        {
            if (output.Length > 0 && existing.Add(output))
            {
                graph.Output.Add(new ValueInfoProto { Name = output });
            }
        }
        using var session = sessions.Create(probe.ToByteArray(), capped: true);
        var first = Evaluate(session, input, inputDims, fixedBatch ?? 1, seed: 1, why);
        var second = fixedBatch is null ? Evaluate(session, input, inputDims, LargerBatch, seed: 2, why) : first;
        var result = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
        foreach (var (name, b) in second)
        {
            if (!first.TryGetValue(name, out var a))
            {
                continue;
            }
            var batchAxes = new bool[b.Dims.Length];
            bool sameShape = a.Dims.Length == b.Dims.Length;
            for (int i = 0; i < b.Dims.Length; i++)
            {
                batchAxes[i] = !sameShape || a.Dims[i] != b.Dims[i];
            }
            bool constant = sameShape && !batchAxes.Any(x => x)
                && ((a.Ints is not null && b.Ints is not null && a.Ints.SequenceEqual(b.Ints))
                    || (a.Floats is not null && b.Floats is not null && a.Floats.SequenceEqual(b.Floats)));
            result[name] = new TensorInfo(b.Dims, batchAxes, b.Type, constant ? b.Ints : null, constant ? b.Floats : null);
        }
        return result;
    }

    private sealed record Observation(long[] Dims, TensorElementType Type, long[]? Ints, float[]? Floats);

    private static Dictionary<string, Observation> Evaluate(InferenceSession session, string input, long[] inputDims, long batch, int seed, string why)
    {
        var dims = (long[])inputDims.Clone();
        dims[0] = batch;
        var random = new Random(seed);
        var pixels = new float[dims.Aggregate(1L, (x, y) => x * y)];
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (float)random.NextDouble();
        }
        using var value = OrtValue.CreateTensorValueFromMemory(pixels, dims);
        var names = session.OutputNames;
        IDisposableReadOnlyCollection<OrtValue> outputs;
        using var run = new RunOptions();
        try
        {
            outputs = session.Run(run, [input], [value], names);
        }
        catch (OnnxRuntimeException e)
        {
            throw new UserErrorException($"ONNX Runtime cannot run the model on a {string.Join("x", dims)} input: {e.Message.Split('\n')[0]}{OrtSessions.AllocationHint(e, capped: true)}{why}");
        }
        using (outputs)
        {
            var result = new Dictionary<string, Observation>(StringComparer.Ordinal);
            int i = 0;
            foreach (var output in outputs)
            {
                var name = names[i++];
                if (output.OnnxType != OnnxValueType.ONNX_TYPE_TENSOR)
                {
                    continue;
                }
                var info = output.GetTensorTypeAndShape();
                long[] shape = info.Shape;
                long count = info.ElementCount;
                long[]? ints = null;
                float[]? floats = null;
                if (count <= MaxConstantElements)
                {
                    switch (info.ElementDataType)
                    {
                        case TensorElementType.Int64:
                            ints = output.GetTensorDataAsSpan<long>().ToArray();
                            break;
                        case TensorElementType.Int32:
                            ints = output.GetTensorDataAsSpan<int>().ToArray().Select(v => (long)v).ToArray();
                            break;
                        case TensorElementType.Bool:
                            ints = output.GetTensorDataAsSpan<bool>().ToArray().Select(v => v ? 1L : 0L).ToArray();
                            break;
                        case TensorElementType.Float:
                            floats = output.GetTensorDataAsSpan<float>().ToArray();
                            break;
                    }
                }
                result[name] = new Observation(shape, info.ElementDataType, ints, floats);
            }
            return result;
        }
    }
}
