using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using RobustEval.Data;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;
using RobustEval.IO;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// An AutoAttack run (Croce &amp; Hein 2020) over a data set: the clean pass, then each attack of the plan on the
/// points every earlier attack left robust, then a re-evaluation of the final adversarial points. The result per
/// point is the worst case over the attacks. Work proceeds in chunks of one batch; after each the whole state can
/// be saved (<see cref="State"/>) and a run built from it continues exactly where it stopped, with exactly the
/// result an uninterrupted run gives: every chunk's random sequence comes from the seed, the attack and the chunk.
/// </summary>
public sealed class AutoAttack
{
    private readonly GradientSessions _sessions;
    private readonly int _batch;

    public AutoAttack(GradientSessions sessions, AutoAttackPlan plan, Dataset data, int batchSize, AutoAttackState? resume = null)
    {
        _sessions = sessions;
        Plan = plan;
        Data = data;
        var classifier = sessions.Classifier;
        classifier.CheckData(data);
        _batch = classifier.FixedBatch is { } fixedBatch ? (int)fixedBatch : Math.Max(1, Math.Min(batchSize, data.Count));
        Labels = Enumerable.Range(0, data.Count).Select(i => classifier.ModelLabel(data.Label(i))).ToArray();
        State = resume ?? AutoAttackState.Fresh(data.Count, plan.Attacks.Select(a => new StageTotals
        {
            Name = a.Name,
            Description = a.ToString(),
            WhiteBox = a.Name != "square",
        }));
        if (State.Prediction.Length != data.Count || State.Stages.Count != plan.Attacks.Count)
        {
            throw new UserErrorException("the state file does not fit this data and plan");
        }
    }

    public AutoAttackPlan Plan { get; }

    public Dataset Data { get; }

    /// <summary>Each example's true class as the model's index.</summary>
    public long[] Labels { get; }

    /// <summary>Everything done so far; save it to continue later.</summary>
    public AutoAttackState State { get; }

    /// <summary>
    /// The whole run in one call: the clean pass, every attack from where the state stands, the re-evaluation (the
    /// clean-accuracy check compares with the model card's). For progress and checkpoints, call <see cref="Clean"/>,
    /// <see cref="RunStage"/> and <see cref="Finish"/> yourself.
    /// </summary>
    public AutoAttackResult Run()
    {
        Clean();
        for (int stage = State.Stage; stage < Plan.Attacks.Count; stage++)
        {
            RunStage(stage);
        }
        return Finish(_sessions.Classifier.Card?.CleanAccuracy);
    }

    /// <summary>The points attack <paramref name="stage"/> works on (robust after all earlier ones); fixed when it starts.</summary>
    public int[] Left(int stage) => stage == State.Stage && State.Left is { } left
        ? left
        : Enumerable.Range(0, Data.Count).Where(i => State.CleanPrediction[i] == Labels[i] && State.FooledBy[i] < 0).ToArray();

    /// <summary>The clean pass: predictions, and the probability and randomness checks on the scores.</summary>
    public void Clean()
    {
        if (State.CleanDone)
        {
            return;
        }
        var forward = _sessions.Forward;
        int classes = forward.Classifier.Classes;
        var logits = forward.Logits(Data.Pixels, Data.Count, _batch);
        int probabilityRows = 0, nonFinite = 0;
        for (int i = 0; i < Data.Count; i++)
        {
            var z = logits.AsSpan(i * classes, classes);
            long prediction = Scores.ArgMax(z);
            bool finite = float.IsFinite(Scores.Margin(z, 0));
            State.CleanPrediction[i] = finite ? prediction : -1;
            State.Prediction[i] = State.CleanPrediction[i];
            nonFinite += finite ? 0 : 1;
            double sum = 0;
            bool nonNegative = true;
            foreach (float v in z)
            {
                sum += v;
                nonNegative &= v >= 0;
            }
            probabilityRows += nonNegative && Math.Abs(sum - 1) < 1e-3 ? 1 : 0;
        }
        // The same first batch again: a deterministic model gives the same scores.
        int first = Math.Min(_batch, Data.Count);
        var again = forward.Logits(Data.Pixels[..(first * Data.ImageSize)], first, _batch);
        double change = 0;
        for (int j = 0; j < again.Length; j++)
        {
            change = Math.Max(change, Math.Abs((double)again[j] - logits[j]));
        }
        State.ProbabilityRows = probabilityRows;
        State.MaxScoreChange = change;
        State.CleanNonFinite = nonFinite;
        State.CleanDone = true;
    }

    /// <summary>
    /// Runs attack <paramref name="stage"/> on the points left robust, chunk by chunk, calling
    /// <paramref name="checkpoint"/> after each. <paramref name="progress"/> receives the points done.
    /// </summary>
    public void RunStage(int stage, IProgress<double>? progress = null, Action? checkpoint = null)
    {
        if (!State.CleanDone || stage < State.Stage)
        {
            throw new InvalidOperationException(State.CleanDone ? $"attack {stage} is already done" : "run Clean first");
        }
        var left = Left(stage);
        State.Stage = stage;
        State.Left = left;
        var settings = Plan.Attacks[stage];
        var attack = AttackRegistry.Create(settings, _sessions);
        int chunks = (left.Length + _batch - 1) / _batch;
        for (int chunk = State.Chunk; chunk < chunks; chunk++)
        {
            int start = chunk * _batch, count = Math.Min(_batch, left.Length - start);
            var indices = left.AsSpan(start, count).ToArray();
            long gradientBefore = _sessions.GradientImageEvaluations, forwardBefore = _sessions.ForwardImageEvaluations;
            var clock = Stopwatch.StartNew();
            var run = AttackRunner.Run(attack, Data.Subset(indices), _batch, progress is null ? null : new CallbackProgress<double>(f => progress.Report(start + f)),
                firstBatch: (stage + 1) * 1_000_003 + chunk);
            Absorb(stage, indices, run, clock.Elapsed.TotalSeconds, _sessions.GradientImageEvaluations - gradientBefore, _sessions.ForwardImageEvaluations - forwardBefore);
            State.Chunk = chunk + 1;
            checkpoint?.Invoke();
        }
        State.Stage = stage + 1;
        State.Chunk = 0;
        State.Left = null;
        progress?.Report(left.Length);
        checkpoint?.Invoke();
    }

    /// <summary>Takes over the points the attack fooled within the ball, and adds its counts to the attack's totals.</summary>
    private void Absorb(int stage, int[] indices, AttackRun run, double seconds, long gradientEvaluations, long forwardEvaluations)
    {
        int fooled = 0, zero = 0, nonFinite = 0, foscCount = 0;
        double foscSum = 0;
        for (int k = 0; k < indices.Length; k++)
        {
            int i = indices[k];
            var e = run[k];
            zero += e.ZeroGradient ? 1 : 0;
            nonFinite += e.NonFinite ? 1 : 0;
            if (e.Success && e.Prediction != Labels[i])
            {
                fooled++;
                State.FooledBy[i] = stage;
                State.Prediction[i] = e.Prediction;
                State.Norm[i] = e.PerturbationNorm;
                State.Adversarial[i] = run.Adversarial(k).ToArray();
            }
            else if (Plan.Attacks[stage].Name.StartsWith("apgd", StringComparison.Ordinal) && double.IsFinite(e.RelativeFosc))
            {
                foscSum += e.RelativeFosc;
                foscCount++;
            }
        }
        var totals = State.Stages[stage];
        State.Stages[stage] = totals with
        {
            Attacked = totals.Attacked + indices.Length,
            Fooled = totals.Fooled + fooled,
            Seconds = totals.Seconds + seconds,
            GradientEvaluations = totals.GradientEvaluations + gradientEvaluations,
            ForwardEvaluations = totals.ForwardEvaluations + forwardEvaluations,
            ZeroGradient = totals.ZeroGradient + zero,
            NonFinite = totals.NonFinite + nonFinite,
            FoscSum = totals.FoscSum + foscSum,
            FoscCount = totals.FoscCount + foscCount,
        };
    }

    /// <summary>
    /// Re-evaluates every final adversarial point (the clean image where no attack succeeded) and checks that each
    /// lies in the ball: the accuracies come from this evaluation, not from the attacks' bookkeeping.
    /// </summary>
    public AutoAttackResult Finish(double? cardCleanAccuracy)
    {
        int n = Data.Count, size = Data.ImageSize;
        var ball = NormBall.For(Plan.Norm);
        var adversarial = Data.Pixels.ToArray();
        int outside = 0;
        double largest = 0;
        foreach (var (i, image) in State.Adversarial.OrderBy(p => p.Key))
        {
            var delta = new float[size];
            var clean = Data.Image(i);
            for (int j = 0; j < size; j++)
            {
                delta[j] = image[j] - clean[j];
            }
            double norm = ball.Norm(delta);
            if (norm > Plan.Eps * (1 + 1e-5) + 1e-6)
            {
                outside++;
                largest = Math.Max(largest, norm);
                continue;
            }
            image.CopyTo(adversarial.AsSpan(i * size, size));
        }
        var predictions = _sessions.Forward.Predict(adversarial, n, _batch);
        int cleanCorrect = 0, robust = 0, differences = 0;
        for (int i = 0; i < n; i++)
        {
            bool correct = State.CleanPrediction[i] == Labels[i];
            cleanCorrect += correct ? 1 : 0;
            bool isRobust = correct && predictions[i] == Labels[i];
            robust += isRobust ? 1 : 0;
            bool expected = correct && State.FooledBy[i] < 0;
            differences += isRobust != expected ? 1 : 0;
        }
        var totals = new AutoAttackTotals
        {
            Examples = n,
            CleanCorrect = cleanCorrect,
            Robust = robust,
            Classes = _sessions.Classifier.Classes,
            CardCleanAccuracy = cardCleanAccuracy,
            ProbabilityRows = State.ProbabilityRows,
            MaxScoreChange = State.MaxScoreChange,
            RecheckDifferences = differences - outside,
            OutsideBall = outside,
            LargestOutsideNorm = largest,
            CleanNonFinite = State.CleanNonFinite,
            Stages = State.Stages.ToArray(),
            PlanFlags = Plan.Flags,
        };
        return new AutoAttackResult
        {
            Plan = Plan,
            Data = Data,
            Labels = Labels,
            Totals = totals,
            Adversarial = adversarial,
            CleanPredictions = State.CleanPrediction.ToArray(),
            Predictions = predictions,
            FooledBy = State.FooledBy.ToArray(),
            Norms = State.Norm.ToArray(),
        };
    }
}

/// <summary>The outcome of an AutoAttack run: the totals, and per example the final point and predictions.</summary>
public sealed record AutoAttackResult
{
    public required AutoAttackPlan Plan { get; init; }

    public required Dataset Data { get; init; }

    public required long[] Labels { get; init; }

    public required AutoAttackTotals Totals { get; init; }

    /// <summary>Every example's final point (NCHW, [0, 1]): the adversarial one, or the clean image where no attack succeeded.</summary>
    public required float[] Adversarial { get; init; }

    public required long[] CleanPredictions { get; init; }

    /// <summary>Predictions at the final points, as re-evaluated.</summary>
    public required long[] Predictions { get; init; }

    /// <summary>The index of the attack that fooled each example (−1: none).</summary>
    public required int[] FooledBy { get; init; }

    public required double[] Norms { get; init; }
}

/// <summary>
/// Everything an AutoAttack run has done, enough to continue it: per example the clean and current prediction,
/// the attack that fooled it and its adversarial point; where the run stands (attack, chunk, the points that attack
/// works on); each attack's totals so far. Saved as JSON with the run's fingerprint, which a resumed run must match.
/// </summary>
public sealed class AutoAttackState
{
    [JsonPropertyName("fingerprint")] public Dictionary<string, string> Fingerprint { get; set; } = [];

    [JsonPropertyName("clean_done")] public bool CleanDone { get; set; }

    [JsonPropertyName("clean_prediction")] public long[] CleanPrediction { get; set; } = [];

    [JsonPropertyName("prediction")] public long[] Prediction { get; set; } = [];

    [JsonPropertyName("fooled_by")] public int[] FooledBy { get; set; } = [];

    [JsonPropertyName("norm")] public double[] Norm { get; set; } = [];

    [JsonPropertyName("stage")] public int Stage { get; set; }

    [JsonPropertyName("chunk")] public int Chunk { get; set; }

    [JsonPropertyName("left")] public int[]? Left { get; set; }

    [JsonPropertyName("probability_rows")] public int ProbabilityRows { get; set; }

    [JsonPropertyName("max_score_change")] public double MaxScoreChange { get; set; }

    [JsonPropertyName("clean_non_finite")] public int CleanNonFinite { get; set; }

    [JsonPropertyName("attacks")] public List<StageTotals> Stages { get; set; } = [];

    /// <summary>The adversarial point of each fooled example.</summary>
    [JsonIgnore] public Dictionary<int, float[]> Adversarial { get; set; } = [];

    [JsonPropertyName("adversarial")]
    public Dictionary<string, string> AdversarialBase64
    {
        get => Adversarial.ToDictionary(p => p.Key.ToString(System.Globalization.CultureInfo.InvariantCulture),
            p => Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(p.Value.AsSpan())));
        set => Adversarial = value.ToDictionary(p => int.Parse(p.Key, System.Globalization.CultureInfo.InvariantCulture),
            p => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(Convert.FromBase64String(p.Value)).ToArray());
    }

    public static AutoAttackState Fresh(int count, IEnumerable<StageTotals> stages) => new()
    {
        CleanPrediction = new long[count],
        Prediction = new long[count],
        FooledBy = Enumerable.Repeat(-1, count).ToArray(),
        Norm = new double[count],
        Stages = stages.ToList(),
    };

    /// <summary>Writes the state atomically: a kill at any moment leaves the previous state or this one.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this));

    /// <summary>
    /// The state saved at <paramref name="path"/>, or null when there is none; refused with the differences when
    /// it was written by a run with another fingerprint. Temporaries a killed save left behind are deleted.
    /// </summary>
    public static AutoAttackState? Load(string path, IReadOnlyDictionary<string, string> fingerprint)
    {
        // A run killed while saving leaves its half-written temporary beside the state; this run owns the file now.
        AtomicFile.RemoveStaleTemporaries(path);
        if (!File.Exists(path))
        {
            return null;
        }
        AutoAttackState? state;
        try
        {
            state = JsonSerializer.Deserialize<AutoAttackState>(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new UserErrorException($"--state {path}: not a state file of evaluator autoattack ({e.Message.Split('\n')[0]})");
        }
        if (state is null)
        {
            throw new UserErrorException($"--state {path}: not a state file of evaluator autoattack");
        }
        var differences = fingerprint.Keys.Union(state.Fingerprint.Keys)
            .Where(k => fingerprint.GetValueOrDefault(k) != state.Fingerprint.GetValueOrDefault(k))
            .Select(k => $"{k} {state.Fingerprint.GetValueOrDefault(k) ?? "(none)"} → {fingerprint.GetValueOrDefault(k) ?? "(none)"}")
            .ToList();
        if (differences.Count > 0)
        {
            throw new UserErrorException(
                $"--state {path} was written by another run ({string.Join("; ", differences)}); rerun with the same arguments, or give another --state file");
        }
        return state;
    }
}
