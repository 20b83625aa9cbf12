using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using RobustEval.Evaluator.Attacks;
using RobustEval.Evaluator.Reports;
using RobustEval.IO;

namespace RobustEval.Evaluator.Cli;

/// <summary><c>evaluator merge</c>: combines the results of <c>autoattack --shard i/n</c> runs into one.</summary>
internal static class MergeCommand
{
    public static Command Create()
    {
        var directories = new Argument<string[]>("directories") { Description = "The --out directories of the shards (each holding results.json)", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string?>("--out", "-o") { Description = "Directory for the merged results.json (default: print only)" };
        var command = new Command("merge", """
            Combines the results.json of autoattack runs over the shards of one data set (--shard 1/n … n/n) into one:
            counts are summed, and accuracies, their 95 % Wilson intervals and the flags computed from the sums — exactly
            what one run over all the data would report. Refuses shards of different runs, repeated shards and missing ones.
            """);
        command.Arguments.Add(directories);
        command.Options.Add(output);
        command.SetAction(parse =>
        {
            var outDirectory = parse.GetValue(output);
            var shards = parse.GetValue(directories)!.Select(Read).ToList();
            var merged = Merge(shards);
            if (outDirectory is not null)
            {
                OutputPaths.EnsureWritableDirectory(outDirectory, "--out");
            }
            var first = shards[0].Json;
            var totals = merged;
            var run = first["run"]!.AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<string>());
            var data = first["data"]!.DeepClone().AsObject();
            data["examples"] = totals.Examples;
            data["source"] = first["data"]!["source"]!.GetValue<string>().Split(", shard ")[0];
            var json = AutoAttackCommand.ResultsJson(first["model"], data, first["autoattack"]!.AsObject(), totals, run, first["device"]!.GetValue<string>(), null,
                new JsonArray(shards.Select(s => (JsonNode)s.Directory).ToArray()));
            Console.WriteLine(AutoAttackCommand.Row("merged", $"{shards.Count} shards, {totals.Examples:N0} images"));
            AutoAttackCommand.Print(totals);
            if (outDirectory is not null)
            {
                AtomicFile.WriteAllText(Path.Combine(outDirectory, "results.json"), json.ToJsonString(JsonOutput.Options) + "\n");
                Console.WriteLine($"wrote {Path.Combine(outDirectory, "results.json")}");
            }
            return 0;
        });
        return command;
    }

    private sealed record ShardResult(string Directory, JsonObject Json, int Index, int Of, AutoAttackTotals Totals);

    private static ShardResult Read(string directory)
    {
        var file = AutoAttackResultsFile.Read(directory, "");
        if (file.Json["shard"] is not JsonObject shard)
        {
            throw new UserErrorException($"{file.Path}: a run over all the data, not a shard (--shard i/n); nothing to merge it with");
        }
        return new ShardResult(directory, file.Json, shard["index"]!.GetValue<int>(), shard["count"]!.GetValue<int>(), file.Totals);
    }

    /// <summary>The shards' summed totals, after checking they are the n distinct shards of one run.</summary>
    private static AutoAttackTotals Merge(IReadOnlyList<ShardResult> shards)
    {
        var first = shards[0];
        foreach (var shard in shards.Skip(1))
        {
            var a = first.Json["run"]!.AsObject();
            var b = shard.Json["run"]!.AsObject();
            var differences = a.Select(p => p.Key).Union(b.Select(p => p.Key))
                .Where(k => a[k]?.ToJsonString() != b[k]?.ToJsonString())
                .Select(k => $"{k}: {a[k]?.ToJsonString() ?? "(none)"} vs {b[k]?.ToJsonString() ?? "(none)"}")
                .ToList();
            if (differences.Count > 0)
            {
                throw new UserErrorException($"{first.Directory} and {shard.Directory} are shards of different runs ({string.Join("; ", differences)})");
            }
            if (shard.Of != first.Of)
            {
                throw new UserErrorException($"{first.Directory} is a shard of {first.Of} but {shard.Directory} of {shard.Of}");
            }
        }
        var repeated = shards.GroupBy(s => s.Index).FirstOrDefault(g => g.Count() > 1);
        if (repeated is not null)
        {
            throw new UserErrorException($"shard {repeated.Key}/{first.Of} is given twice ({string.Join(", ", repeated.Select(s => s.Directory))})");
        }
        var missing = Enumerable.Range(1, first.Of).Except(shards.Select(s => s.Index)).ToList();
        if (missing.Count > 0)
        {
            throw new UserErrorException($"shards {string.Join(", ", missing.Select(i => $"{i}/{first.Of}"))} are missing; merge needs all {first.Of}");
        }
        return shards.OrderBy(s => s.Index).Skip(1).Aggregate(shards.OrderBy(s => s.Index).First().Totals, (sum, s) => sum.Add(s.Totals));
    }
}
