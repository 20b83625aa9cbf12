namespace RobustEval.Evaluator.Attacks;

/// <summary>How wrappers run an attack again on part of a batch and keep the worse case per example.</summary>
internal static class SubRuns
{
    /// <summary>
    /// Runs <paramref name="attack"/> on <paramref name="batch"/>: on every example, or — when
    /// <paramref name="onlyUnfinished"/> — only on those whose record has not reached the goal yet, merging the
    /// outcomes back. Returns false when there was nothing left to attack.
    /// </summary>
    public static bool Run(IAttack attack, AttackBatch batch, ResultSlice results, bool onlyUnfinished)
    {
        if (!onlyUnfinished)
        {
            attack.Run(batch, results);
            return true;
        }
        var left = Enumerable.Range(0, batch.Count).Where(i => !results[i].Success).ToList();
        if (left.Count == 0)
        {
            return false;
        }
        if (left.Count == batch.Count)
        {
            attack.Run(batch, results);
            return true;
        }
        var part = results.Copy(left);
        attack.Run(batch.Subset(left, batch.Progress), part);
        for (int k = 0; k < left.Count; k++)
        {
            results.Merge(left[k], part, k);
        }
        return true;
    }
}
