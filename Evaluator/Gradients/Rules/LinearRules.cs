using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Gradients.Rules;

/// <summary>Gemm: Y = α·A′·B′ + β·C with A′, B′ optionally transposed.</summary>
internal sealed class GemmRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["Gemm"];

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var dy = dOut[0]!;
        float alpha = GradientContext.Float(node, "alpha", 1f);
        float beta = GradientContext.Float(node, "beta", 1f);
        long transA = GradientContext.Int(node, "transA", 0);
        long transB = GradientContext.Int(node, "transB", 0);
        var result = new string?[node.Input.Count];
        if (wanted[0])
        {
            // dA′ = α·dY·B′ᵀ, and B′ᵀ is B itself when B was transposed.
            var da = c.Op("Gemm", [dy, node.Input[1]], Attr("alpha", alpha), Attr("transB", 1 - transB));
            result[0] = transA != 0 ? c.Transpose(da, [1, 0]) : da;
        }
        if (wanted[1])
        {
            // dB′ = α·A′ᵀ·dY.
            var db = c.Op("Gemm", [node.Input[0], dy], Attr("alpha", alpha), Attr("transA", 1 - transA));
            result[1] = transB != 0 ? c.Transpose(db, [1, 0]) : db;
        }
        if (node.Input.Count > 2 && wanted[2])
        {
            result[2] = c.Unbroadcast(beta == 1 ? dy : c.Mul(dy, c.Scalar(beta)), node.Output[0], node.Input[2]);
        }
        return result;
    }
}

/// <summary>MatMul of operands of rank ≥ 2 with numpy batch broadcasting.</summary>
internal sealed class MatMulRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["MatMul"];

    public string? Check(NodeProto node, GradientContext c) =>
        c.Info(node.Input[0]).Rank < 2 || c.Info(node.Input[1]).Rank < 2 ? "MatMul with a 1-D operand is not supported" : null;

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var dy = dOut[0]!;
        var (a, b) = (node.Input[0], node.Input[1]);
        var result = new string?[2];
        if (wanted[0])
        {
            result[0] = Reduce(c, c.Op("MatMul", [dy, SwapLast(c, b)]), node.Output[0], a, fromLeft: true);
        }
        if (wanted[1])
        {
            result[1] = Reduce(c, c.Op("MatMul", [SwapLast(c, a), dy]), node.Output[0], b, fromLeft: false);
        }
        return result;
    }

    private static string SwapLast(GradientContext c, string x)
    {
        int rank = c.Info(x).Rank;
        var perm = Enumerable.Range(0, rank).Select(i => (long)i).ToArray();
        (perm[rank - 1], perm[rank - 2]) = (perm[rank - 2], perm[rank - 1]);
        return c.Transpose(x, perm);
    }

    /// <summary>Sums the broadcast batch axes of an operand's gradient away.</summary>
    private static string Reduce(GradientContext c, string gradient, string output, string operand, bool fromLeft)
    {
        var y = c.Info(output);
        var o = c.Info(operand);
        int batchRank = y.Rank - 2;
        int offset = batchRank - (o.Rank - 2);
        var axes = new List<long>();
        for (int i = 0; i < batchRank; i++)
        {
            if (i < offset || (o.Dims[i - offset] == 1 && y.Dims[i] != 1))
            {
                axes.Add(i);
            }
        }
        return axes.Count == 0 ? gradient : c.ReshapeLike(c.ReduceSum(gradient, [.. axes], keepDims: true), operand);
    }
}

/// <summary>BatchNormalization in inference form: dX = dY · scale / √(var + ε), per channel (axis 1).</summary>
internal sealed class BatchNormalizationRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["BatchNormalization"];

    public string? Check(NodeProto node, GradientContext c) =>
        GradientContext.Int(node, "training_mode", 0) != 0 ? "BatchNormalization in training mode is not supported" : null;

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        if (wanted.Skip(1).Any(w => w))
        {
            throw new GradientException($"BatchNormalization node '{node.Name}' has parameters that depend on the input");
        }
        float eps = GradientContext.Float(node, "epsilon", 1e-5f);
        var factor = c.Div(node.Input[1], c.Op("Sqrt", [c.Add(node.Input[4], c.Scalar(eps))]));
        int rank = c.Info(node.Input[0]).Rank;
        if (rank > 2)
        {
            factor = c.Op("Reshape", [factor, c.Ints1D([-1, .. Enumerable.Repeat(1L, rank - 2)])]);
        }
        var result = new string?[node.Input.Count];
        result[0] = c.Mul(dOut[0]!, factor);
        return result;
    }
}
