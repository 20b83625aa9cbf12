namespace RobustEval.Evaluator.Gradients.Rules;

/// <summary>
/// Smooth elementwise functions of one input: trigonometric and hyperbolic functions and their inverses, and the
/// exponential-family activations (Elu, Selu, Celu, Softplus, Softsign, Mish, Gelu) plus the piecewise-linear
/// ThresholdedRelu and Shrink. Each derivative is written from the function's definition in the ONNX spec; at a
/// kink the one-sided derivative PyTorch uses is taken (ThresholdedRelu: 0 at x = α; Shrink: 0 at |x| = λ; Elu,
/// Selu and Celu: the x ≤ 0 branch at 0).
/// </summary>
internal sealed class FunctionRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes =>
    [
        "Sin", "Cos", "Tan", "Sinh", "Cosh", "Asin", "Acos", "Atan", "Asinh", "Acosh", "Atanh",
        "Elu", "Selu", "Celu", "Softplus", "Softsign", "Mish", "ThresholdedRelu", "Shrink", "Gelu",
    ];

    public string? Check(NodeProto node, GradientContext c) =>
        node.OpType == "Gelu" && GradientContext.String(node, "approximate") is { } mode && mode is not ("none" or "tanh")
            ? $"Gelu with approximate='{mode}' is not an ONNX mode"
            : null;

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var dy = dOut[0]!;
        var x = node.Input[0];
        var y = node.Output[0];
        var one = c.Scalar(1f);
        string Square(string v) => c.Mul(v, v);
        string Positive() => c.Op("Greater", [x, c.Scalar(0f)]);
        string derivative = node.OpType switch
        {
            "Sin" => c.Op("Cos", [x]),
            "Cos" => c.Neg(c.Op("Sin", [x])),
            "Tan" => c.Add(one, Square(y)),
            "Sinh" => c.Op("Cosh", [x]),
            "Cosh" => c.Op("Sinh", [x]),
            "Asin" => c.Op("Reciprocal", [c.Op("Sqrt", [c.Sub(one, Square(x))])]),
            "Acos" => c.Neg(c.Op("Reciprocal", [c.Op("Sqrt", [c.Sub(one, Square(x))])])),
            "Atan" => c.Op("Reciprocal", [c.Add(one, Square(x))]),
            "Asinh" => c.Op("Reciprocal", [c.Op("Sqrt", [c.Add(Square(x), one)])]),
            "Acosh" => c.Op("Reciprocal", [c.Op("Sqrt", [c.Sub(Square(x), one)])]),
            "Atanh" => c.Op("Reciprocal", [c.Sub(one, Square(x))]),
            // y = α(eˣ − 1) for x ≤ 0, so y' = y + α there.
            "Elu" => c.Where(Positive(), one, c.Add(y, c.Scalar(GradientContext.Float(node, "alpha", 1f)))),
            // y = γα(eˣ − 1) for x ≤ 0: y' = y + γα; γ for x > 0.
            "Selu" => Selu(node, x, y, c),
            // y = α(e^{x/α} − 1) for x ≤ 0: y' = e^{x/α} = y/α + 1.
            "Celu" => c.Where(Positive(), one, c.Add(c.Div(y, c.Scalar(GradientContext.Float(node, "alpha", 1f))), one)),
            "Softplus" => c.Op("Sigmoid", [x]),
            "Softsign" => c.Op("Reciprocal", [Square(c.Add(one, c.Op("Abs", [x])))]),
            "Mish" => Mish(x, c),
            "ThresholdedRelu" => c.FloatOf(c.Op("Greater", [x, c.Scalar(GradientContext.Float(node, "alpha", 1f))])),
            "Shrink" => c.FloatOf(c.Op("Greater", [c.Op("Abs", [x]), c.Scalar(GradientContext.Float(node, "lambd", 0.5f))])),
            _ => GradientContext.String(node, "approximate") == "tanh" ? GeluTanh(x, c) : GeluExact(x, c),
        };
        var result = new string?[node.Input.Count];
        result[0] = c.Mul(dy, derivative);
        return result;
    }

    private static string Selu(NodeProto node, string x, string y, GradientContext c)
    {
        float alpha = GradientContext.Float(node, "alpha", 1.67326319217681884765625f);
        float gamma = GradientContext.Float(node, "gamma", 1.05070102214813232421875f);
        return c.Where(c.Op("Greater", [x, c.Scalar(0f)]), c.Scalar(gamma), c.Add(y, c.Scalar(alpha * gamma)));
    }

    // y = x·tanh(softplus(x)): y' = t + x·(1 − t²)·σ(x), t = tanh(softplus(x)).
    private static string Mish(string x, GradientContext c)
    {
        var t = c.Op("Tanh", [c.Op("Softplus", [x])]);
        return c.Add(t, c.Mul(x, c.Mul(c.Sub(c.Scalar(1f), c.Mul(t, t)), c.Op("Sigmoid", [x]))));
    }

    // y = x·Φ(x): y' = Φ(x) + x·φ(x), Φ(x) = (1 + erf(x/√2))/2, φ(x) = e^{−x²/2}/√(2π).
    private static string GeluExact(string x, GradientContext c)
    {
        var cdf = c.Mul(c.Add(c.Scalar(1f), c.Op("Erf", [c.Mul(x, c.Scalar((float)(1 / Math.Sqrt(2))))])), c.Scalar(0.5f));
        var pdf = c.Mul(c.Op("Exp", [c.Mul(c.Mul(x, x), c.Scalar(-0.5f))]), c.Scalar((float)(1 / Math.Sqrt(2 * Math.PI))));
        return c.Add(cdf, c.Mul(x, pdf));
    }

    // y = x·(1 + tanh(u))/2, u = √(2/π)(x + 0.044715x³): y' = (1 + t)/2 + x(1 − t²)/2 · √(2/π)(1 + 3·0.044715x²).
    private static string GeluTanh(string x, GradientContext c)
    {
        float k = (float)Math.Sqrt(2 / Math.PI);
        var x2 = c.Mul(x, x);
        var u = c.Mul(c.Mul(x, c.Add(c.Scalar(1f), c.Mul(x2, c.Scalar(0.044715f)))), c.Scalar(k));
        var t = c.Op("Tanh", [u]);
        var du = c.Mul(c.Add(c.Scalar(1f), c.Mul(x2, c.Scalar(3 * 0.044715f))), c.Scalar(k));
        var half = c.Scalar(0.5f);
        return c.Add(c.Mul(c.Add(c.Scalar(1f), t), half), c.Mul(c.Mul(c.Mul(x, c.Sub(c.Scalar(1f), c.Mul(t, t))), half), du));
    }
}

/// <summary>
/// Pow (both operands), Mod on floats (fmod = 1, the only float form: a − b·trunc(a/b), slope 1 in a and −trunc(a/b)
/// in b), Where (the gradient goes to the branch each element was taken from) and the variadic Max,
/// Min, Sum and Mean, all with numpy broadcasting. Max and Min split the gradient evenly among the operands that
/// tie for the extreme, as PyTorch's maximum/minimum do for two operands (the ONNX reference defines no gradient).
/// </summary>
internal sealed class CombinationRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["Pow", "Mod", "Where", "Max", "Min", "Sum", "Mean"];

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var dy = dOut[0]!;
        var y = node.Output[0];
        var result = new string?[node.Input.Count];
        switch (node.OpType)
        {
            case "Pow":
            {
                var (a, b) = (node.Input[0], node.Input[1]);
                var exponent = c.Info(b).Type == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float
                    ? b
                    : c.Op("Cast", [b], RobustEval.Onnx.GraphBuilder.Attr("to", (long)TensorProto.Types.DataType.Float));
                if (wanted[0])
                {
                    // ∂aᵇ/∂a = b·a^(b−1); for a constant b = 2 (LayerNorm's variance) this is 2a.
                    var power = c.Floats(b) is [2f] ? a : c.Op("Pow", [a, c.Sub(exponent, c.Scalar(1f))]);
                    result[0] = c.Unbroadcast(c.Mul(dy, c.Mul(exponent, power)), y, a);
                }
                if (wanted[1])
                {
                    // ∂aᵇ/∂b = aᵇ·ln a, taken as 0 where a = 0 (PyTorch's convention; aᵇ·ln a → 0 there for b > 0).
                    var slope = c.Where(c.Op("Equal", [a, c.Scalar(0f)]), c.Scalar(0f), c.Mul(y, c.Op("Log", [a])));
                    result[1] = c.Unbroadcast(c.Mul(dy, slope), y, b);
                }
                break;
            }
            case "Mod":
            {
                var (a, b) = (node.Input[0], node.Input[1]);
                if (wanted[0])
                {
                    result[0] = c.Unbroadcast(dy, y, a);
                }
                if (wanted[1])
                {
                    var ratio = c.Div(a, b);
                    var quotient = c.Mul(c.Op("Sign", [ratio]), c.Op("Floor", [c.Op("Abs", [ratio])]));
                    result[1] = c.Unbroadcast(c.Neg(c.Mul(dy, quotient)), y, b);
                }
                break;
            }
            case "Where":
            {
                var zero = c.Scalar(0f);
                if (wanted[1])
                {
                    result[1] = c.Unbroadcast(c.Where(node.Input[0], dy, zero), y, node.Input[1]);
                }
                if (wanted[2])
                {
                    result[2] = c.Unbroadcast(c.Where(node.Input[0], zero, dy), y, node.Input[2]);
                }
                break;
            }
            case "Sum" or "Mean":
            {
                var share = node.OpType == "Mean" ? c.Div(dy, c.Scalar(node.Input.Count)) : dy;
                for (int i = 0; i < node.Input.Count; i++)
                {
                    result[i] = wanted[i] ? c.Unbroadcast(share, y, node.Input[i]) : null;
                }
                break;
            }
            default:
            {
                if (node.Input.Count == 1)
                {
                    result[0] = dy;
                    break;
                }
                var masks = node.Input.Select(i => c.FloatOf(c.Op("Equal", [i, y]))).ToArray();
                var share = c.Div(dy, masks.Length == 1 ? masks[0] : c.Op("Sum", masks));
                for (int i = 0; i < node.Input.Count; i++)
                {
                    result[i] = wanted[i] ? c.Unbroadcast(c.Mul(share, masks[i]), y, node.Input[i]) : null;
                }
                break;
            }
        }
        return result;
    }
}
