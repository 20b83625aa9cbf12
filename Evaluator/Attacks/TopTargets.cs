using RobustEval.Evaluator.Runtime;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// AutoAttack's targeted sweep (APGD-T): runs a targeted attack once for each of the k classes the model finds most
/// likely on the clean image after the true one, in that order, keeping each example's worst case. With early
/// stopping, each target is tried only on the examples no earlier target has fooled.
/// </summary>
public sealed class TopTargets(IAttack inner, int k) : IAttack
{
    public AttackSettings Settings => inner.Settings;

    public GradientSessions Sessions => inner.Sessions;

    public bool NeedsGradients => inner.NeedsGradients;

    /// <summary>How many targets are tried (at most one fewer than the classes).</summary>
    public int K { get; } = k >= 1 ? k : throw new ArgumentOutOfRangeException(nameof(k));

    public void Run(AttackBatch batch, ResultSlice results)
    {
        int rounds = Math.Min(K, batch.Classes - 1);
        for (int rank = 1; rank <= rounds; rank++)
        {
            var targets = new long[batch.Count];
            for (int i = 0; i < batch.Count; i++)
            {
                targets[i] = Goal.WrongClassOfRank(batch.CleanLogits.AsSpan(i * batch.Classes, batch.Classes), batch.Labels[i], rank);
            }
            int done = rank - 1;
            var aimed = batch.WithTargets(targets, batch.Progress is { } report ? f => report((done + f) / rounds) : null);
            if (!SubRuns.Run(inner, aimed, results, Settings.EarlyStop))
            {
                break;
            }
        }
        batch.Progress?.Invoke(1);
    }
}
