using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Classifiers;

/// <summary>
/// Raises a model's ai.onnx operator set to <see cref="TargetOpset"/> (17) when it is older, because the gradient
/// graph needs ScatterElements with reduction="add" (opset 16) and the input forms of axes and splits (13).
/// Ops whose semantics changed in between are rewritten into their opset-17 form; ops whose semantics we do not
/// know to be unchanged are refused with their name, rather than silently reinterpreted. Dropout is always
/// replaced by Identity: attacks evaluate models in inference mode.
/// </summary>
internal static class OpsetUpgrade
{
    public const long TargetOpset = 17;

    /// <summary>Below opset 7, Add/Mul/… used "legacy" broadcasting with axis attributes.</summary>
    public const long MinimumOpset = 7;

    /// <summary>Default-domain ops whose inference semantics are the same from opset 7 to 17.</summary>
    private static readonly HashSet<string> Unchanged = new(StringComparer.Ordinal)
    {
        "Abs", "Acos", "Acosh", "Add", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan", "Atanh", "AveragePool", "Cast", "Ceil",
        "Concat", "Constant", "ConstantOfShape", "Conv", "ConvTranspose", "Cos", "Cosh", "CumSum", "DepthToSpace", "Div", "Einsum",
        "Elu", "Equal", "Erf", "Exp", "Expand", "EyeLike", "Flatten", "Floor", "Gather", "GatherElements", "GatherND", "Gemm",
        "GlobalAveragePool", "GlobalLpPool", "GlobalMaxPool", "Greater", "GreaterOrEqual", "HardSigmoid", "HardSwish", "Identity",
        "InstanceNormalization", "IsInf", "IsNaN", "LRN", "LeakyRelu", "Less", "LessOrEqual", "Log", "MatMul", "Max", "MaxPool",
        "Mean", "Min", "Mod", "Mul", "Neg", "NonZero", "Not", "OneHot", "Or", "PRelu", "Pow", "Range", "Reciprocal", "ReduceL1",
        "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSumSquare",
        "Relu", "Reshape", "Round", "ScatterElements", "ScatterND", "Selu", "Shape", "Sigmoid", "Sign", "Sin", "Sinh", "Size",
        "Softplus", "Softsign", "SpaceToDepth", "Sqrt", "Sub", "Sum", "Tan", "Tanh", "Tile", "Transpose", "Trilu", "Where", "Xor",
        "Celu", "Mish", "Shrink", "ThresholdedRelu", "MeanVarianceNormalization", "LpNormalization", "Dropout", "LpPool",
    };

    /// <summary>Upgrades in place; returns a note per kind of rewrite made (empty when nothing changed).</summary>
    public static IReadOnlyList<string> Apply(ModelProto model)
    {
        var notes = new List<string>();
        var graph = model.Graph;
        long opset = OnnxFiles.DefaultOpset(model);
        ReplaceDropout(graph, notes);
        if (opset >= TargetOpset)
        {
            return notes;
        }
        if (opset < MinimumOpset)
        {
            throw new UserErrorException(
                $"the model uses ai.onnx opset {opset}; RobustEval reads opset {MinimumOpset} and newer (older files use legacy broadcasting)");
        }
        var builder = new GraphBuilder(graph, "upgrade/");
        var consumers = graph.Node.SelectMany(n => n.Input).Concat(graph.Output.Select(o => o.Name)).ToHashSet(StringComparer.Ordinal);
        var rewritten = new List<NodeProto>();
        var refused = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            if (node.Domain is not ("" or "ai.onnx"))
            {
                rewritten.Add(node);
                continue;
            }
            switch (node.OpType)
            {
                case "Squeeze" or "Unsqueeze" or "ReduceSum" when opset < 13:
                    MoveAttributeToInput(builder, node, "axes", index: 1);
                    rewritten.Add(node);
                    break;
                case "Split" when opset < 13:
                    MoveAttributeToInput(builder, node, "split", index: 1);
                    rewritten.Add(node);
                    break;
                case "Clip" when opset < 11:
                    UpgradeClip(builder, node);
                    rewritten.Add(node);
                    break;
                case "Pad" when opset < 11:
                    UpgradePad(builder, node);
                    rewritten.Add(node);
                    break;
                case "Slice" when opset < 10:
                    UpgradeSlice(builder, node);
                    rewritten.Add(node);
                    break;
                case "TopK" when opset < 10:
                    MoveAttributeToInput(builder, node, "k", index: 1);
                    rewritten.Add(node);
                    break;
                case "Softmax" or "LogSoftmax" or "Hardmax" when opset < 13:
                    rewritten.AddRange(UpgradeSoftmax(builder, node));
                    break;
                case "BatchNormalization":
                    UpgradeBatchNorm(node, consumers, opset);
                    rewritten.Add(node);
                    break;
                case "Gemm":
                    RemoveAttribute(node, "broadcast");
                    rewritten.Add(node);
                    break;
                case "Upsample":
                case "Resize" when opset < 11:
                    rewritten.Add(UpgradeUpsample(builder, node));
                    break;
                case "Resize" when opset >= 11:
                case "TopK":
                case "Squeeze" or "Unsqueeze" or "ReduceSum" or "Split" or "Clip" or "Pad" or "Slice" or "Softmax" or "LogSoftmax" or "Hardmax":
                    rewritten.Add(node);
                    break;
                default:
                    if (!Unchanged.Contains(node.OpType))
                    {
                        refused.Add(node.OpType);
                    }
                    rewritten.Add(node);
                    break;
            }
        }
        if (refused.Count > 0)
        {
            throw new UserErrorException(
                $"the model uses opset {opset} and {string.Join(", ", refused)}, whose meaning changed before opset {TargetOpset}; RobustEval cannot raise it safely");
        }
        graph.Node.Clear();
        graph.Node.AddRange(rewritten);
        foreach (var import in model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx"))
        {
            import.Version = TargetOpset;
        }
        if (model.IrVersion < 8)
        {
            model.IrVersion = 8;
        }
        notes.Add($"raised the opset from {opset} to {TargetOpset}");
        return notes;
    }

    private static void ReplaceDropout(GraphProto graph, List<string> notes)
    {
        var used = graph.Node.SelectMany(n => n.Input).Concat(graph.Output.Select(o => o.Name)).ToHashSet(StringComparer.Ordinal);
        bool any = false;
        foreach (var node in graph.Node.Where(n => n.OpType == "Dropout" && n.Domain is "" or "ai.onnx"))
        {
            if (node.Output.Count > 1 && node.Output[1].Length > 0 && used.Contains(node.Output[1]))
            {
                throw new UserErrorException($"Dropout node '{node.Name}' has its mask used by the graph; RobustEval evaluates in inference mode");
            }
            var input = node.Input[0];
            var output = node.Output[0];
            node.OpType = "Identity";
            node.Attribute.Clear();
            node.Input.Clear();
            node.Input.Add(input);
            node.Output.Clear();
            node.Output.Add(output);
            any = true;
        }
        if (any)
        {
            notes.Add("replaced Dropout by Identity (inference mode)");
        }
    }

    /// <summary>
    /// Upsample (opset 7–9) and Resize at opset 10 compute what Resize-11 does with coordinate_transformation_mode
    /// "asymmetric" and nearest_mode "floor"; their scales (an attribute before opset 9) become Resize's third input.
    /// </summary>
    private static NodeProto UpgradeUpsample(GraphBuilder builder, NodeProto node)
    {
        var mode = node.Attribute.FirstOrDefault(a => a.Name == "mode")?.S.ToStringUtf8() ?? "nearest";
        string scales = node.Attribute.FirstOrDefault(a => a.Name == "scales") is { } attribute
            ? builder.Initializer("scales", [.. attribute.Floats], attribute.Floats.Count)
            : node.Input[1];
        var resize = new NodeProto { OpType = "Resize", Name = node.Name, Domain = node.Domain };
        resize.Input.AddRange([node.Input[0], "", scales]);
        resize.Output.Add(node.Output[0]);
        resize.Attribute.AddRange(
        [
            Attr("mode", mode == "bilinear" ? "linear" : mode), Attr("coordinate_transformation_mode", "asymmetric"), Attr("nearest_mode", "floor"),
        ]);
        return resize;
    }

    private static void MoveAttributeToInput(GraphBuilder builder, NodeProto node, string name, int index)
    {
        var attribute = node.Attribute.FirstOrDefault(a => a.Name == name);
        if (attribute is null)
        {
            return;
        }
        long[] values = attribute.Type == AttributeProto.Types.AttributeType.Int ? [attribute.I] : [.. attribute.Ints];
        var constant = builder.Initializer($"{node.Name}.{name}", values, values.Length);
        node.Attribute.Remove(attribute);
        while (node.Input.Count < index)
        {
            node.Input.Add("");
        }
        node.Input.Insert(index, constant);
    }

    private static void UpgradeClip(GraphBuilder builder, NodeProto node)
    {
        var min = node.Attribute.FirstOrDefault(a => a.Name == "min");
        var max = node.Attribute.FirstOrDefault(a => a.Name == "max");
        node.Attribute.Clear();
        node.Input.Add(min is null ? "" : builder.Scalar($"{node.Name}.min", min.F));
        node.Input.Add(max is null ? "" : builder.Scalar($"{node.Name}.max", max.F));
        while (node.Input[^1].Length == 0)
        {
            node.Input.RemoveAt(node.Input.Count - 1);
        }
    }

    private static void UpgradePad(GraphBuilder builder, NodeProto node)
    {
        var pads = node.Attribute.FirstOrDefault(a => a.Name is "pads" or "paddings");
        var value = node.Attribute.FirstOrDefault(a => a.Name == "value");
        var mode = node.Attribute.FirstOrDefault(a => a.Name == "mode");
        node.Attribute.Clear();
        if (mode is not null)
        {
            node.Attribute.Add(mode);
        }
        node.Input.Add(builder.Initializer($"{node.Name}.pads", pads?.Ints.ToArray() ?? [], pads?.Ints.Count ?? 0));
        node.Input.Add(builder.Scalar($"{node.Name}.value", value?.F ?? 0f));
    }

    private static void UpgradeSlice(GraphBuilder builder, NodeProto node)
    {
        long[] Get(string name) => node.Attribute.FirstOrDefault(a => a.Name == name)?.Ints.ToArray() ?? [];
        var starts = Get("starts");
        var ends = Get("ends");
        var axes = Get("axes");
        node.Attribute.Clear();
        node.Input.Add(builder.Initializer($"{node.Name}.starts", starts, starts.Length));
        node.Input.Add(builder.Initializer($"{node.Name}.ends", ends, ends.Length));
        if (axes.Length > 0)
        {
            node.Input.Add(builder.Initializer($"{node.Name}.axes", axes, axes.Length));
        }
    }

    // Before opset 13 these ops flattened the input to 2-D at `axis` (default 1) and normalised each row; from 13
    // on they normalise along `axis` alone. Flatten → op(axis = 1) → Reshape back keeps the old meaning exactly.
    private static IEnumerable<NodeProto> UpgradeSoftmax(GraphBuilder builder, NodeProto node)
    {
        var axisAttribute = node.Attribute.FirstOrDefault(a => a.Name == "axis");
        long axis = axisAttribute?.I ?? 1;
        var input = node.Input[0];
        var output = node.Output[0];
        var shape = builder.Fresh($"{node.Name}.shape");
        var flat = builder.Fresh($"{node.Name}.flat");
        var normalised = builder.Fresh($"{node.Name}.normalised");
        yield return new NodeProto { OpType = "Shape", Name = builder.Fresh("node/Shape"), Input = { input }, Output = { shape } };
        yield return new NodeProto { OpType = "Flatten", Name = builder.Fresh("node/Flatten"), Input = { input }, Output = { flat }, Attribute = { Attr("axis", axis) } };
        node.Attribute.Clear();
        node.Attribute.Add(Attr("axis", 1L));
        node.Input[0] = flat;
        node.Output[0] = normalised;
        yield return node;
        yield return new NodeProto { OpType = "Reshape", Name = builder.Fresh("node/Reshape"), Input = { normalised, shape }, Output = { output } };
    }

    private static void UpgradeBatchNorm(NodeProto node, HashSet<string> consumers, long opset)
    {
        var spatial = node.Attribute.FirstOrDefault(a => a.Name == "spatial");
        if (spatial is not null && spatial.I == 0)
        {
            throw new UserErrorException($"BatchNormalization node '{node.Name}' uses spatial=0 (per-element statistics), which RobustEval does not support");
        }
        var training = node.Attribute.FirstOrDefault(a => a.Name == "training_mode");
        if (training is not null && training.I != 0)
        {
            throw new UserErrorException($"BatchNormalization node '{node.Name}' is in training mode; export the model for inference");
        }
        if (opset >= TargetOpset)
        {
            return;
        }
        foreach (var name in new[] { "spatial", "is_test", "consumed_inputs" })
        {
            RemoveAttribute(node, name);
        }
        for (int i = node.Output.Count - 1; i >= 1; i--)
        {
            if (node.Output[i].Length > 0 && consumers.Contains(node.Output[i]))
            {
                throw new UserErrorException($"BatchNormalization node '{node.Name}' has its running statistics used by the graph (training mode)");
            }
            node.Output.RemoveAt(i);
        }
    }

    private static void RemoveAttribute(NodeProto node, string name)
    {
        var attribute = node.Attribute.FirstOrDefault(a => a.Name == name);
        if (attribute is not null)
        {
            node.Attribute.Remove(attribute);
        }
    }
}
