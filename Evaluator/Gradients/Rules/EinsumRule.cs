using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Gradients.Rules;

/// <summary>
/// Einsum: the gradient of operand i is itself an einsum — of the output's gradient with every other operand,
/// producing operand i's subscripts ("ij,jk->ik" gives dA = "ik,jk->ij"(dY, B)). Holds when operand i repeats no
/// subscript (no diagonal) and each of its subscripts appears in the output or another operand (nothing summed
/// from it alone); ellipses are supported when every operand and the output carry them, with the same dimensions.
/// </summary>
internal sealed class EinsumRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["Einsum"];

    public string? Check(NodeProto node, GradientContext c)
    {
        if (Parse(GradientContext.String(node, "equation") ?? "") is not { } equation)
        {
            return "the Einsum equation is not one RobustEval can differentiate (an ellipsis on some operands only)";
        }
        long[]? ellipsis = null;
        for (int i = 0; i < equation.Operands.Length; i++)
        {
            if (Ellipsis(equation.Operands[i], c.Info(node.Input[i]).Dims) is { } dims)
            {
                if (ellipsis is not null && !ellipsis.SequenceEqual(dims))
                {
                    return "Einsum operands whose ellipsis dimensions broadcast against each other have no rule";
                }
                ellipsis = dims;
            }
            var own = equation.Operands[i].Replace("...", "", StringComparison.Ordinal);
            var elsewhere = equation.Output + string.Concat(equation.Operands.Where((_, j) => j != i));
            if (own.Distinct().Count() != own.Length)
            {
                return $"Einsum operand {i} repeats a subscript (a diagonal), which has no rule";
            }
            if (own.Any(s => !elsewhere.Contains(s, StringComparison.Ordinal)))
            {
                return $"Einsum operand {i} has a subscript summed from it alone, which has no rule";
            }
        }
        return null;
    }

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var equation = Parse(GradientContext.String(node, "equation")!)!;
        var result = new string?[node.Input.Count];
        for (int i = 0; i < node.Input.Count; i++)
        {
            if (!wanted[i])
            {
                continue;
            }
            var others = Enumerable.Range(0, node.Input.Count).Where(j => j != i).ToArray();
            var terms = string.Join(",", [equation.Output, .. others.Select(j => equation.Operands[j])]);
            var gradient = c.Op("Einsum", [dOut[0]!, .. others.Select(j => node.Input[j])], Attr("equation", $"{terms}->{equation.Operands[i]}"));
            result[i] = gradient;
        }
        return result;
    }

    /// <summary>The dims an operand's "..." stands for (null when it has none).</summary>
    private static long[]? Ellipsis(string subscripts, long[] dims)
    {
        int at = subscripts.IndexOf("...", StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }
        int letters = subscripts.Length - 3;
        return dims.Skip(at).Take(dims.Length - letters).ToArray();
    }

    private sealed record Equation(string[] Operands, string Output);

    /// <summary>The operands' and output's subscripts, the implicit output (sorted letters used once) made explicit.</summary>
    private static Equation? Parse(string text)
    {
        var compact = text.Replace(" ", "", StringComparison.Ordinal);
        var sides = compact.Split("->");
        var operands = sides[0].Split(',');
        string output;
        if (sides.Length == 2)
        {
            output = sides[1];
        }
        else
        {
            var letters = string.Concat(operands).Replace("...", "", StringComparison.Ordinal);
            output = (operands.Any(o => o.Contains("...", StringComparison.Ordinal)) ? "..." : "")
                + string.Concat(letters.Where(l => letters.Count(m => m == l) == 1).Order());
        }
        bool anyEllipsis = operands.Any(o => o.Contains("...", StringComparison.Ordinal));
        if (sides.Length > 2 || (anyEllipsis && (!operands.All(o => o.Contains("...", StringComparison.Ordinal)) || !output.Contains("...", StringComparison.Ordinal))))
        {
            return null;
        }
        return new Equation(operands, output);
    }
}
