using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Gradients.Rules;

/// <summary>Add, Sub, Mul, Div with numpy broadcasting: each operand's gradient summed back to its own shape.</summary>
internal sealed class ArithmeticRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["Add", "Sub", "Mul", "Div"];

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var dy = dOut[0]!;
        var (a, b, y) = (node.Input[0], node.Input[1], node.Output[0]);
        var result = new string?[2];
        switch (node.OpType)
        {
            case "Add":
                result[0] = wanted[0] ? c.Unbroadcast(dy, y, a) : null;
                result[1] = wanted[1] ? c.Unbroadcast(dy, y, b) : null;
                break;
            case "Sub":
                result[0] = wanted[0] ? c.Unbroadcast(dy, y, a) : null;
                result[1] = wanted[1] ? c.Unbroadcast(c.Neg(dy), y, b) : null;
                break;
            case "Mul":
                result[0] = wanted[0] ? c.Unbroadcast(c.Mul(dy, b), y, a) : null;
                result[1] = wanted[1] ? c.Unbroadcast(c.Mul(dy, a), y, b) : null;
                break;
            default:
                // y = a / b: ∂y/∂a = 1/b, ∂y/∂b = −a/b² = −y/b.
                result[0] = wanted[0] ? c.Unbroadcast(c.Div(dy, b), y, a) : null;
                result[1] = wanted[1] ? c.Unbroadcast(c.Neg(c.Div(c.Mul(dy, y), b)), y, b) : null;
                break;
        }
        return result;
    }
}

/// <summary>
/// Identity-like nodes: Identity, float-to-float Cast and Dropout in inference mode — every form: opset 7–11 with a
/// ratio attribute, 12+ with ratio and training_mode inputs (loading replaces Dropout by Identity anyway; the rule
/// serves graphs differentiated as they are).
/// </summary>
internal sealed class PassThroughRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["Identity", "Cast", "Dropout"];

    public string? Check(NodeProto node, GradientContext c) => node.OpType switch
    {
        "Cast" when GradientContext.Int(node, "to", 0) != (long)TensorProto.Types.DataType.Float => "Cast to a non-float type has no gradient",
        "Dropout" when node.Input.Count > 2 && node.Input[2].Length > 0 && c.Ints(node.Input[2]) is not [0] =>
            "Dropout in training mode (random masks) has no rule; RobustEval evaluates models in inference mode",
        _ => null,
    };

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c) => [dOut[0]];
}

/// <summary>Activations whose derivative is a mask or a simple function of the input or output.</summary>
internal sealed class ActivationRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes =>
        ["Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Clip", "Neg", "Exp", "Log", "Sqrt", "Erf", "Reciprocal", "Abs"];

    public string? Check(NodeProto node, GradientContext c) =>
        node.OpType == "Clip" && ((node.Input.Count > 1 && node.Input[1].Length > 0 && c.Floats(node.Input[1]) is null)
            || (node.Input.Count > 2 && node.Input[2].Length > 0 && c.Floats(node.Input[2]) is null))
            ? "Clip bounds that depend on the input are not supported"
            : null;

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var dy = dOut[0]!;
        var x = node.Input[0];
        var y = node.Output[0];
        var zero = c.Scalar(0f);
        string dx = node.OpType switch
        {
            // PyTorch's convention at the kink: the gradient of max(x, 0) at 0 is 0. The mask is read from the output
            // (y > 0 exactly where x > 0), so the producer of x keeps a single consumer and ONNX Runtime can still
            // fuse it with the activation (Conv + Relu).
            // Ceil(Clip(y, max 1)) is 1 where y > 0 and 0 where y = 0: two vectorised passes (ORT's Min with a scalar
            // costs 3–4× its Clip; Sign is not vectorised; bench/NOTES.md).
            "Relu" => c.Mul(dy, c.Op("Ceil", [c.Op("Clip", [y, "", c.Scalar(1f)])])),
            "LeakyRelu" => LeakyRelu(node, dy, x, y, c),
            "PRelu" => c.Where(c.Op("Greater", [x, zero]), dy, c.Mul(dy, node.Input[1])),
            "Sigmoid" => c.Mul(dy, c.Mul(y, c.Sub(c.Scalar(1f), y))),
            "Tanh" => c.Mul(dy, c.Sub(c.Scalar(1f), c.Mul(y, y))),
            "HardSigmoid" => HardSigmoid(node, dy, x, c),
            "HardSwish" => HardSwish(dy, x, c),
            "Clip" => Clip(node, dy, x, c),
            "Neg" => c.Neg(dy),
            "Exp" => c.Mul(dy, y),
            "Log" => c.Div(dy, x),
            "Sqrt" => c.Div(dy, c.Mul(y, c.Scalar(2f))),
            // d erf(x)/dx = 2/√π · exp(−x²)
            "Erf" => c.Mul(dy, c.Mul(c.Scalar((float)(2 / Math.Sqrt(Math.PI))), c.Op("Exp", [c.Neg(c.Mul(x, x))]))),
            "Reciprocal" => c.Neg(c.Mul(dy, c.Mul(y, y))),
            _ => c.Mul(dy, c.Op("Sign", [x])),
        };
        var result = new string?[node.Input.Count];
        result[0] = dx;
        return result;
    }

    private static string LeakyRelu(NodeProto node, string dy, string x, string y, GradientContext c)
    {
        float alpha = GradientContext.Float(node, "alpha", 0.01f);
        // With a non-negative slope y > 0 exactly where x > 0; a negative slope needs x itself.
        var positive = c.Op("Greater", [alpha >= 0 ? y : x, c.Scalar(0f)]);
        return c.Where(positive, dy, c.Mul(dy, c.Scalar(alpha)));
    }

    // y = max(0, min(1, αx + β)): slope α strictly inside the ramp, 0 on the flat parts.
    private static string HardSigmoid(NodeProto node, string dy, string x, GradientContext c)
    {
        float alpha = GradientContext.Float(node, "alpha", 0.2f);
        float beta = GradientContext.Float(node, "beta", 0.5f);
        var z = c.Add(c.Mul(x, c.Scalar(alpha)), c.Scalar(beta));
        var inside = c.Op("And", [c.Op("Greater", [z, c.Scalar(0f)]), c.Op("Less", [z, c.Scalar(1f)])]);
        return c.Where(inside, c.Mul(dy, c.Scalar(alpha)), c.Scalar(0f));
    }

    // y = x · max(0, min(1, x/6 + 1/2)): 0 below −3, 1 above 3, x/3 + 1/2 between (PyTorch's convention at ±3).
    private static string HardSwish(string dy, string x, GradientContext c)
    {
        var ramp = c.Add(c.Div(x, c.Scalar(3f)), c.Scalar(0.5f));
        var slope = c.Where(c.Op("Less", [x, c.Scalar(-3f)]), c.Scalar(0f),
            c.Where(c.Op("LessOrEqual", [x, c.Scalar(3f)]), ramp, c.Scalar(1f)));
        return c.Mul(dy, slope);
    }

    // The gradient passes where min ≤ x ≤ max (PyTorch's clamp convention: bounds included), which is exactly where
    // the output equals the input: Equal(x, y) needs no comparison per bound, and Cast + Mul run several times faster
    // in ONNX Runtime than Where (measured on mobilenet_v2's ReLU6, bench/NOTES.md). A NaN input gets 0, as before.
    private static string Clip(NodeProto node, string dy, string x, GradientContext c)
    {
        bool bounded = (node.Input.Count > 1 && node.Input[1].Length > 0) || (node.Input.Count > 2 && node.Input[2].Length > 0);
        return bounded ? c.Mul(dy, c.Op("Cast", [c.Op("Equal", [x, node.Output[0]])], Attr("to", (long)TensorProto.Types.DataType.Float))) : dy;
    }
}

/// <summary>Softmax and LogSoftmax along one axis (opset ≥ 13 semantics; older models are rewritten on loading).</summary>
internal sealed class SoftmaxRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["Softmax", "LogSoftmax"];

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var dy = dOut[0]!;
        var y = node.Output[0];
        int axis = GradientContext.Axis(GradientContext.Int(node, "axis", -1), c.Info(y).Rank);
        string dx = node.OpType == "Softmax"
            // dx = y ⊙ (dy − Σ dy ⊙ y)
            ? c.Mul(y, c.Sub(dy, c.ReduceSum(c.Mul(dy, y), [axis], keepDims: true)))
            // dx = dy − exp(y) ⊙ Σ dy
            : c.Sub(dy, c.Mul(c.Op("Exp", [y]), c.ReduceSum(dy, [axis], keepDims: true)));
        return [dx];
    }
}
