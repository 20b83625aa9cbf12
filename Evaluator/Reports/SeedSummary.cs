using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Reports;

/// <summary>One number measured once per seed: its mean and sample standard deviation (n − 1; null for one seed).</summary>
internal sealed record Spread
{
    [JsonPropertyName("mean")]
    public required double Mean { get; init; }

    [JsonPropertyName("std")]
    public double? Std { get; init; }

    [JsonPropertyName("values")]
    public required IReadOnlyList<double> Values { get; init; }

    public static Spread Of(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
        {
            throw new ArgumentException("no values", nameof(values));
        }
        double mean = values.Average();
        double? std = values.Count > 1 ? Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1)) : null;
        return new Spread { Mean = mean, Std = std, Values = values };
    }

    /// <summary>"74.5 ± 2.1" in percent (one decimal); "74.5" for one seed.</summary>
    public string Percent() => Std is { } s
        ? string.Create(CultureInfo.InvariantCulture, $"{100 * Mean:F1} ± {100 * s:F1}")
        : string.Create(CultureInfo.InvariantCulture, $"{100 * Mean:F1}");
}

/// <summary>What one seed's run measured for one net: its Table 1 row and, when it was run, AutoAttack.</summary>
internal sealed record SeedMeasurement(double? Clean, double Transfer, IReadOnlyDictionary<string, double> PerNorm, double? Robust);

/// <summary>One net across the seeds.</summary>
internal sealed record NetSummary
{
    [JsonPropertyName("name")]
    public required string Name { get; init; }

    [JsonPropertyName("seeds")]
    public required int Seeds { get; init; }

    [JsonPropertyName("clean_accuracy")]
    public Spread? CleanAccuracy { get; init; }

    [JsonPropertyName("transfer_accuracy")]
    public required Spread TransferAccuracy { get; init; }

    [JsonPropertyName("per_norm")]
    public required IReadOnlyDictionary<string, Spread> PerNorm { get; init; }

    /// <summary>Transfer accuracy minus the control's, seed by seed (null for the control itself or without one).</summary>
    [JsonPropertyName("gain_over_control")]
    public Spread? GainOverControl { get; init; }

    [JsonPropertyName("robust_accuracy")]
    public Spread? RobustAccuracy { get; init; }
}

/// <summary>
/// Table 1 over independent seeds: each seed is a whole run (its own baseline, transfer set and nets), and every cell
/// is summarised as mean ± sample standard deviation over the seeds. With a control — a second standard net trained
/// from another seed — each net's gain over it is computed seed by seed, so the floor any independently trained net
/// reaches on 𝒜 is not credited to robust training.
/// </summary>
internal static class SeedSummary
{
    public static IReadOnlyList<NetSummary> Summarize(IReadOnlyList<IReadOnlyDictionary<string, SeedMeasurement>> seeds, string? control)
    {
        if (seeds.Count == 0)
        {
            throw new UserErrorException("no seeds to summarise");
        }
        var names = seeds[0].Keys.ToList();
        for (int s = 1; s < seeds.Count; s++)
        {
            var missing = names.Except(seeds[s].Keys).Concat(seeds[s].Keys.Except(names)).ToList();
            if (missing.Count > 0)
            {
                throw new UserErrorException($"the seeds do not hold the same nets ({string.Join(", ", missing)} in some only): a cell's spread would mix different seeds");
            }
        }
        if (control is not null && !names.Contains(control))
        {
            throw new UserErrorException($"--control {control}: no such net in the results (nets: {string.Join(", ", names)})");
        }
        var norms = seeds.SelectMany(s => s.Values).SelectMany(m => m.PerNorm.Keys).Distinct().ToList();
        return names.Select(name =>
        {
            var values = seeds.Select(s => s[name]).ToList();
            bool allClean = values.All(v => v.Clean is not null);
            bool allRobust = values.All(v => v.Robust is not null);
            return new NetSummary
            {
                Name = name,
                Seeds = seeds.Count,
                CleanAccuracy = allClean ? Spread.Of(values.Select(v => v.Clean!.Value).ToList()) : null,
                TransferAccuracy = Spread.Of(values.Select(v => v.Transfer).ToList()),
                PerNorm = norms.Where(n => values.All(v => v.PerNorm.ContainsKey(n)))
                    .ToDictionary(n => n, n => Spread.Of(values.Select(v => v.PerNorm[n]).ToList())),
                GainOverControl = control is null || name == control
                    ? null
                    : Spread.Of(seeds.Select(s => s[name].Transfer - s[control].Transfer).ToList()),
                RobustAccuracy = allRobust ? Spread.Of(values.Select(v => v.Robust!.Value).ToList()) : null,
            };
        }).ToList();
    }

    /// <summary>The summary as a Markdown table, in percent, mean ± standard deviation.</summary>
    public static string Markdown(IReadOnlyList<NetSummary> nets, string? robustHeading)
    {
        var norms = nets.SelectMany(n => n.PerNorm.Keys).Distinct().ToList();
        bool gains = nets.Any(n => n.GainOverControl is not null);
        bool robust = nets.Any(n => n.RobustAccuracy is not null);
        var text = new StringBuilder();
        text.Append("| net | clean | 𝒜 | ").Append(string.Concat(norms.Select(n => $"𝒜 {NormKinds.Parse(n).Symbol()} | ")))
            .Append(gains ? "gain over control | " : "").Append(robust ? $"{robustHeading ?? "robust"} | " : "").Append('\n');
        text.Append("|---|").Append(string.Concat(Enumerable.Repeat("---:|", 2 + norms.Count + (gains ? 1 : 0) + (robust ? 1 : 0)))).Append('\n');
        foreach (var net in nets)
        {
            text.Append($"| {net.Name} | {net.CleanAccuracy?.Percent() ?? "—"} | {net.TransferAccuracy.Percent()} | ")
                .Append(string.Concat(norms.Select(n => $"{(net.PerNorm.TryGetValue(n, out var s) ? s.Percent() : "—")} | ")));
            if (gains)
            {
                text.Append(net.GainOverControl is { } g ? (g.Mean >= 0 ? "+" : "") + g.Percent() : "(control)").Append(" | ");
            }
            if (robust)
            {
                text.Append(net.RobustAccuracy?.Percent() ?? "—").Append(" | ");
            }
            text.Append('\n');
        }
        return string.Join('\n', text.ToString().Split('\n').Select(line => line.TrimEnd()));
    }

    public static JsonObject Json(IReadOnlyList<string> runs, string? control, string? robustHeading, IReadOnlyList<int> transferExamples, IReadOnlyList<NetSummary> nets) => new()
    {
        ["runs"] = new JsonArray(runs.Select(r => (JsonNode)r).ToArray()),
        ["seeds"] = runs.Count,
        ["statistic"] = "mean and sample standard deviation (n − 1) over the seeds; accuracies as fractions",
        ["control"] = control,
        ["robust_accuracy_attack"] = robustHeading,
        ["transfer_examples"] = new JsonArray(transferExamples.Select(n => (JsonNode)n).ToArray()),
        ["nets"] = JsonSerializer.SerializeToNode(nets),
    };
}
