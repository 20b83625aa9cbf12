namespace RobustEval.Onnx;

/// <summary>
/// Structural checks of an ONNX graph that every consumer relies on: nodes in topological order (each input
/// produced before it is used), each tensor produced once, graph outputs produced, initializers holding as
/// many values as their dims declare. Sub-graphs (If, Loop, Scan bodies) are checked with their outer scope.
/// </summary>
internal static class OnnxGraphChecker
{
    public static IReadOnlyList<string> Check(ModelProto model)
    {
        var problems = new List<string>();
        if (model.Graph is null)
        {
            problems.Add("the model has no graph");
            return problems;
        }
        if (OnnxFiles.DefaultOpset(model) == 0)
        {
            problems.Add("the model imports no ai.onnx operator set");
        }
        CheckGraph(model.Graph, new HashSet<string>(StringComparer.Ordinal), problems, depth: 0);
        return problems;
    }

    private static void CheckGraph(GraphProto graph, HashSet<string> outer, List<string> problems, int depth)
    {
        if (depth > OnnxFiles.MaxNesting)
        {
            problems.Add($"sub-graphs are nested more than {OnnxFiles.MaxNesting} deep");
            return;
        }
        var known = new HashSet<string>(outer, StringComparer.Ordinal);
        foreach (var initializer in graph.Initializer)
        {
            if (!known.Add(initializer.Name) && !graph.Input.Any(i => i.Name == initializer.Name))
            {
                problems.Add($"initializer '{initializer.Name}' is defined twice");
            }
            CheckTensor(initializer, problems);
        }
        foreach (var input in graph.Input)
        {
            known.Add(input.Name);
        }
        foreach (var node in graph.Node)
        {
            foreach (var input in node.Input)
            {
                if (input.Length > 0 && !known.Contains(input))
                {
                    problems.Add($"node '{node.Name}' ({node.OpType}) uses '{input}' before anything produces it");
                }
            }
            foreach (var attribute in node.Attribute)
            {
                if (attribute.G is not null)
                {
                    CheckGraph(attribute.G, known, problems, depth + 1);
                }
                foreach (var sub in attribute.Graphs)
                {
                    CheckGraph(sub, known, problems, depth + 1);
                }
                if (attribute.T is not null)
                {
                    CheckTensor(attribute.T, problems);
                }
            }
            foreach (var output in node.Output)
            {
                if (output.Length > 0 && !known.Add(output))
                {
                    problems.Add($"'{output}' is produced more than once (node '{node.Name}', {node.OpType})");
                }
            }
        }
        foreach (var output in graph.Output)
        {
            if (!known.Contains(output.Name))
            {
                problems.Add($"graph output '{output.Name}' is never produced");
            }
        }
    }

    private static void CheckTensor(TensorProto tensor, List<string> problems)
    {
        if (tensor.DataLocation == TensorProto.Types.DataLocation.External)
        {
            return;
        }
        try
        {
            long count = OnnxTensors.ElementCount(tensor);
            long held = (TensorProto.Types.DataType)tensor.DataType switch
            {
                _ when !tensor.RawData.IsEmpty => -1,
                TensorProto.Types.DataType.Float => tensor.FloatData.Count,
                TensorProto.Types.DataType.Int64 => tensor.Int64Data.Count,
                TensorProto.Types.DataType.Double => tensor.DoubleData.Count,
                TensorProto.Types.DataType.String => tensor.StringData.Count,
                TensorProto.Types.DataType.Uint64 or TensorProto.Types.DataType.Uint32 => tensor.Uint64Data.Count,
                _ => tensor.Int32Data.Count,
            };
            if (held == -1)
            {
                int size = ElementSize((TensorProto.Types.DataType)tensor.DataType);
                if (size > 0 && tensor.RawData.Length != count * size)
                {
                    problems.Add($"tensor '{tensor.Name}' declares {count} values but holds {tensor.RawData.Length} bytes");
                }
            }
            else if (held != count)
            {
                problems.Add($"tensor '{tensor.Name}' declares {count} values but holds {held}");
            }
        }
        catch (Exception e) when (e is InvalidDataException or OverflowException)
        {
            problems.Add(e.Message);
        }
    }

    /// <summary>Bytes per element of a fixed-size type; 0 for strings and sub-byte types.</summary>
    public static int ElementSize(TensorProto.Types.DataType type) => type switch
    {
        TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Int32 or TensorProto.Types.DataType.Uint32 => 4,
        TensorProto.Types.DataType.Double or TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Uint64
            or TensorProto.Types.DataType.Complex64 => 8,
        TensorProto.Types.DataType.Complex128 => 16,
        TensorProto.Types.DataType.Float16 or TensorProto.Types.DataType.Bfloat16 or TensorProto.Types.DataType.Int16
            or TensorProto.Types.DataType.Uint16 => 2,
        TensorProto.Types.DataType.Int8 or TensorProto.Types.DataType.Uint8 or TensorProto.Types.DataType.Bool
            or TensorProto.Types.DataType.Float8E4M3Fn or TensorProto.Types.DataType.Float8E4M3Fnuz
            or TensorProto.Types.DataType.Float8E5M2 or TensorProto.Types.DataType.Float8E5M2Fnuz => 1,
        _ => 0,
    };
}
