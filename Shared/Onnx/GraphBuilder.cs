using Google.Protobuf;

namespace RobustEval.Onnx;

/// <summary>
/// Appends nodes and initializers to a <see cref="GraphProto"/> with unique, readable tensor names. Both the
/// trainer's exporter and the evaluator's gradient-graph builder write graphs through it.
/// </summary>
internal sealed class GraphBuilder
{
    private readonly HashSet<string> _names;
    private int _counter;

    public GraphBuilder(GraphProto graph, string prefix = "")
    {
        Graph = graph;
        Prefix = prefix;
        _names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in graph.Input.Select(i => i.Name)
            .Concat(graph.Initializer.Select(i => i.Name))
            .Concat(graph.Node.SelectMany(n => n.Output))
            .Concat(graph.Node.Select(n => n.Name))
            .Concat(graph.Output.Select(o => o.Name)))
        {
            _names.Add(name);
        }
    }

    public GraphProto Graph { get; }

    /// <summary>Prefix of every name this builder creates (e.g. "grad/"), so added names never clash with the model's.</summary>
    public string Prefix { get; }

    /// <summary>A name not used anywhere in the graph yet (as a tensor or a node).</summary>
    public string Fresh(string hint)
    {
        var candidate = Prefix + hint;
        while (!_names.Add(candidate))
        {
            candidate = $"{Prefix}{hint}_{++_counter}";
        }
        return candidate;
    }

    /// <summary>Adds a node with one output and returns the output's name.</summary>
    public string Add(string opType, IEnumerable<string> inputs, string? outputHint = null, params AttributeProto[] attributes) =>
        AddMulti(opType, inputs, [outputHint ?? opType], attributes)[0];

    /// <summary>Adds a node with several outputs (null hints leave an output unused: empty name).</summary>
    public string[] AddMulti(string opType, IEnumerable<string> inputs, IReadOnlyList<string?> outputHints, params AttributeProto[] attributes)
    {
        var outputs = outputHints.Select(h => h is null ? "" : Fresh(h)).ToArray();
        Graph.Node.Add(Node(opType, inputs, outputs, attributes));
        return outputs;
    }

    /// <summary>A node with a fresh name and the given (already named) outputs, not yet placed in the graph.</summary>
    public NodeProto Node(string opType, IEnumerable<string> inputs, IEnumerable<string> outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Fresh("node/" + opType) };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        return node;
    }

    public string Initializer(string hint, ReadOnlySpan<float> values, params long[] dims)
    {
        var name = Fresh(hint);
        Graph.Initializer.Add(OnnxTensors.Float(name, values, dims));
        return name;
    }

    public string Initializer(string hint, ReadOnlySpan<long> values, params long[] dims)
    {
        var name = Fresh(hint);
        Graph.Initializer.Add(OnnxTensors.Int64(name, values, dims));
        return name;
    }

    /// <summary>A 1-D int64 constant (axes, shapes, pads …).</summary>
    public string Ints(string hint, params long[] values) => Initializer(hint, values, values.Length);

    /// <summary>A scalar float constant.</summary>
    public string Scalar(string hint, float value) => Initializer(hint, [value]);

    public static AttributeProto Attr(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Attr(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Attr(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto Attr(string name, IEnumerable<long> values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    public static AttributeProto Attr(string name, TensorProto value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Tensor, T = value };

    /// <summary>A graph input or output: a float or int64 tensor whose dims are numbers or symbolic names.</summary>
    public static ValueInfoProto TensorValue(string name, TensorProto.Types.DataType type, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            shape.Dim.Add(d is string symbol
                ? new TensorShapeProto.Types.Dimension { DimParam = symbol }
                : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d, System.Globalization.CultureInfo.InvariantCulture) });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
