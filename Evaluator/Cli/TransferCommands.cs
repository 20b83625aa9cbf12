using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using RobustEval.Cli;
using RobustEval.Data;
using RobustEval.Evaluator.Attacks;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Runtime;
using RobustEval.Evaluator.Reports;
using RobustEval.Evaluator.Transfer;
using RobustEval.Geometry;
using RobustEval.IO;

namespace RobustEval.Evaluator.Cli;

/// <summary><c>transfer-set build</c> and <c>transfer eval</c>: Shaham et al.'s 𝒜 sets and Tables 1–2.</summary>
internal static class TransferCommands
{
    public static Command CreateBuild()
    {
        var source = new Option<string>("--source") { Description = "The model the examples are made against (the baseline)", Required = true };
        var data = new Option<string>("--data") { Description = "Test data: mnist-test, fashion-mnist-test, cifar10-test or an .npz", Required = true };
        var norms = new Option<string?>("--norms") { Description = "Norms to use, in this order, e.g. l1,l2,linf (default: those --eps names)" };
        var eps = new Option<string>("--eps") { Description = "Radius per norm, e.g. l1=1.0,l2=1.5,linf=0.1 or linf=8/255 (pixel units)", Required = true };
        var attack = new AttackOptions(defaultAttack: "fgm", withNorm: false);
        var limit = new Option<int?>("--limit") { Description = "Use only the first N test images" };
        var output = new Option<string>("--out", "-o") { Description = "The set's .npz (its manifest goes beside it as .json)", DefaultValueFactory = _ => "transfer-set.npz" };
        var device = new Option<string>("--device") { Description = "auto | cpu | cuda", DefaultValueFactory = _ => "auto" };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0: all)", DefaultValueFactory = _ => 0 };
        var build = new Command("build", """
            Build a transfer set (Shaham et al.'s A_mnist): from the test points the source classifies correctly, the
            examples per norm that the source misclassifies — by default the single-step eq. 11 examples (--attack fgm, clipped
            to [0,1]); any attack can be named. Writes OUT.npz (x_adv, x, y, source_index, norm 0/1/2 for l1/l2/linf, eps) and
            OUT.json (source model and SHA-256, data, radii, counts).
            """)
        {
            source, data, norms, eps, limit, output, device, threads,
        };
        attack.AddTo(build);
        var preprocessing = new PreprocessingOptions();
        preprocessing.AddTo(build);
        build.SetAction(parse =>
        {
            var radii = ParseRadii(parse.GetValue(norms), parse.GetValue(eps)!);
            // --pixels describes the l1 steps only; the other norms' attacks do not take it.
            if (parse.GetValue(attack.Pixels) is not null && radii.All(r => r.Item1 != NormKind.L1))
            {
                throw new UserErrorException("--pixels applies to l1 steps only, and --eps names no l1 radius");
            }
            var request = attack.Request(parse, radii[0].Item2, null, radii[0].Item1);
            var attacks = radii.Select(r => AttackRegistry.Resolve(request with { Norm = r.Item1, Eps = r.Item2, Pixels = r.Item1 == NormKind.L1 ? request.Pixels : null }))
                .ToList();
            var path = parse.GetValue(output)!;
            if (!path.EndsWith(".npz", StringComparison.OrdinalIgnoreCase))
            {
                throw new UserErrorException($"--out {path}: a transfer set is an .npz");
            }
            OutputPaths.EnsureWritableDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!, "--out");
            var sessions = new OrtSessions(OrtSessions.ParseDevice(parse.GetValue(device)!), parse.GetValue(threads), n => Console.Error.WriteLine($"notice: {n}"));
            var spec = parse.GetValue(data)!;
            var classifier = ClassifierLoader.Load(parse.GetValue(source)!, preprocessing.Resolve(parse), sessions,
                size: preprocessing.Size(parse), sizeFromData: () => InputSize.FromData(spec));
            var (dataset, _) = classifier.LoadData(spec, notice: DataOptions.Notice);
            if (parse.GetValue(limit) is { } n)
            {
                dataset = dataset.Take(Math.Max(n, 1));
            }
            classifier.CheckData(dataset);
            using var session = new GradientSessions(classifier, sessions);
            var set = ConsoleProgress.Run("building", dataset.Count * radii.Count, progress =>
            {
                int finished = 0;
                NormKind? current = null;
                return TransferSetBuilder.Build(session, dataset, StoredSpec(spec, path), attacks, attack.ResolveBatch(parse, session, dataset).Batch,
                    new CallbackProgress<(NormKind Norm, double Done)>(p =>
                    {
                        if (current != p.Norm)
                        {
                            finished += current is null ? 0 : dataset.Count;
                            current = p.Norm;
                        }
                        progress.Report(finished + p.Done);
                    }));
            });
            set.Save(path);
            foreach (var count in set.Manifest.Norms)
            {
                var kind = NormKinds.Parse(count.Norm);
                Console.WriteLine($"{kind.Symbol()} eps {count.Eps.ToString("G4", CultureInfo.InvariantCulture)}: {count.Found:N0} of {count.Tried:N0} correctly classified images fooled the source" +
                    (kind == NormKind.L1 && set.Manifest.Pixels == 1 ? " (single-pixel examples are rare)" : ""));
            }
            Console.WriteLine($"wrote {path} ({set.Count:N0} examples) and {TransferSet.ManifestPath(path)}");
            return 0;
        });
        return new Command("transfer-set", "Build transfer sets of adversarial examples") { build };
    }

    public static Command CreateEval()
    {
        var set = new Option<string>("--set") { Description = "Transfer set .npz (with its .json manifest)", Required = true };
        var models = new Argument<string[]>("models") { Description = "ONNX classifiers (each may carry its preprocessing in MODEL.onnx.json)", Arity = ArgumentArity.OneOrMore };
        var data = new Option<string?>("--data") { Description = "Clean test data for the clean-accuracy column (default: the data the set was built from)" };
        var output = new Option<string?>("--out", "-o") { Description = "Directory for results.json" };
        var device = new Option<string>("--device") { Description = "auto | cpu | cuda", DefaultValueFactory = _ => "auto" };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0: all)", DefaultValueFactory = _ => 0 };
        var eval = new Command("eval", """
            Each model's accuracy on a transfer set, overall and per norm, beside its clean test accuracy (the shape of
            Shaham et al.'s Tables 1-2). Third-party models: give their preprocessing with --input-range, --mean, --std,
            --layout, --label-map (applied to every model named), or put it in MODEL.onnx.json next to each.
            """)
        {
            models, set, data, output, device, threads,
        };
        var preprocessing = new PreprocessingOptions();
        preprocessing.AddTo(eval);
        eval.SetAction(parse =>
        {
            var transfer = TransferSet.Load(parse.GetValue(set)!);
            var outDirectory = parse.GetValue(output);
            if (outDirectory is not null)
            {
                OutputPaths.EnsureWritableDirectory(outDirectory, "--out");
            }
            var sessions = new OrtSessions(OrtSessions.ParseDevice(parse.GetValue(device)!), parse.GetValue(threads), n => Console.Error.WriteLine($"notice: {n}"));
            // The set's own data: only the images it was built from (its --limit), found relative to the manifest.
            var cleanSpec = parse.GetValue(data) ?? ResolveStoredSpec(transfer.Manifest.Data, parse.GetValue(set)!);
            int? cleanLimit = parse.GetValue(data) is null ? transfer.Manifest.DataExamples : null;
            var results = new List<TransferResult>();
            foreach (var path in parse.GetValue(models)!)
            {
                // Transfer accuracy needs predictions only: models without gradient rules can be compared too.
                var classifier = ClassifierLoader.Load(path, preprocessing.Resolve(parse), sessions, requireGradients: false,
                    size: preprocessing.Size(parse), sizeFromData: () => InputSize.FromData(cleanSpec));
                TransferEvaluation.CheckLabels(classifier, transfer);
                Dataset? clean = null;
                try
                {
                    clean = classifier.LoadData(cleanSpec, notice: DataOptions.Notice).Data;
                    if (cleanLimit is { } n && n < clean.Count)
                    {
                        clean = clean.Take(n);
                    }
                }
                catch (DataUnavailableException e)
                {
                    Console.Error.WriteLine($"notice: no clean accuracy for {path}: {e.Message}");
                }
                using var session = new PredictionSession(classifier, sessions);
                var result = TransferEvaluation.Evaluate(session, transfer, clean);
                if (clean is not null && result.CleanAccuracy is { } accuracy && FeedingProbe.Check(classifier, clean, accuracy, sessions) is { } feeding)
                {
                    Console.WriteLine($"warning: {Path.GetFileName(path)}: {feeding}");
                    result = result with { Warnings = [feeding] };
                }
                results.Add(result);
            }
            var norms = transfer.Manifest.Norms.Select(n => n.Norm).ToArray();
            Console.WriteLine($"transfer set {parse.GetValue(set)}: {transfer.Count:N0} examples from {Path.GetFileName(transfer.Manifest.SourceModel)}");
            Console.WriteLine($"{"model",-28}{"clean",9}{"transfer",10}{string.Concat(norms.Select(n => $"{NormKinds.Parse(n).Symbol(),9}"))}");
            foreach (var r in results)
            {
                Console.WriteLine($"{r.Name,-28}{(r.CleanAccuracy is { } c ? c.ToString("P2", CultureInfo.InvariantCulture) : "—"),9}{r.TransferAccuracy,10:P2}" +
                    string.Concat(norms.Select(n => r.PerNorm.TryGetValue(n, out var a) ? $"{a,9:P2}" : $"{"—",9}")));
            }
            if (outDirectory is not null)
            {
                var json = new JsonObject
                {
                    ["set"] = parse.GetValue(set),
                    ["manifest"] = JsonSerializer.SerializeToNode(transfer.Manifest),
                    ["clean_data"] = cleanSpec,
                    ["results"] = JsonSerializer.SerializeToNode(results),
                };
                AtomicFile.WriteAllText(Path.Combine(outDirectory, "results.json"), json.ToJsonString(JsonOutput.Options) + "\n");
                Console.WriteLine($"wrote {Path.Combine(outDirectory, "results.json")}");
            }
            return 0;
        });
        return new Command("transfer", "Check how adversarial examples transfer to other models") { eval, CreateSummarize() };
    }

    private static Command CreateSummarize()
    {
        var runs = new Argument<string[]>("runs") { Description = "One folder per seed, each holding transfer/results.json (transfer eval --out) and, optionally, NET/autoattack/results.json per net", Arity = ArgumentArity.OneOrMore };
        var control = new Option<string?>("--control") { Description = "The control net's name (a second standard net from another seed): each net's gain over it is computed seed by seed" };
        var output = new Option<string?>("--out", "-o") { Description = "Directory for results.json and table.md (default: print only)" };
        var command = new Command("summarize", """
            Table 1 over independent seeds: reads each seed's transfer eval results (and AutoAttack results where they
            exist) and gives every cell as mean ± sample standard deviation over the seeds, with each net's gain over
            the control. Each seed should be a whole run — its own baseline, transfer set and nets — as
            reports/reproduce.sh DATA --seeds 1,2,3 makes them.
            """)
        {
            runs, control, output,
        };
        command.SetAction(parse =>
        {
            var outDirectory = parse.GetValue(output);
            if (outDirectory is not null)
            {
                OutputPaths.EnsureWritableDirectory(outDirectory, "--out");
            }
            var folders = parse.GetValue(runs)!;
            var seeds = new List<IReadOnlyDictionary<string, SeedMeasurement>>();
            var examples = new List<int>();
            string? attack = null;
            foreach (var folder in folders)
            {
                var (measurements, count, heading) = ReadSeed(folder);
                if (seeds.Count > 0 && heading != attack)
                {
                    throw new UserErrorException($"{folder}: AutoAttack was run with other settings ({heading ?? "none"}) than in {folders[0]} ({attack ?? "none"})");
                }
                attack = heading;
                seeds.Add(measurements);
                examples.Add(count);
            }
            var nets = SeedSummary.Summarize(seeds, parse.GetValue(control));
            var table = SeedSummary.Markdown(nets, attack);
            Console.Write(table);
            Console.WriteLine($"mean ± standard deviation over {folders.Length} seed{(folders.Length == 1 ? "" : "s")}, in percent; 𝒜: {string.Join(", ", examples.Select(n => n.ToString("N0", CultureInfo.InvariantCulture)))} examples");
            if (outDirectory is not null)
            {
                var json = SeedSummary.Json(folders, parse.GetValue(control), attack, examples, nets);
                AtomicFile.WriteAllText(Path.Combine(outDirectory, "results.json"), json.ToJsonString(JsonOutput.Options) + "\n");
                AtomicFile.WriteAllText(Path.Combine(outDirectory, "table.md"), table);
                Console.WriteLine($"wrote {Path.Combine(outDirectory, "results.json")} and table.md");
            }
            return 0;
        });
        return command;
    }

    /// <summary>One seed's folder: its Table 1 rows, the transfer set's size, and the AutoAttack settings if it was run.</summary>
    private static (Dictionary<string, SeedMeasurement> Nets, int Examples, string? Attack) ReadSeed(string folder)
    {
        try
        {
            return ReadSeedResults(folder);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new UserErrorException($"{folder}: not the results of transfer eval and autoattack ({e.Message.Split('\n')[0]})");
        }
    }

    private static (Dictionary<string, SeedMeasurement> Nets, int Examples, string? Attack) ReadSeedResults(string folder)
    {
        var path = Path.Combine(folder, "transfer", "results.json");
        if (!File.Exists(path))
        {
            throw new UserErrorException($"{folder}: no transfer/results.json (write it with transfer eval --out {Path.Combine(folder, "transfer")})");
        }
        JsonArray results;
        try
        {
            results = JsonNode.Parse(File.ReadAllText(path))?["results"] as JsonArray ?? throw new JsonException("no results");
        }
        catch (JsonException e)
        {
            throw new UserErrorException($"{path}: not the results of transfer eval ({e.Message.Split('\n')[0]})");
        }
        var nets = new Dictionary<string, SeedMeasurement>();
        int examples = 0;
        string? attack = null;
        UserErrorException Malformed(string what) => new($"{path}: not the results of transfer eval (a result without {what})");
        foreach (var result in results.OfType<JsonObject>())
        {
            var name = (result["name"] as JsonValue)?.GetValue<string>() ?? throw Malformed("a name");
            examples = (result["examples"] as JsonValue)?.GetValue<int>() ?? throw Malformed("examples");
            var transfer = (result["transfer_accuracy"] as JsonValue)?.GetValue<double>() ?? throw Malformed("transfer_accuracy");
            double? robust = null;
            var attackDirectory = Path.Combine(folder, name, "autoattack");
            if (Directory.Exists(attackDirectory))
            {
                var file = AutoAttackResultsFile.Read(attackDirectory, "");
                var settings = file.Json["autoattack"]!;
                var heading = $"AutoAttack {NormKinds.Parse(settings["norm"]!.GetValue<string>()).Symbol()} ε = {settings["eps"]!.GetValue<double>().ToString("G4", CultureInfo.InvariantCulture)} " +
                    $"({settings["version"]!.GetValue<string>()}, n = {file.Totals.Examples:N0})";
                if (attack is not null && heading != attack)
                {
                    throw new UserErrorException($"{attackDirectory}: AutoAttack was run with other settings ({heading}) than for the other nets ({attack})");
                }
                attack = heading;
                robust = file.Totals.RobustAccuracy;
            }
            nets[name] = new SeedMeasurement(
                (result["clean_accuracy"] as JsonValue)?.GetValue<double>(),
                transfer,
                (result["per_norm"] as JsonObject ?? []).ToDictionary(p => p.Key, p => p.Value!.GetValue<double>()),
                robust);
        }
        if (attack is not null && nets.Values.Any(n => n.Robust is null))
        {
            throw new UserErrorException($"{folder}: AutoAttack results for some nets only ({string.Join(", ", nets.Where(n => n.Value.Robust is null).Select(n => n.Key))} missing)");
        }
        return (nets, examples, attack);
    }

    /// <summary>A data path as a manifest at <paramref name="setPath"/> records it: relative to the manifest's folder (named splits as they are).</summary>
    internal static string StoredSpec(string spec, string setPath) =>
        DatasetCatalog.IsNamedSplit(spec) || !(File.Exists(spec) || Directory.Exists(spec))
            ? spec
            : Path.GetRelativePath(Path.GetDirectoryName(Path.GetFullPath(setPath))!, Path.GetFullPath(spec)).Replace('\\', '/');

    /// <summary>
    /// The data path a manifest recorded, found from anywhere: relative to the manifest's folder (how sets are
    /// written now), else as written (older sets recorded it relative to where they were built).
    /// </summary>
    internal static string ResolveStoredSpec(string spec, string setPath)
    {
        if (DatasetCatalog.IsNamedSplit(spec) || Path.IsPathRooted(spec))
        {
            return spec;
        }
        var besideManifest = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(setPath))!, spec);
        return File.Exists(besideManifest) || Directory.Exists(besideManifest) ? besideManifest : spec;
    }

    /// <summary>
    /// "l1=1.0,l2=1.5,linf=8/255" → (norm, radius) pairs: in the order of <paramref name="norms"/> ("l1,l2,linf")
    /// when given, else every norm the radii name, in the order l1, l2, linf.
    /// </summary>
    internal static List<(NormKind, float)> ParseRadii(string? norms, string eps)
    {
        var radii = new Dictionary<NormKind, float>();
        foreach (var part in eps.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var pieces = part.Split('=');
            if (pieces.Length != 2 || NormKinds.TryParse(pieces[0]) is not { } norm || Fractions.TryParse(pieces[1]) is not { } radius)
            {
                throw new UserErrorException($"--eps '{part}' is not NORM=RADIUS (e.g. linf=0.1 or linf=8/255)");
            }
            if (!(radius > 0))
            {
                throw new UserErrorException($"--eps {part}: the radius must be > 0");
            }
            radii[norm] = (float)radius;
        }
        norms ??= string.Join(",", radii.Keys.Order().Select(n => n.Name()));
        var result = new List<(NormKind, float)>();
        foreach (var name in norms.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var norm = NormKinds.TryParse(name) ?? throw new UserErrorException($"--norms: unknown norm '{name}' (l1, l2, linf)");
            if (!radii.TryGetValue(norm, out var radius))
            {
                throw new UserErrorException($"--eps gives no radius for {name}");
            }
            result.Add((norm, radius));
        }
        return result.Count > 0 ? result : throw new UserErrorException("--norms names no norm");
    }
}
