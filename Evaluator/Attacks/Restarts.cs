using RobustEval.Evaluator.Runtime;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// Runs any attack <paramref name="count"/> times and keeps each example's worst case (Foolbox's <c>Repeated</c>).
/// Each run continues the batch's random sequence, so no two runs share a start. With early stopping, later runs
/// attack only the examples no run has fooled yet (as AutoAttack does).
/// </summary>
public sealed class Restarts(IAttack inner, int count) : IAttack
{
    public AttackSettings Settings => inner.Settings;

    public GradientSessions Sessions => inner.Sessions;

    public bool NeedsGradients => inner.NeedsGradients;

    public int Count { get; } = count >= 1 ? count : throw new ArgumentOutOfRangeException(nameof(count));

    public void Run(AttackBatch batch, ResultSlice results)
    {
        for (int run = 0; run < Count; run++)
        {
            int done = run;
            var part = batch.Progress is { } report ? batch.WithProgress(f => report((done + f) / Count)) : batch;
            if (!SubRuns.Run(inner, part, results, Settings.EarlyStop))
            {
                break;
            }
        }
        batch.Progress?.Invoke(1);
    }
}
