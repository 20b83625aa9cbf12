using System.Text.Json;
using System.Text.Json.Nodes;
using RobustEval.Tests;

namespace RobustEval.Evaluator.Tests;

/// <summary>
/// <c>transfer summarize</c>: Table 1 over independent seeds, and the README's seed table against the committed
/// results of <c>reports/reproduce.sh mnist --seeds</c> and <c>… fashion-mnist --seeds</c>.
/// </summary>
[TestClass]
public sealed class SeedSummaryTests
{
    private static (int Code, string Output, string Error) Run(params string[] args) => EvaluatorRunner.Run(args);

    /// <summary>A seed's folder as transfer eval --out and autoattack --out leave it, written by hand.</summary>
    private static void WriteSeed(string folder, (string Name, double Clean, double Transfer, double Linf)[] nets, int? robustOf1000 = null)
    {
        Directory.CreateDirectory(Path.Combine(folder, "transfer"));
        var results = new JsonArray(nets.Select(n => (JsonNode)new JsonObject
        {
            ["model"] = n.Name + ".onnx", ["name"] = n.Name, ["clean_accuracy"] = n.Clean, ["clean_examples"] = 2004,
            ["transfer_accuracy"] = n.Transfer, ["per_norm"] = new JsonObject { ["linf"] = n.Linf }, ["examples"] = 800,
        }).ToArray());
        File.WriteAllText(Path.Combine(folder, "transfer", "results.json"), new JsonObject { ["results"] = results }.ToJsonString());
        if (robustOf1000 is { } robust)
        {
            foreach (var net in nets)
            {
                var directory = Path.Combine(folder, net.Name, "autoattack");
                Directory.CreateDirectory(directory);
                var json = new JsonObject
                {
                    ["autoattack"] = new JsonObject { ["version"] = "standard", ["norm"] = "linf", ["eps"] = 0.1 },
                    ["run"] = new JsonObject(),
                    ["totals"] = new JsonObject { ["examples"] = 1000, ["clean_correct"] = 980, ["robust"] = robust, ["classes"] = 10, ["attacks"] = new JsonArray() },
                };
                File.WriteAllText(Path.Combine(directory, "results.json"), json.ToJsonString());
            }
        }
    }

    [TestMethod]
    public void EveryCellIsTheMeanAndSampleStandardDeviationOverTheSeeds()
    {
        using var dir = new TempDirectory();
        WriteSeed(dir.File("seed-1"), [("baseline", 0.97, 0.0, 0.0), ("control", 0.98, 0.40, 0.30), ("robust", 0.98, 0.60, 0.50)], robustOf1000: 100);
        WriteSeed(dir.File("seed-2"), [("baseline", 0.97, 0.0, 0.0), ("control", 0.98, 0.50, 0.30), ("robust", 0.98, 0.80, 0.60)], robustOf1000: 200);
        WriteSeed(dir.File("seed-3"), [("baseline", 0.97, 0.0, 0.0), ("control", 0.98, 0.30, 0.30), ("robust", 0.98, 0.70, 0.70)], robustOf1000: 600);
        var (code, output, error) = Run("transfer", "summarize", dir.File("seed-1"), dir.File("seed-2"), dir.File("seed-3"), "--control", "control", "--out", dir.File("summary"));
        Assert.AreEqual(0, code, error);

        using var json = JsonDocument.Parse(File.ReadAllText(dir.File("summary/results.json")));
        var robust = json.RootElement.GetProperty("nets").EnumerateArray().Single(n => n.GetProperty("name").GetString() == "robust");
        // 0.6, 0.8, 0.7: mean 0.7, sample variance (0.01 + 0.01 + 0) / 2 = 0.01.
        Assert.AreEqual(0.7, robust.GetProperty("transfer_accuracy").GetProperty("mean").GetDouble(), 1e-12);
        Assert.AreEqual(0.1, robust.GetProperty("transfer_accuracy").GetProperty("std").GetDouble(), 1e-12);
        // Gains seed by seed: 0.2, 0.3, 0.4 → 0.3 ± 0.1 (not the difference of the means' spreads).
        Assert.AreEqual(0.3, robust.GetProperty("gain_over_control").GetProperty("mean").GetDouble(), 1e-12);
        Assert.AreEqual(0.1, robust.GetProperty("gain_over_control").GetProperty("std").GetDouble(), 1e-12);
        // 0.1, 0.2, 0.6: mean 0.3, variance (0.04 + 0.01 + 0.09) / 2 = 0.07.
        Assert.AreEqual(0.3, robust.GetProperty("robust_accuracy").GetProperty("mean").GetDouble(), 1e-12);
        Assert.AreEqual(Math.Sqrt(0.07), robust.GetProperty("robust_accuracy").GetProperty("std").GetDouble(), 1e-12);
        Assert.AreEqual(JsonValueKind.Null, json.RootElement.GetProperty("nets")[1].GetProperty("gain_over_control").ValueKind, "the control has no gain over itself");

        StringAssert.Contains(output, "| robust | 98.0 ± 0.0 | 70.0 ± 10.0 | 60.0 ± 10.0 | +30.0 ± 10.0 | 30.0 ± 26.5 |");
        StringAssert.Contains(output, "AutoAttack ℓ∞ ε = 0.1 (standard, n = 1,000)");
        Assert.AreEqual(File.ReadAllText(dir.File("summary/table.md")), output[..output.IndexOf("mean ±", StringComparison.Ordinal)]);
    }

    [TestMethod]
    public void SeedsThatDoNotMatchAreRefused()
    {
        using var dir = new TempDirectory();
        WriteSeed(dir.File("a"), [("baseline", 0.97, 0.0, 0.0), ("robust", 0.98, 0.6, 0.5)]);
        WriteSeed(dir.File("b"), [("baseline", 0.97, 0.0, 0.0), ("robust-l2", 0.98, 0.6, 0.5)]);
        WriteSeed(dir.File("c"), [("baseline", 0.97, 0.0, 0.0), ("robust", 0.98, 0.6, 0.5)], robustOf1000: 10);
        Directory.CreateDirectory(dir.File("empty"));

        var (code, _, error) = Run("transfer", "summarize", dir.File("a"), dir.File("b"));
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "the seeds do not hold the same nets (robust, robust-l2 in some only)");
        (code, _, error) = Run("transfer", "summarize", dir.File("a"), dir.File("c"));
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "AutoAttack was run with other settings");
        (code, _, error) = Run("transfer", "summarize", dir.File("a"), "--control", "control");
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "--control control: no such net in the results (nets: baseline, robust)");
        File.WriteAllText(dir.File("c/transfer/results.json"), """{"results": [{"name": 3, "examples": 5, "transfer_accuracy": 0.5}]}""");
        (code, _, error) = Run("transfer", "summarize", dir.File("c"));
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "not the results of transfer eval");
        File.WriteAllText(dir.File("c/transfer/results.json"), """{"results": [{"name": "x", "examples": 5}]}""");
        (code, _, error) = Run("transfer", "summarize", dir.File("c"));
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "a result without transfer_accuracy");
        (code, _, error) = Run("transfer", "summarize", dir.File("empty"), "--out", dir.File("out"));
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "no transfer/results.json");
        Assert.IsFalse(Directory.Exists(dir.File("out")), "nothing written");
    }

    [TestMethod]
    [DataRow("mnist")]
    [DataRow("fashion-mnist")]
    public void TheReadmeSeedTableIsTheCommittedRun(string data)
    {
        // Each cell of the README's table, recomputed here from the per-seed values in the committed results.json.
        var results = Repository.Path("reports", $"{data}-seeds", "results.json");
        using var json = JsonDocument.Parse(File.ReadAllText(results));
        var readme = File.ReadAllText(Repository.Path("README.md"));
        int start = readme.IndexOf($"<!-- seeds: reports/{data}-seeds/results.json -->", StringComparison.Ordinal);
        Assert.IsGreaterThanOrEqualTo(0, start, "the README marks the table it quotes");
        var rows = readme[start..].Split('\n').Skip(1).TakeWhile(l => l.StartsWith('|')).ToList();
        var nets = json.RootElement.GetProperty("nets").EnumerateArray().ToList();
        Assert.HasCount(nets.Count + 2, rows, "a header, a rule and a row per net");
        Assert.IsTrue(nets.Any(n => n.GetProperty("name").GetString()!.EndsWith("-control", StringComparison.Ordinal)), "the control row exists");
        Assert.IsGreaterThanOrEqualTo(3, json.RootElement.GetProperty("seeds").GetInt32(), "three seeds at least");

        static string Cell(JsonElement spread)
        {
            var values = spread.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            double mean = values.Sum() / values.Length;
            double std = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Length - 1));
            Assert.AreEqual(mean, spread.GetProperty("mean").GetDouble(), 1e-12);
            Assert.AreEqual(std, spread.GetProperty("std").GetDouble(), 1e-12);
            return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{100 * mean:F1} ± {100 * std:F1}");
        }
        foreach (var net in nets)
        {
            var name = net.GetProperty("name").GetString()!;
            var row = rows.SingleOrDefault(r => r.Split('|')[1].Trim() == name);
            Assert.IsNotNull(row, $"README row for {name}");
            var cells = row.Split('|').Select(c => c.Trim()).ToArray();
            Assert.AreEqual(Cell(net.GetProperty("clean_accuracy")), cells[2], $"{name}: clean");
            Assert.AreEqual(Cell(net.GetProperty("transfer_accuracy")), cells[3], $"{name}: 𝒜");
            Assert.IsTrue(net.TryGetProperty("robust_accuracy", out var robust) && robust.ValueKind != JsonValueKind.Null, $"{name}: AutoAttack was run");
            Assert.AreEqual(Cell(robust), cells[^2], $"{name}: AutoAttack");
            if (net.GetProperty("gain_over_control") is { ValueKind: JsonValueKind.Object } gain)
            {
                Assert.AreEqual((gain.GetProperty("mean").GetDouble() >= 0 ? "+" : "") + Cell(gain), cells[^3], $"{name}: gain over the control");
            }
        }

        // The committed report over the seeds shows this same summary, and each of its nets over every seed.
        using var report = JsonDocument.Parse(File.ReadAllText(Repository.Path("reports", $"{data}-seeds", "report", "results.json")));
        var shown = report.RootElement.GetProperty("seed_transfer");
        Assert.IsTrue(JsonNode.DeepEquals(JsonNode.Parse(json.RootElement.GetProperty("nets").GetRawText()), JsonNode.Parse(shown.GetProperty("nets").GetRawText())),
            "the report's Table 1 over seeds is the summary's");
        var replicates = report.RootElement.GetProperty("replicates").EnumerateArray().ToList();
        CollectionAssert.AreEquivalent(nets.Select(n => n.GetProperty("name").GetString()).ToArray(), replicates.Select(r => r.GetProperty("name").GetString()).ToArray());
        foreach (var net in replicates)
        {
            Assert.AreEqual(json.RootElement.GetProperty("seeds").GetInt32(), net.GetProperty("models").GetArrayLength(), "every seed of every net is in the report");
        }
    }
}
