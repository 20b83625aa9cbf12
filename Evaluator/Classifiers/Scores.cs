namespace RobustEval.Evaluator.Classifiers;

/// <summary>Reading a classifier's scores.</summary>
public static class Scores
{
    /// <summary>The index of the largest score (the first on ties); −1 (no class, so never correct) when a score is NaN.</summary>
    public static long ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 0; i < values.Length; i++)
        {
            if (float.IsNaN(values[i]))
            {
                return -1;
            }
            if (values[i] > values[best])
            {
                best = i;
            }
        }
        return best;
    }

    /// <summary>Class indices ordered by decreasing score (ties by index): rank 0 is the prediction.</summary>
    public static int[] Ranking(ReadOnlySpan<float> values)
    {
        var scores = values.ToArray();
        var order = Enumerable.Range(0, scores.Length).ToArray();
        Array.Sort(order, (a, b) => scores[b].CompareTo(scores[a]) is var byScore && byScore != 0 ? byScore : a.CompareTo(b));
        return order;
    }

    /// <summary>
    /// The margin loss max_{i≠y} z_i − z_y of class <paramref name="label"/> (Carlini–Wagner; Square's loss):
    /// positive when another class scores higher. NaN when a score is not finite.
    /// </summary>
    public static float Margin(ReadOnlySpan<float> logits, long label)
    {
        float other = float.NegativeInfinity;
        for (int i = 0; i < logits.Length; i++)
        {
            if (!float.IsFinite(logits[i]))
            {
                return float.NaN;
            }
            if (i != label && logits[i] > other)
            {
                other = logits[i];
            }
        }
        return other - logits[(int)label];
    }
}
