using RobustEval.Data;

namespace RobustEval.Evaluator.Attacks;

/// <summary>An attack over a whole data set: every example's record and adversarial image, plus what it cost.</summary>
public sealed class AttackRun
{
    public required Dataset Data { get; init; }

    public required AttackSettings Settings { get; init; }

    public required AttackResults Results { get; init; }

    public required double Seconds { get; init; }

    /// <summary>Forward-and-backward passes over a batch.</summary>
    public required long Evaluations { get; init; }

    /// <summary>Images those passes covered: with early stopping, fewer as examples are fooled.</summary>
    public required long ImageEvaluations { get; init; }

    /// <summary>Images evaluated forward only (score-based attacks' queries).</summary>
    public long ForwardEvaluations { get; init; }

    public int Count => Results.Count;

    public ExampleResult this[int i] => Results.Examples[i];

    public ReadOnlySpan<float> Adversarial(int i) => Results.Image(i);

    public AttackSummary Summarize() => AttackSummary.Of(this);
}
