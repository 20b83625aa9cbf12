using System.Text.Json.Serialization;

namespace RobustEval.Evaluator.Attacks;

/// <summary>What one attack of an AutoAttack run did, as counts that add up across shards.</summary>
public sealed record StageTotals
{
    [JsonPropertyName("name")] public required string Name { get; init; }

    [JsonPropertyName("description")] public required string Description { get; init; }

    /// <summary>True for attacks that use gradients (all but square).</summary>
    [JsonPropertyName("white_box")] public bool WhiteBox { get; init; }

    /// <summary>Points it attacked: those every earlier attack left robust.</summary>
    [JsonPropertyName("attacked")] public int Attacked { get; init; }

    [JsonPropertyName("fooled")] public int Fooled { get; init; }

    [JsonPropertyName("seconds")] public double Seconds { get; init; }

    /// <summary>Images evaluated forward and backward.</summary>
    [JsonPropertyName("gradient_evaluations")] public long GradientEvaluations { get; init; }

    /// <summary>Images evaluated forward only (square's queries).</summary>
    [JsonPropertyName("forward_evaluations")] public long ForwardEvaluations { get; init; }

    [JsonPropertyName("zero_gradient")] public int ZeroGradient { get; init; }

    [JsonPropertyName("non_finite")] public int NonFinite { get; init; }

    /// <summary>Sum and count of the relative FOSC of the points this attack left robust (APGD only).</summary>
    [JsonPropertyName("fosc_sum")] public double FoscSum { get; init; }

    [JsonPropertyName("fosc_count")] public int FoscCount { get; init; }

    public StageTotals Add(StageTotals other) => this with
    {
        Attacked = Attacked + other.Attacked,
        Fooled = Fooled + other.Fooled,
        Seconds = Seconds + other.Seconds,
        GradientEvaluations = GradientEvaluations + other.GradientEvaluations,
        ForwardEvaluations = ForwardEvaluations + other.ForwardEvaluations,
        ZeroGradient = ZeroGradient + other.ZeroGradient,
        NonFinite = NonFinite + other.NonFinite,
        FoscSum = FoscSum + other.FoscSum,
        FoscCount = FoscCount + other.FoscCount,
    };
}

/// <summary>
/// The counts an AutoAttack run's accuracies and flags are computed from. They add up across shards, so
/// <c>evaluator merge</c> sums them and computes accuracies, intervals and flags exactly as one run would.
/// </summary>
public sealed record AutoAttackTotals
{
    [JsonPropertyName("examples")] public int Examples { get; init; }

    [JsonPropertyName("clean_correct")] public int CleanCorrect { get; init; }

    /// <summary>Correct on the clean image and on the final adversarial one, as re-evaluated at the end.</summary>
    [JsonPropertyName("robust")] public int Robust { get; init; }

    [JsonPropertyName("classes")] public int Classes { get; init; }

    /// <summary>The model card's clean accuracy, when it states one.</summary>
    [JsonPropertyName("card_clean_accuracy")] public double? CardCleanAccuracy { get; init; }

    /// <summary>Why the clean accuracy is bad, when it is (from <c>FeedingProbe</c>): the clean-accuracy flag's advice.</summary>
    [JsonPropertyName("clean_accuracy_advice")] public string? CleanAccuracyAdvice { get; init; }

    /// <summary>Clean scores that looked like probabilities (non-negative rows summing to 1).</summary>
    [JsonPropertyName("probability_rows")] public int ProbabilityRows { get; init; }

    /// <summary>The largest change of a score between two identical evaluations.</summary>
    [JsonPropertyName("max_score_change")] public double MaxScoreChange { get; init; }

    [JsonPropertyName("recheck_differences")] public int RecheckDifferences { get; init; }

    [JsonPropertyName("outside_ball")] public int OutsideBall { get; init; }

    [JsonPropertyName("largest_outside_norm")] public double LargestOutsideNorm { get; init; }

    [JsonPropertyName("clean_non_finite")] public int CleanNonFinite { get; init; }

    [JsonPropertyName("attacks")] public required IReadOnlyList<StageTotals> Stages { get; init; }

    /// <summary>Flags the plan raised (attacks dropped), the same in every shard.</summary>
    [JsonPropertyName("plan_flags")] public IReadOnlyList<ReliabilityFlag> PlanFlags { get; init; } = [];

    public double CleanAccuracy => Examples == 0 ? 0 : (double)CleanCorrect / Examples;

    public double RobustAccuracy => Examples == 0 ? 0 : (double)Robust / Examples;

    /// <summary>Robust accuracy after each attack (before the final re-evaluation), in the order they ran.</summary>
    public IEnumerable<int> RobustAfterEach()
    {
        int robust = CleanCorrect;
        foreach (var stage in Stages)
        {
            robust -= stage.Fooled;
            yield return robust;
        }
    }

    public AutoAttackTotals Add(AutoAttackTotals other)
    {
        if (other.Stages.Count != Stages.Count || other.Classes != Classes)
        {
            throw new ArgumentException("totals of different runs");
        }
        return this with
        {
            Examples = Examples + other.Examples,
            CleanCorrect = CleanCorrect + other.CleanCorrect,
            Robust = Robust + other.Robust,
            ProbabilityRows = ProbabilityRows + other.ProbabilityRows,
            MaxScoreChange = Math.Max(MaxScoreChange, other.MaxScoreChange),
            RecheckDifferences = RecheckDifferences + other.RecheckDifferences,
            OutsideBall = OutsideBall + other.OutsideBall,
            LargestOutsideNorm = Math.Max(LargestOutsideNorm, other.LargestOutsideNorm),
            CleanNonFinite = CleanNonFinite + other.CleanNonFinite,
            Stages = Stages.Zip(other.Stages, (a, b) => a.Add(b)).ToArray(),
        };
    }

    /// <summary>Relative FOSC above which the survivors of an APGD attack count as not converged.</summary>
    public const double FoscLimit = 0.3;

    /// <summary>The fewest survivors whose mean FOSC is judged (a handful of points says little either way).</summary>
    public const int FoscMinimumPoints = 10;

    /// <summary>Every flag these counts raise, with the plan's own.</summary>
    public IReadOnlyList<ReliabilityFlag> Flags()
    {
        var flags = PlanFlags.ToList();
        if (Examples > 0 && ProbabilityRows == Examples)
        {
            flags.Add(ReliabilityFlag.Probabilities());
        }
        if (MaxScoreChange > 0)
        {
            flags.Add(ReliabilityFlag.Randomized(MaxScoreChange));
        }
        if (Stages.FirstOrDefault(s => s.WhiteBox) is { ZeroGradient: > 0 } first)
        {
            flags.Add(ReliabilityFlag.ZeroGradient(first.ZeroGradient, first.Attacked, first.Name));
        }
        int square = Stages.ToList().FindIndex(s => s.Name == "square");
        if (square > 0 && Stages.Take(square).Any(s => s.WhiteBox) && Examples > 0 && Stages[square].Fooled > 0.002 * Examples)
        {
            flags.Add(ReliabilityFlag.GradientMasking(Stages[square].Fooled, Examples));
        }
        if (ReliabilityFlag.CleanAccuracy(CleanCorrect, Examples, Classes, CardCleanAccuracy) is { } clean)
        {
            flags.Add(CleanAccuracyAdvice is { } advice ? clean with { Advice = advice } : clean);
        }
        var unconverged = Stages.Where(s => s.FoscCount >= FoscMinimumPoints && s.FoscSum / s.FoscCount > FoscLimit)
            .Select(s => (s.Name, s.FoscSum / s.FoscCount, s.FoscCount)).ToList();
        if (unconverged.Count > 0)
        {
            flags.Add(ReliabilityFlag.NotConverged(unconverged));
        }
        int nonFinite = CleanNonFinite + Stages.Sum(s => s.NonFinite);
        if (nonFinite > 0)
        {
            flags.Add(ReliabilityFlag.NonFinite(nonFinite));
        }
        if (RecheckDifferences > 0)
        {
            flags.Add(ReliabilityFlag.Recheck(RecheckDifferences));
        }
        if (OutsideBall > 0)
        {
            flags.Add(ReliabilityFlag.OutsideBall(OutsideBall, LargestOutsideNorm));
        }
        return flags;
    }
}

/// <summary>The Wilson score interval of a binomial proportion (95 %: z = 1.96).</summary>
public static class Wilson
{
    public static (double Lower, double Upper) Interval(int successes, int trials, double z = 1.959963984540054)
    {
        if (trials <= 0)
        {
            return (0, 1);
        }
        double p = (double)successes / trials, z2 = z * z;
        double centre = (p + z2 / (2 * trials)) / (1 + z2 / trials);
        double half = z * Math.Sqrt(p * (1 - p) / trials + z2 / (4.0 * trials * trials)) / (1 + z2 / trials);
        return (Math.Max(0, centre - half), Math.Min(1, centre + half));
    }
}
