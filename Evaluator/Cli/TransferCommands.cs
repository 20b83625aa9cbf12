using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using RobustEval.Data;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Runtime;
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
        var norms = new Option<string>("--norms") { Description = "Norms to use, e.g. l1,l2,linf", DefaultValueFactory = _ => "l1,l2,linf" };
        var eps = new Option<string>("--eps") { Description = "Radius per norm, e.g. l1=1.0,l2=1.5,linf=0.1 (pixel units)", Required = true };
        var pixels = new Option<int>("--pixels") { Description = "l1: coordinates changed (1: single pixel)", DefaultValueFactory = _ => 1 };
        var limit = new Option<int?>("--limit") { Description = "Use only the first N test images" };
        var batch = new Option<int>("--batch") { Description = "Images per model evaluation", DefaultValueFactory = _ => 256 };
        var output = new Option<string>("--out", "-o") { Description = "The set's .npz (its manifest goes beside it as .json)", DefaultValueFactory = _ => "transfer-set.npz" };
        var device = new Option<string>("--device") { Description = "auto | cpu | cuda", DefaultValueFactory = _ => "auto" };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0: all)", DefaultValueFactory = _ => 0 };
        var build = new Command("build", """
            Build a transfer set (Shaham et al.'s A_mnist): from the test points the source classifies correctly, the
            single-step eq. 11 examples per norm (clipped to [0,1]) that the source misclassifies. Writes OUT.npz (x_adv, x, y,
            source_index, norm 0/1/2 for l1/l2/linf, eps) and OUT.json (source model and SHA-256, data, radii, counts).
            """)
        {
            source, data, norms, eps, pixels, limit, batch, output, device, threads,
        };
        build.SetAction(parse =>
        {
            var radii = ParseRadii(parse.GetValue(norms)!, parse.GetValue(eps)!);
            var path = parse.GetValue(output)!;
            if (!path.EndsWith(".npz", StringComparison.OrdinalIgnoreCase))
            {
                throw new UserErrorException($"--out {path}: a transfer set is an .npz");
            }
            OutputPaths.EnsureWritableDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!, "--out");
            var sessions = new OrtSessions(OrtSessions.ParseDevice(parse.GetValue(device)!), parse.GetValue(threads), n => Console.Error.WriteLine($"notice: {n}"));
            var classifier = ClassifierLoader.Load(parse.GetValue(source)!, null, sessions);
            var spec = parse.GetValue(data)!;
            var (dataset, _) = new DatasetCatalog(DataDirectories.Default()).Load(spec, classifier.InputLayout, classifier.ClassNames);
            if (parse.GetValue(limit) is { } n)
            {
                dataset = dataset.Take(Math.Max(n, 1));
            }
            classifier.CheckData(dataset);
            using var session = new GradientSession(classifier, sessions);
            var set = ConsoleProgress.Run("building", dataset.Count * radii.Count, progress =>
            {
                int finished = 0;
                NormKind? current = null;
                return TransferSetBuilder.Build(session, dataset, spec, radii, parse.GetValue(pixels), parse.GetValue(batch),
                    new CallbackProgress<(NormKind Norm, int Done)>(p =>
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
            Shaham et al.'s Tables 1-2). Third-party models: put their preprocessing (input_range, mean, std, layout,
            label_map) in MODEL.onnx.json next to them.
            """)
        {
            models, set, data, output, device, threads,
        };
        eval.SetAction(parse =>
        {
            var transfer = TransferSet.Load(parse.GetValue(set)!);
            var outDirectory = parse.GetValue(output);
            if (outDirectory is not null)
            {
                OutputPaths.EnsureWritableDirectory(outDirectory, "--out");
            }
            var sessions = new OrtSessions(OrtSessions.ParseDevice(parse.GetValue(device)!), parse.GetValue(threads), n => Console.Error.WriteLine($"notice: {n}"));
            var cleanSpec = parse.GetValue(data) ?? transfer.Manifest.Data;
            var results = new List<TransferResult>();
            foreach (var path in parse.GetValue(models)!)
            {
                // Transfer accuracy needs predictions only: models without gradient rules can be compared too.
                var classifier = ClassifierLoader.Load(path, null, sessions, requireGradients: false);
                TransferEvaluation.CheckLabels(classifier, transfer);
                Dataset? clean = null;
                try
                {
                    clean = new DatasetCatalog(DataDirectories.Default()).Load(cleanSpec, classifier.InputLayout, classifier.ClassNames).Data;
                }
                catch (DataUnavailableException e)
                {
                    Console.Error.WriteLine($"notice: no clean accuracy for {path}: {e.Message}");
                }
                using var session = new PredictionSession(classifier, sessions);
                results.Add(TransferEvaluation.Evaluate(session, transfer, clean));
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
        return new Command("transfer", "Check how adversarial examples transfer to other models") { eval };
    }

    /// <summary>"l1,l2,linf" and "l1=1.0,l2=1.5,linf=0.1" → (norm, radius) pairs, in the order of --norms.</summary>
    internal static List<(NormKind, float)> ParseRadii(string norms, string eps)
    {
        var radii = new Dictionary<NormKind, float>();
        foreach (var part in eps.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var pieces = part.Split('=');
            if (pieces.Length != 2 || NormKinds.TryParse(pieces[0]) is not { } norm
                || !float.TryParse(pieces[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var radius))
            {
                throw new UserErrorException($"--eps '{part}' is not NORM=RADIUS (e.g. linf=0.1)");
            }
            if (!(radius > 0) || !float.IsFinite(radius))
            {
                throw new UserErrorException($"--eps {part}: the radius must be > 0");
            }
            radii[norm] = radius;
        }
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
