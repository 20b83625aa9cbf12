using System.Text.Json.Serialization;
using RobustEval.Evaluator.Transfer;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Reports;

/// <summary>Everything a report shows; <c>results.json</c> is this object, so every number on the page is in it.</summary>
internal sealed record ReportData
{
    [JsonPropertyName("title")]
    public required string Title { get; init; }

    [JsonPropertyName("evaluator_version")]
    public required string EvaluatorVersion { get; init; }

    [JsonPropertyName("data")]
    public required ReportDataset Data { get; init; }

    [JsonPropertyName("models")]
    public required IReadOnlyList<ReportModel> Models { get; init; }

    [JsonPropertyName("transfer")]
    public ReportTransfer? Transfer { get; init; }

    [JsonPropertyName("sweeps")]
    public required IReadOnlyList<ReportSweep> Sweeps { get; init; }

    /// <summary>With --replicates: each net over its seeds (null otherwise).</summary>
    [JsonPropertyName("replicates")]
    public IReadOnlyList<ReportNet>? Replicates { get; init; }

    /// <summary>With --seed-summary: Table 1 over seeds, from transfer summarize.</summary>
    [JsonPropertyName("seed_transfer")]
    public ReportSeedTransfer? SeedTransfer { get; init; }

    /// <summary>AutoAttack results per model and threat model (run by the report or read from earlier runs).</summary>
    [JsonPropertyName("autoattack")]
    public IReadOnlyList<ReportAutoAttack> AutoAttack { get; init; } = [];

    [JsonPropertyName("fosc")]
    public required IReadOnlyList<ReportFosc> Fosc { get; init; }

    [JsonPropertyName("training")]
    public required IReadOnlyList<ReportTraining> Training { get; init; }

    [JsonPropertyName("figures")]
    public required IReadOnlyList<ReportFigure> Figures { get; init; }

    /// <summary>Findings that apply to the whole report (e.g. no single-pixel example found).</summary>
    [JsonPropertyName("notes")]
    public required IReadOnlyList<string> Notes { get; init; }
}

internal sealed record ReportDataset(
    [property: JsonPropertyName("spec")] string Spec,
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("examples")] int Examples,
    [property: JsonPropertyName("attacked_examples")] int AttackedExamples);

internal sealed record ReportModel
{
    [JsonPropertyName("index")]
    public required int Index { get; init; }

    [JsonPropertyName("path")]
    public required string Path { get; init; }

    [JsonPropertyName("name")]
    public required string Name { get; init; }

    [JsonPropertyName("architecture")]
    public string? Architecture { get; init; }

    [JsonPropertyName("method")]
    public string? Method { get; init; }

    [JsonPropertyName("norm")]
    public string? Norm { get; init; }

    [JsonPropertyName("eps")]
    public double? Eps { get; init; }

    [JsonPropertyName("dataset")]
    public string? Dataset { get; init; }

    [JsonPropertyName("card_clean_accuracy")]
    public double? CardCleanAccuracy { get; init; }

    /// <summary>Clean accuracy measured now, on the report's data.</summary>
    [JsonPropertyName("clean_accuracy")]
    public required double CleanAccuracy { get; init; }

    [JsonPropertyName("zero_gradient_fraction")]
    public required double ZeroGradientFraction { get; init; }

    /// <summary>Training wall time (seconds, all epochs) from the model's metrics log, when there is one.</summary>
    [JsonPropertyName("training_seconds")]
    public double? TrainingSeconds { get; init; }

    /// <summary>Mean training throughput (images/s) from the metrics log.</summary>
    [JsonPropertyName("training_images_per_second")]
    public double? TrainingImagesPerSecond { get; init; }

    [JsonPropertyName("notes")]
    public required IReadOnlyList<string> Notes { get; init; }
}

internal sealed record ReportTransfer
{
    [JsonPropertyName("set")]
    public required string Set { get; init; }

    [JsonPropertyName("manifest")]
    public required TransferManifest Manifest { get; init; }

    [JsonPropertyName("results")]
    public required IReadOnlyList<TransferResult> Results { get; init; }
}

internal sealed record ReportSweep
{
    /// <summary>norm, or pgdK-norm for PGD sweeps: unique within a report.</summary>
    [JsonPropertyName("key")]
    public required string Key { get; init; }

    [JsonPropertyName("norm")]
    public required string Norm { get; init; }

    [JsonPropertyName("attack")]
    public required string Attack { get; init; }

    [JsonPropertyName("eps")]
    public required IReadOnlyList<float> Eps { get; init; }

    /// <summary>Accuracy per model name, one value per radius.</summary>
    [JsonPropertyName("accuracy")]
    public required IReadOnlyDictionary<string, double[]> Accuracy { get; init; }

    [JsonPropertyName("figure")]
    public required string Figure { get; init; }
}

internal sealed record ReportAutoAttack
{
    [JsonPropertyName("model")]
    public required string Model { get; init; }

    [JsonPropertyName("norm")]
    public required string Norm { get; init; }

    [JsonPropertyName("eps")]
    public required float Eps { get; init; }

    [JsonPropertyName("version")]
    public required string Version { get; init; }

    [JsonPropertyName("examples")]
    public required int Examples { get; init; }

    [JsonPropertyName("clean_accuracy")]
    public required double CleanAccuracy { get; init; }

    [JsonPropertyName("robust_accuracy")]
    public required double RobustAccuracy { get; init; }

    [JsonPropertyName("robust_accuracy_interval")]
    public required double[] Interval { get; init; }

    /// <summary>Robust accuracy after each attack of the ensemble, in the order they ran.</summary>
    [JsonPropertyName("after")]
    public required IReadOnlyList<KeyValuePair<string, double>> After { get; init; }

    [JsonPropertyName("flags")]
    public required IReadOnlyList<Attacks.ReliabilityFlag> Flags { get; init; }

    /// <summary>Where the numbers come from: "this report" or the results.json read.</summary>
    [JsonPropertyName("source")]
    public required string Source { get; init; }

    /// <summary>"ℓ∞ ε=0.3".</summary>
    public string ThreatModel => $"{NormKinds.Parse(Norm).Symbol()} ε={Eps.ToString("G4", System.Globalization.CultureInfo.InvariantCulture)}";

    public static ReportAutoAttack From(string model, string norm, float eps, string version, Attacks.AutoAttackTotals totals, string source)
    {
        var (lower, upper) = Attacks.Wilson.Interval(totals.Robust, totals.Examples);
        return new ReportAutoAttack
        {
            Model = model,
            Norm = norm,
            Eps = eps,
            Version = version,
            Examples = totals.Examples,
            CleanAccuracy = totals.CleanAccuracy,
            RobustAccuracy = totals.RobustAccuracy,
            Interval = [lower, upper],
            After = totals.Stages.Zip(totals.RobustAfterEach(), (s, r) => KeyValuePair.Create(s.Name, totals.Examples == 0 ? 0 : (double)r / totals.Examples)).ToList(),
            Flags = totals.Flags(),
            Source = source,
        };
    }
}

internal sealed record ReportFosc
{
    [JsonPropertyName("model")]
    public required string Model { get; init; }

    [JsonPropertyName("attack")]
    public required string Attack { get; init; }

    [JsonPropertyName("mean")]
    public required double Mean { get; init; }

    [JsonPropertyName("edges")]
    public required double[] Edges { get; init; }

    [JsonPropertyName("counts")]
    public required int[] Counts { get; init; }

    [JsonPropertyName("figure")]
    public required string Figure { get; init; }
}

internal sealed record ReportTraining
{
    [JsonPropertyName("model")]
    public required string Model { get; init; }

    [JsonPropertyName("epochs")]
    public required IReadOnlyList<TrainingEpoch> Epochs { get; init; }
}

internal sealed record ReportFigure(
    [property: JsonPropertyName("file")] string File,
    [property: JsonPropertyName("svg")] string? Svg,
    [property: JsonPropertyName("section")] string Section,
    [property: JsonPropertyName("caption")] string Caption);

/// <summary>
/// One net trained from several seeds (models with the same file name in different folders): every number the
/// report measured on its models, as mean ± sample standard deviation over them.
/// </summary>
internal sealed record ReportNet
{
    [JsonPropertyName("name")]
    public required string Name { get; init; }

    /// <summary>The report's names of its models, one per seed.</summary>
    [JsonPropertyName("models")]
    public required IReadOnlyList<string> Models { get; init; }

    [JsonPropertyName("clean_accuracy")]
    public required Spread CleanAccuracy { get; init; }

    /// <summary>Per sweep key, one spread per radius.</summary>
    [JsonPropertyName("sweeps")]
    public required IReadOnlyDictionary<string, Spread[]> Sweeps { get; init; }

    /// <summary>Per AutoAttack threat model ("linf:0.1:standard"), over the seeds that have it (null when some lack it).</summary>
    [JsonPropertyName("autoattack")]
    public required IReadOnlyDictionary<string, Spread> AutoAttack { get; init; }
}

/// <summary>Table 1 over seeds, as <c>transfer summarize</c> wrote it.</summary>
internal sealed record ReportSeedTransfer
{
    [JsonPropertyName("file")]
    public required string File { get; init; }

    [JsonPropertyName("seeds")]
    public required int Seeds { get; init; }

    [JsonPropertyName("control")]
    public string? Control { get; init; }

    [JsonPropertyName("robust_accuracy_attack")]
    public string? RobustAccuracyAttack { get; init; }

    [JsonPropertyName("nets")]
    public required IReadOnlyList<NetSummary> Nets { get; init; }
}
