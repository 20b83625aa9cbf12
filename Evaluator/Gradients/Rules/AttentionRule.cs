using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Gradients.Rules;

/// <summary>
/// Attention (opset 23): Y = softmax(Q·Kᵀ·scale + bias)·V per head, with Q, K, V as (batch, heads, sequence, head
/// size) or (batch, sequence, heads·head size), grouped-query heads (each K/V head shared by a contiguous group of
/// query heads), a boolean or additive attn_mask and is_causal. The backward pass recomputes P = softmax(…) and
/// uses dV = Pᵀ·dY, dP = dY·Vᵀ, dZ = P ⊙ (dP − Σ dP ⊙ P), dQ = dZ·K·scale, dK = dZᵀ·Q·scale, summing the shared
/// K/V heads' gradients over their group. A key/value cache (past_key, past_value), softcap and a mask that depends
/// on the input have no rule.
/// </summary>
internal sealed class AttentionRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["Attention"];

    public string? Check(NodeProto node, GradientContext c)
    {
        if (node.Input.Skip(4).Any(i => i.Length > 0))
        {
            return "Attention with a key/value cache (past_key, past_value) has no rule";
        }
        if (GradientContext.Float(node, "softcap", 0f) != 0f)
        {
            return "Attention with softcap has no rule";
        }
        int rank = c.Info(node.Input[0]).Rank;
        if (rank is not (3 or 4) || c.Info(node.Input[1]).Rank != rank || c.Info(node.Input[2]).Rank != rank)
        {
            return "Attention needs Q, K and V all 3-D or all 4-D";
        }
        if (rank == 3 && (GradientContext.Int(node, "q_num_heads", 0) < 1 || GradientContext.Int(node, "kv_num_heads", 0) < 1))
        {
            return "3-D Attention needs q_num_heads and kv_num_heads";
        }
        return null;
    }

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        if (node.Input.Count > 3 && node.Input[3].Length > 0 && wanted[3])
        {
            throw new GradientException($"Attention node '{node.Name}': its attn_mask depends on the input, which has no rule");
        }
        if (dOut.Skip(1).Any(g => g is not null))
        {
            throw new GradientException($"Attention node '{node.Name}': its present_key, present_value or qk_matmul_output output is used by the graph");
        }
        var (q, k, v) = (node.Input[0], node.Input[1], node.Input[2]);
        bool flat = c.Info(q).Rank == 3;
        long heads, kvHeads, headSize, valueSize;
        if (flat)
        {
            heads = GradientContext.Int(node, "q_num_heads", 1);
            kvHeads = GradientContext.Int(node, "kv_num_heads", 1);
            headSize = c.Info(q).Dims[2] / heads;
            valueSize = c.Info(v).Dims[2] / kvHeads;
        }
        else
        {
            (heads, kvHeads, headSize, valueSize) = (c.Info(q).Dims[1], c.Info(k).Dims[1], c.Info(q).Dims[3], c.Info(v).Dims[3]);
        }
        long group = heads / kvHeads;
        float scale = node.Attribute.Any(a => a.Name == "scale") ? GradientContext.Float(node, "scale", 1f) : (float)(1 / Math.Sqrt(headSize));

        // Everything in the (batch, heads, sequence, size) form, K and V repeated over their query-head group.
        string ToHeads(string x, long n, long size) => flat ? c.Transpose(c.Op("Reshape", [x, c.Ints1D(0, 0, n, size)]), [0, 2, 1, 3]) : x;
        string FromHeads(string x, long n, long size) => flat ? c.Op("Reshape", [c.Transpose(x, [0, 2, 1, 3]), c.Ints1D(0, 0, n * size)]) : x;
        string Repeat(string x, long size) => group == 1
            ? x
            : c.Op("Reshape", [c.Op("Expand", [c.Unsqueeze(x, [2]), c.Ints1D(1, 1, group, 1, 1)]), c.Ints1D(0, heads, -1, size)]);
        string SumGroups(string x, long size) => group == 1
            ? x
            : c.ReduceSum(c.Op("Reshape", [x, c.Ints1D(0, kvHeads, group, -1, size)]), [2], keepDims: false);
        string SwapLast(string x) => c.Transpose(x, [0, 1, 3, 2]);

        var q4 = ToHeads(q, heads, headSize);
        var k4 = Repeat(ToHeads(k, kvHeads, headSize), headSize);
        var v4 = Repeat(ToHeads(v, kvHeads, valueSize), valueSize);
        var scores = c.Mul(c.Op("MatMul", [q4, SwapLast(k4)]), c.Scalar(scale));
        var minusInfinity = c.Scalar(float.NegativeInfinity);
        if (node.Input.Count > 3 && node.Input[3].Length > 0)
        {
            var mask = node.Input[3];
            scores = c.Info(mask).Type == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Bool
                ? c.Where(mask, scores, minusInfinity)
                : c.Add(scores, mask);
        }
        if (GradientContext.Int(node, "is_causal", 0) != 0)
        {
            // Top-left aligned lower triangle of ones over (query, key) positions.
            var square = c.Op("Slice", [c.ShapeOf(scores), c.Ints1D(2), c.Ints1D(4)]);
            var ones = c.Op("ConstantOfShape", [square], Attr("value", OnnxTensors.Float("one", [1f], 1)));
            var lower = c.Op("Cast", [c.Op("Trilu", [ones], Attr("upper", 0L))], Attr("to", (long)TensorProto.Types.DataType.Bool));
            scores = c.Where(lower, scores, minusInfinity);
        }
        var p = c.Op("Softmax", [scores], Attr("axis", -1L));
        var dy = ToHeads(dOut[0]!, heads, valueSize);

        var result = new string?[node.Input.Count];
        if (wanted[2])
        {
            result[2] = FromHeads(SumGroups(c.Op("MatMul", [SwapLast(p), dy]), valueSize), kvHeads, valueSize);
        }
        if (wanted[0] || wanted[1])
        {
            var dp = c.Op("MatMul", [dy, SwapLast(v4)]);
            var dz = c.Mul(c.Mul(p, c.Sub(dp, c.ReduceSum(c.Mul(dp, p), [-1], keepDims: true))), c.Scalar(scale));
            if (wanted[0])
            {
                result[0] = FromHeads(c.Op("MatMul", [dz, k4]), heads, headSize);
            }
            if (wanted[1])
            {
                result[1] = FromHeads(SumGroups(c.Op("MatMul", [SwapLast(dz), q4]), headSize), kvHeads, headSize);
            }
        }
        return result;
    }
}
