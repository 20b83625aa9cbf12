namespace RobustEval.Evaluator.Runtime;

/// <summary>
/// Refuses models whose constant-shaped ops would make ONNX Runtime allocate more than it may. The first run of a
/// model is capped by a shared arena (<see cref="OrtSessions.MemoryCapMegabytes"/>), but ONNX Runtime folds
/// constants while it creates a session, outside that arena — so ConstantOfShape, Expand and Range with constant
/// inputs are sized here, before any session exists.
/// </summary>
internal static class AllocationCheck
{
    public static void Check(string path, GraphProto graph)
    {
        if (OrtSessions.MemoryCapMegabytes <= 0)
        {
            return;
        }
        long capValues = (OrtSessions.MemoryCapMegabytes << 20) / 4;
        var constants = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        long[]? Ints(string name)
        {
            try
            {
                return name.Length > 0 && constants.TryGetValue(name, out var t) ? OnnxTensors.ToInt64s(t) : null;
            }
            catch (InvalidDataException)
            {
                return null;
            }
        }
        foreach (var node in graph.Node.Where(n => n.Domain is "" or "ai.onnx"))
        {
            double values = node.OpType switch
            {
                "ConstantOfShape" when node.Input.Count > 0 && Ints(node.Input[0]) is { } shape => Product(shape),
                "Expand" when node.Input.Count > 1 && Ints(node.Input[1]) is { } shape => Product(shape),
                "Range" when node.Input.Count > 2 && Ints(node.Input[0]) is [var start] && Ints(node.Input[1]) is [var limit]
                    && Ints(node.Input[2]) is [var delta] && delta != 0 => Math.Max(Math.Ceiling(((double)limit - start) / delta), 0),
                _ => 0,
            };
            if (values > capValues)
            {
                throw new UserErrorException(
                    $"{path}: {node.OpType} node '{node.Name}' would create a tensor of {values:G3} values, more than the {OrtSessions.MemoryCapMegabytes:N0} MB " +
                    $"ONNX Runtime may use ({OrtSessions.MemoryVariable} changes that)");
            }
        }
    }

    private static double Product(long[] shape) => shape.Aggregate(1.0, (p, d) => p * Math.Max(d, 1));
}
