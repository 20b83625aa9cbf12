using System.Text.Json;
using System.Text.Json.Nodes;
using RobustEval.Evaluator.Attacks;

namespace RobustEval.Evaluator.Reports;

/// <summary>
/// The results.json of an <c>autoattack</c> or <c>merge</c> run, read back: the document and the totals every number
/// in it comes from. <c>merge</c> sums shards' totals; <c>report --autoattack-results</c> shows them.
/// </summary>
internal sealed record AutoAttackResultsFile(string Path, JsonObject Json, AutoAttackTotals Totals)
{
    /// <summary>The model's SHA-256 as the run recorded it ("" when absent).</summary>
    public string ModelSha256 => Json["run"]?["model_sha256"]?.GetValue<string>() ?? "";

    /// <summary>
    /// Reads <paramref name="given"/> (the file, or the folder holding results.json); anything else is a one-line
    /// error that starts with <paramref name="option"/> and says where such files come from.
    /// </summary>
    public static AutoAttackResultsFile Read(string given, string option)
    {
        var path = Directory.Exists(given) ? System.IO.Path.Combine(given, "results.json") : given;
        if (!File.Exists(path))
        {
            throw new UserErrorException($"{option}{given}: no results.json (give the --out directories of evaluator autoattack or merge)");
        }
        try
        {
            var json = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new JsonException("empty");
            if (json["totals"] is not JsonObject totals || json["run"] is not JsonObject || json["autoattack"] is not JsonObject)
            {
                throw new UserErrorException($"{option}{path}: not the results of evaluator autoattack or merge");
            }
            return new AutoAttackResultsFile(path, json, totals.Deserialize<AutoAttackTotals>() ?? throw new JsonException("no totals"));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new UserErrorException($"{option}{path}: not the results of evaluator autoattack or merge ({e.Message.Split('\n')[0]})");
        }
    }
}
