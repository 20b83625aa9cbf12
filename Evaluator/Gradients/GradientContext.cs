using Microsoft.ML.OnnxRuntime.Tensors;
using RobustEval.Evaluator.Classifiers;
using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Gradients;

/// <summary>
/// What a backward rule needs: the graph being extended, every tensor's shape (from the probe) and constant
/// values, and small emitters for the ONNX ops gradients are made of. All names it creates start with "grad/".
/// </summary>
internal sealed class GradientContext
{
    private readonly IReadOnlyDictionary<string, TensorInfo> _tensors;
    private readonly Dictionary<string, TensorProto> _initializers;
    private readonly Dictionary<string, string> _shapes = new(StringComparer.Ordinal);
    private readonly Dictionary<float, string> _scalars = [];
    private readonly Dictionary<string, string> _constants = new(StringComparer.Ordinal);
    private readonly List<NodeProto> _backward = [];

    public GradientContext(GraphProto graph, IReadOnlyDictionary<string, TensorInfo> tensors, long opset)
    {
        Builder = new GraphBuilder(graph, "grad/");
        _tensors = tensors;
        _initializers = graph.Initializer.ToDictionary(i => i.Name, StringComparer.Ordinal);
        Opset = opset;
    }

    public GraphBuilder Builder { get; }

    public long Opset { get; }

    /// <summary>The nodes emitted so far, in order; the builder appends them after the forward graph.</summary>
    public IReadOnlyList<NodeProto> BackwardNodes => _backward;

    public bool Has(string name) => _tensors.ContainsKey(name) || _initializers.ContainsKey(name);

    /// <summary>Shape and type of a tensor: from the probe, or from an initializer's declaration.</summary>
    public TensorInfo Info(string name)
    {
        if (_tensors.TryGetValue(name, out var info))
        {
            return info;
        }
        if (_initializers.TryGetValue(name, out var initializer))
        {
            var dims = initializer.Dims.ToArray();
            var type = (TensorProto.Types.DataType)initializer.DataType;
            return new TensorInfo(dims, new bool[dims.Length],
                type switch
                {
                    TensorProto.Types.DataType.Float => TensorElementType.Float,
                    TensorProto.Types.DataType.Bool => TensorElementType.Bool,
                    _ => TensorElementType.Int64,
                },
                type is TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Int32 or TensorProto.Types.DataType.Bool ? OnnxTensors.ToInt64s(initializer) : null,
                type == TensorProto.Types.DataType.Float ? OnnxTensors.ToFloats(initializer) : null);
        }
        throw new GradientException($"no shape is known for tensor '{name}'");
    }

    /// <summary>The value of a tensor that does not depend on the input (an initializer, a Constant, shape arithmetic).</summary>
    public long[]? Ints(string name) => name.Length == 0 ? null : Has(name) ? Info(name).IntValue : null;

    public float[]? Floats(string name) => name.Length == 0 ? null : Has(name) ? Info(name).FloatValue : null;

    public static long Int(NodeProto node, string attribute, long fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == attribute) is { } a ? a.I : fallback;

    public static float Float(NodeProto node, string attribute, float fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == attribute) is { } a ? a.F : fallback;

    public static long[]? Ints(NodeProto node, string attribute) =>
        node.Attribute.FirstOrDefault(a => a.Name == attribute) is { } a ? [.. a.Ints] : null;

    public static string? String(NodeProto node, string attribute) =>
        node.Attribute.FirstOrDefault(a => a.Name == attribute) is { } a ? a.S.ToStringUtf8() : null;

    /// <summary>Emits one node and returns its (single) output.</summary>
    public string Op(string opType, IEnumerable<string> inputs, params AttributeProto[] attributes)
    {
        var output = Builder.Fresh(opType.ToLowerInvariant());
        var node = new NodeProto { OpType = opType, Name = Builder.Fresh("node/" + opType) };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        _backward.Add(node);
        return output;
    }

    /// <summary>Emits one node with several outputs.</summary>
    public string[] OpMulti(string opType, IEnumerable<string> inputs, int outputs, params AttributeProto[] attributes)
    {
        var names = Enumerable.Range(0, outputs).Select(_ => Builder.Fresh(opType.ToLowerInvariant())).ToArray();
        var node = new NodeProto { OpType = opType, Name = Builder.Fresh("node/" + opType) };
        node.Input.AddRange(inputs);
        node.Output.AddRange(names);
        node.Attribute.AddRange(attributes);
        _backward.Add(node);
        return names;
    }

    public string Scalar(float value)
    {
        if (!_scalars.TryGetValue(value, out var name))
        {
            name = Builder.Scalar("const", value);
            _scalars[value] = name;
        }
        return name;
    }

    /// <summary>A 1-D int64 constant, one initializer per distinct value list.</summary>
    public string Ints1D(params long[] values) =>
        Constant("i:" + string.Join(',', values), () => Builder.Ints("ints", values));

    /// <summary>
    /// A float constant that depends only on its shape and values (Resize scales, masks): one initializer per distinct
    /// pair, however many nodes ask for it.
    /// </summary>
    public string SharedFloats(string name, float[] values, params long[] dims) =>
        Constant($"f:{string.Join(',', dims)}:{string.Join(',', values.Select(v => BitConverter.SingleToInt32Bits(v)))}",
            () => Builder.Initializer(name, values, dims));

    private string Constant(string key, Func<string> create)
    {
        if (!_constants.TryGetValue(key, out var name))
        {
            name = create();
            _constants[key] = name;
        }
        return name;
    }

    public string Add(string a, string b) => Op("Add", [a, b]);

    public string Sub(string a, string b) => Op("Sub", [a, b]);

    public string Mul(string a, string b) => Op("Mul", [a, b]);

    public string Div(string a, string b) => Op("Div", [a, b]);

    public string Neg(string a) => Op("Neg", [a]);

    public string Where(string condition, string a, string b) => Op("Where", [condition, a, b]);

    /// <summary>Shape(x), emitted once per tensor.</summary>
    public string ShapeOf(string x)
    {
        if (!_shapes.TryGetValue(x, out var shape))
        {
            shape = Op("Shape", [x]);
            _shapes[x] = shape;
        }
        return shape;
    }

    /// <summary>Gives <paramref name="g"/> the (dynamic) shape of forward tensor <paramref name="like"/>.</summary>
    public string ReshapeLike(string g, string like) => Op("Reshape", [g, ShapeOf(like)]);

    public string ReduceSum(string x, long[] axes, bool keepDims) =>
        Op("ReduceSum", [x, Ints1D(axes)], Attr("keepdims", keepDims ? 1L : 0L));

    /// <summary>
    /// Any Reduce* op over <paramref name="axes"/> in the form the model's opset wants (axes as an input for
    /// ReduceSum from opset 13 and for every reduction from opset 18; as an attribute before).
    /// </summary>
    public string Reduce(string opType, string x, long[] axes, bool keepDims) =>
        opType == "ReduceSum" || Opset >= 18
            ? Op(opType, [x, Ints1D(axes)], Attr("keepdims", keepDims ? 1L : 0L))
            : Op(opType, [x], Attr("axes", axes), Attr("keepdims", keepDims ? 1L : 0L));

    /// <summary>A boolean tensor as 0/1 floats.</summary>
    public string FloatOf(string condition) => Op("Cast", [condition], Attr("to", (long)TensorProto.Types.DataType.Float));

    public string Transpose(string x, long[] perm) => Op("Transpose", [x], Attr("perm", perm));

    public string Unsqueeze(string x, long[] axes) => Op("Unsqueeze", [x, Ints1D(axes)]);

    /// <summary>Zeros shaped like forward tensor <paramref name="like"/>.</summary>
    public string ZerosLike(string like) =>
        Op("ConstantOfShape", [ShapeOf(like)], Attr("value", OnnxTensors.Float("zero", [0f], 1)));

    /// <summary>
    /// Sums a gradient of the broadcast result <paramref name="result"/> back to the shape of operand
    /// <paramref name="operand"/> (numpy broadcasting): over leading axes the operand lacks and over axes where
    /// it has size 1 and the result does not.
    /// </summary>
    public string Unbroadcast(string gradient, string result, string operand)
    {
        var r = Info(result);
        var o = Info(operand);
        int offset = r.Rank - o.Rank;
        var axes = new List<long>();
        for (int i = 0; i < r.Rank; i++)
        {
            if (i < offset || (o.Dims[i - offset] == 1 && (r.Dims[i] != 1 || (r.BatchAxes[i] && !o.BatchAxes[i - offset]))))
            {
                axes.Add(i);
            }
        }
        if (axes.Count == 0)
        {
            return gradient;
        }
        return ReshapeLike(ReduceSum(gradient, [.. axes], keepDims: true), operand);
    }

    /// <summary>Normalises a possibly negative axis against a rank.</summary>
    public static int Axis(long axis, int rank) => (int)(axis < 0 ? axis + rank : axis);
}

/// <summary>A node the gradient builder cannot differentiate, with the reason.</summary>
internal sealed class GradientException(string message) : UserErrorException(message);
