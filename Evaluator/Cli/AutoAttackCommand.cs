using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using RobustEval.Data;
using RobustEval.Evaluator.Attacks;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Runtime;
using RobustEval.Evaluator.Transfer;
using RobustEval.Geometry;
using RobustEval.IO;

namespace RobustEval.Evaluator.Cli;

/// <summary><c>evaluator autoattack</c>: the AutoAttack ensemble on one model, resumable and shardable.</summary>
internal static class AutoAttackCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var data = new DataOptions();
        var norm = new Option<string>("--norm") { Description = "Threat model: linf, l2 or l1", Required = true };
        norm.AcceptOnlyFromAmong("l1", "l2", "linf");
        var eps = new Option<string?>("--eps") { Description = "Radius of the ball in [0,1] pixel units, e.g. 8/255 (default: l1 1.0, l2 1.5, linf 0.1)" };
        var version = new Option<string>("--version")
        {
            Description = "standard: linf/l2 APGD-CE, APGD-T (9 targets), FAB-T (9 targets), Square (5,000 queries); l1 APGD-CE (5 restarts), APGD-T, both at radii 3eps, 2eps, then eps | " +
                "plus: APGD-CE and APGD-DLR (5 restarts), FAB (5 restarts), Square, APGD-T, FAB-T | rand: APGD-CE and APGD-DLR averaging each gradient over 20 draws, " +
                "for randomized models | blackbox: Square alone (runs on models with ops that have no gradient rule) | custom: the --attacks given",
            DefaultValueFactory = _ => "standard",
        };
        var attacks = new Option<string?>("--attacks") { Description = $"With --version custom: attacks to chain, comma-separated ({string.Join(", ", AttackRegistry.Names)})" };
        var seed = new Option<int>("--seed") { Description = "Seed of every random start and query", DefaultValueFactory = _ => 1 };
        var batch = new Option<string>("--batch")
        {
            Description = "Images per model evaluation, or auto (measured on the model's gradient graph; not with --state); also the unit of work a --state file saves",
            DefaultValueFactory = _ => AutoBatch.Default.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        var output = new Option<string?>("--out", "-o") { Description = "Directory for results.json (accuracies, per-attack table, flags, a RobustBench-style entry) and adversarial.npz" };
        var state = new Option<string?>("--state")
        {
            Description = "Resumable run: progress is saved to this file after every batch; rerun with the same arguments to continue after a kill " +
                "(the result is exactly that of an uninterrupted run)",
        };
        var shard = new Option<string?>("--shard")
        {
            Description = "i/n: evaluate only the i-th of n equal, disjoint slices of the data (1 ≤ i ≤ n); combine the shards' --out directories with evaluator merge",
        };
        var command = new Command("autoattack", """
            AutoAttack (Croce & Hein 2020), the evaluation RobustBench accepts, on any ONNX classifier: each attack runs only on
            the points every earlier attack left robust, and a point counts as robust only if it survives them all. Prints clean
            accuracy, robust accuracy after each attack with the time and model evaluations it took, the final robust accuracy
            with its 95 % Wilson interval, and flags for every reason the number may flatter the model (probability outputs,
            randomized scores, zero gradients, gradient masking shown by Square, preprocessing that looks wrong, APGD not
            converged). On a model with ops that have no gradient rule, only Square runs, and the output says so.
            """);
        model.AddTo(command);
        foreach (var option in new Option[] { norm, eps, version, attacks, seed, batch, output, state, shard })
        {
            command.Options.Add(option);
        }
        data.AddTo(command);
        command.SetAction(parse =>
        {
            var threat = NormKinds.Parse(parse.GetValue(norm)!);
            float radius = parse.GetValue(eps) is { } text ? AttackOptions.ParseEps(text) : AttackRegistry.DefaultEps(threat);
            bool batchGiven = parse.GetResult(batch) is { Implicit: false };
            int? batchSize = AttackOptions.ParseBatch(parse.GetValue(batch)!, null, batchGiven);
            if (batchSize is null && parse.GetValue(state) is not null)
            {
                throw new UserErrorException("--batch auto cannot be resumed: a --state file saves whole batches, so give a number (e.g. --batch 256)");
            }
            var shardSpec = parse.GetValue(shard) is { } s ? Shard.Parse(s) : null;
            var custom = parse.GetValue(attacks)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var versionName = parse.GetValue(version)!;
            // The plan is checked once before the model loads (names, versions), so a typo costs nothing.
            AutoAttackPlan.Create(versionName, threat, radius, parse.GetValue(seed), custom, 10, []);
            var outDirectory = parse.GetValue(output);
            if (outDirectory is not null)
            {
                OutputPaths.EnsureWritableDirectory(outDirectory, "--out");
            }
            var statePath = parse.GetValue(state);
            if (statePath is not null)
            {
                if (Directory.Exists(statePath))
                {
                    throw new UserErrorException($"--state {statePath} is a directory; give a file");
                }
                OutputPaths.EnsureWritableDirectory(Path.GetDirectoryName(Path.GetFullPath(statePath))!, "--state");
            }

            var sessions = model.Sessions(parse);
            var classifier = model.Load(parse, sessions, requireGradients: false, data: data);
            AttackOptions.ParseBatch(parse.GetValue(batch)!, classifier, batchGiven);
            using var gradients = new GradientSessions(classifier, sessions);
            var plan = AutoAttackPlan.Create(versionName, threat, radius, parse.GetValue(seed), custom, classifier.Classes, gradients.GradientBlockers);
            var (all, layout) = data.Load(parse, classifier);
            var dataset = shardSpec is null ? all : all.Slice(shardSpec.First(all.Count), shardSpec.Count(all.Count), $"{all.Source}, shard {shardSpec}");
            if (dataset.Count == 0)
            {
                throw new UserErrorException($"--shard {shardSpec}: the slice is empty ({all.Count} images in {shardSpec!.Of} shards)");
            }
            int chosen = AutoBatch.Resolve(batchSize, gradients, dataset, n => Console.Error.WriteLine($"notice: {n}")).Batch;
            var fingerprint = Fingerprint(classifier, all, plan, chosen, shardSpec);
            var resumed = statePath is null ? null : AutoAttackState.Load(statePath, fingerprint);
            var run = new AutoAttack(gradients, plan, dataset, chosen, resumed);
            run.State.Fingerprint = fingerprint;
            Action? checkpoint = statePath is null ? null : () => run.State.Save(statePath);

            Console.WriteLine(Row("model", classifier.Path));
            Console.WriteLine(Row("data", $"{dataset.Count:N0} images: {dataset.Source}"));
            Console.WriteLine(Row("autoattack", plan.ToString()));
            Console.WriteLine(Row("device", $"{sessions.ActiveProvider}{(sessions.Threads > 0 ? $", {sessions.Threads} threads" : "")}"));
            if (resumed is not null)
            {
                Console.WriteLine(Row("resumed", resumed.Stage >= plan.Attacks.Count ? "all attacks were done" :
                    $"{statePath}: at {plan.Attacks[resumed.Stage].Name}, batch {resumed.Chunk + 1}"));
            }
            run.Clean();
            checkpoint?.Invoke();
            for (int stage = run.State.Stage; stage < plan.Attacks.Count; stage++)
            {
                var name = plan.Attacks[stage].Name;
                int left = run.Left(stage).Length;
                int current = stage;
                if (left == 0)
                {
                    run.RunStage(current, null, checkpoint);
                    continue;
                }
                ConsoleProgress.Run($"{name} ({left:N0} points)", left, progress =>
                {
                    run.RunStage(current, progress, checkpoint);
                    return 0;
                });
            }
            var result = run.Finish(classifier.Card?.CleanAccuracy);
            if (FeedingProbe.Check(classifier, dataset, result.Totals.CleanCorrect, result.Totals.Examples, sessions) is { } feeding)
            {
                result = result with { Totals = result.Totals with { CleanAccuracyAdvice = feeding.Advice } };
            }
            Print(result);
            if (outDirectory is not null)
            {
                Write(outDirectory, classifier, result, layout, sessions, fingerprint, shardSpec, all.Count);
                Console.WriteLine($"wrote {Path.Combine(outDirectory, "results.json")} and {Path.Combine(outDirectory, "adversarial.npz")}");
            }
            return 0;
        });
        return command;
    }

    internal static string Row(string label, string value) => $"{label,-22}{value}";

    /// <summary>What makes two runs the same run (a state file or a shard must match all of it).</summary>
    private static Dictionary<string, string> Fingerprint(Classifier classifier, Dataset all, AutoAttackPlan plan, int batch, Shard? shard)
    {
        var inv = CultureInfo.InvariantCulture;
        var fingerprint = new Dictionary<string, string>
        {
            ["model_sha256"] = TransferSetBuilder.Sha256(classifier.Path),
            ["preprocessing"] = classifier.Preprocessing.ToString(),
            ["data"] = all.Source,
            ["examples"] = all.Count.ToString(inv),
            ["version"] = plan.Version,
            ["norm"] = plan.Norm.Name(),
            ["eps"] = plan.Eps.ToString("R", inv),
            ["seed"] = plan.Seed.ToString(inv),
            ["attacks"] = string.Join("; ", plan.Attacks.Select(a => a.ToString())),
            ["batch"] = batch.ToString(inv),
            ["robusteval"] = EvaluatorInfo.Version,
        };
        if (shard is not null)
        {
            fingerprint["shard"] = shard.ToString();
        }
        return fingerprint;
    }

    internal static void Print(AutoAttackTotals totals)
    {
        int n = totals.Examples;
        string Share(int count) => $"{(double)count / n,8:P2} ({count:N0} of {n:N0})";
        Console.WriteLine(Row("clean accuracy", Share(totals.CleanCorrect)));
        foreach (var (stage, robust) in totals.Stages.Zip(totals.RobustAfterEach()))
        {
            var cost = stage.WhiteBox ? $"{stage.GradientEvaluations:N0} image gradients" : $"{stage.ForwardEvaluations:N0} forward passes";
            Console.WriteLine(Row($"after {stage.Name}", $"{Share(robust)}  {stage.Seconds,8:F1} s, {cost}"));
        }
        var (lower, upper) = Wilson.Interval(totals.Robust, n);
        Console.WriteLine(Row("robust accuracy", $"{Share(totals.Robust)}  95 % interval [{lower:P1}, {upper:P1}]"));
        foreach (var flag in totals.Flags())
        {
            Console.WriteLine($"flag {flag.Id}: {flag}");
        }
    }

    private static void Print(AutoAttackResult result) => Print(result.Totals);

    private static void Write(string directory, Classifier classifier, AutoAttackResult result, ImageLayout layout, OrtSessions sessions,
        Dictionary<string, string> fingerprint, Shard? shard, int total)
    {
        var data = result.Data;
        int n = data.Count;
        var (c, h, w) = (data.Channels, data.Height, data.Width);
        Npz.Write(Path.Combine(directory, "adversarial.npz"),
        [
            new("x", DatasetNpz.ImageArray(data.Pixels.ToArray(), n, c, h, w, layout)),
            new("x_adv", DatasetNpz.ImageArray(result.Adversarial, n, c, h, w, layout)),
            new("y", NpyArray.Of(data.Labels.ToArray(), n)),
            new("pred", NpyArray.Of(result.CleanPredictions, n)),
            new("pred_adv", NpyArray.Of(result.Predictions, n)),
            new("fooled_by", NpyArray.Of(result.FooledBy.Select(i => (long)i).ToArray(), n)),
            new("perturbation_norm", NpyArray.Of(result.Norms.Select(v => (float)v).ToArray(), n)),
        ]);
        var run = new Dictionary<string, string>(fingerprint);
        run.Remove("shard");
        var json = ResultsJson(AttackCommand.ModelJson(classifier), new JsonObject
            {
                ["source"] = data.Source,
                ["examples"] = n,
                ["layout"] = layout == ImageLayout.Nchw ? "NCHW" : "NHWC",
            }, PlanJson(result.Plan), result.Totals, run, sessions.ActiveProvider,
            shard is null ? null : new JsonObject
            {
                ["index"] = shard.Index,
                ["count"] = shard.Of,
                ["first"] = shard.First(total),
                ["examples"] = shard.Count(total),
                ["total"] = total,
            });
        AtomicFile.WriteAllText(Path.Combine(directory, "results.json"), json.ToJsonString(JsonOutput.Options) + "\n");
    }

    /// <summary>results.json of a run or of merged shards: the same fields either way.</summary>
    internal static JsonObject PlanJson(AutoAttackPlan plan) => new()
    {
        ["version"] = plan.Version,
        ["norm"] = plan.Norm.Name(),
        ["eps"] = plan.Eps,
        ["seed"] = plan.Seed,
        ["attacks"] = new JsonArray(plan.Attacks.Select(a => (JsonNode)AttackCommand.AttackJson(a)).ToArray()),
    };

    internal static JsonObject ResultsJson(JsonNode? model, JsonNode? data, JsonObject plan, AutoAttackTotals totals, IReadOnlyDictionary<string, string> run,
        string device, JsonNode? shard, JsonArray? mergedFrom = null)
    {
        var norm = NormKinds.Parse(plan["norm"]!.GetValue<string>());
        var (lower, upper) = Wilson.Interval(totals.Robust, totals.Examples);
        var (cleanLower, cleanUpper) = Wilson.Interval(totals.CleanCorrect, totals.Examples);
        var attacks = new JsonArray();
        foreach (var (stage, robust) in totals.Stages.Zip(totals.RobustAfterEach()))
        {
            var entry = JsonSerializer.SerializeToNode(stage)!.AsObject();
            entry["robust_after"] = robust;
            entry["robust_accuracy_after"] = totals.Examples == 0 ? 0 : (double)robust / totals.Examples;
            attacks.Add(entry);
        }
        var flags = totals.Flags();
        return new JsonObject
        {
            ["model"] = model?.DeepClone(),
            ["data"] = data?.DeepClone(),
            ["shard"] = shard?.DeepClone(),
            ["merged_from"] = mergedFrom,
            ["autoattack"] = plan.DeepClone(),
            ["examples"] = totals.Examples,
            ["clean_accuracy"] = totals.CleanAccuracy,
            ["clean_accuracy_interval"] = new JsonArray(cleanLower, cleanUpper),
            ["robust_accuracy"] = totals.RobustAccuracy,
            ["robust_accuracy_interval"] = new JsonArray(lower, upper),
            ["attacks"] = attacks,
            ["flags"] = JsonSerializer.SerializeToNode(flags),
            ["robustbench"] = new JsonObject
            {
                ["threat_model"] = norm switch { NormKind.Linf => "Linf", NormKind.L2 => "L2", _ => "L1" },
                ["eps"] = plan["eps"]!.DeepClone(),
                ["clean_acc"] = Math.Round(100 * totals.CleanAccuracy, 2),
                ["autoattack_acc"] = Math.Round(100 * totals.RobustAccuracy, 2),
                ["n"] = totals.Examples,
                ["attacks"] = string.Join(", ", totals.Stages.Select(a => a.Name)),
                ["version"] = plan["version"]!.DeepClone(),
                ["model_sha256"] = run.GetValueOrDefault("model_sha256"),
                ["robusteval_version"] = run.GetValueOrDefault("robusteval"),
            },
            ["run"] = new JsonObject(run.OrderBy(p => p.Key).Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
            ["totals"] = JsonSerializer.SerializeToNode(totals),
            ["device"] = device,
        };
    }
}

/// <summary>The i-th of n disjoint, contiguous slices of a data set (1-based): <c>--shard i/n</c>.</summary>
internal sealed record Shard(int Index, int Of)
{
    public static Shard Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int i)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n))
        {
            throw new UserErrorException($"--shard {text}: write i/n, e.g. 2/8");
        }
        if (n < 1 || i < 1 || i > n)
        {
            throw new UserErrorException($"--shard {text}: i must be between 1 and n (got {i} of {n})");
        }
        return new Shard(i, n);
    }

    public int First(int total) => (int)((long)(Index - 1) * total / Of);

    public int Count(int total) => (int)((long)Index * total / Of) - First(total);

    public override string ToString() => $"{Index}/{Of}";
}
