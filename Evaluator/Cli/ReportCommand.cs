using System.CommandLine;
using System.Text.Json;
using RobustEval.Cli;
using RobustEval.Evaluator.Attacks;
using RobustEval.Evaluator.Reports;
using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;
using RobustEval.IO;

namespace RobustEval.Evaluator.Cli;

/// <summary><c>evaluator report</c>: the HTML robustness report of a set of models.</summary>
internal static class ReportCommand
{
    public static Command Create()
    {
        var models = new Option<string[]>("--models")
        {
            Description = "ONNX classifiers to compare (each may carry preprocessing in MODEL.onnx.json)",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var data = new Option<string?>("--data") { Description = "Test data (default: the sample next to the first model, else its data set's test split)" };
        var set = new Option<string?>("--set") { Description = "Transfer set .npz for Table 1 (see transfer-set build)" };
        var replicates = new Option<bool>("--replicates")
        {
            Description = "Models with the same file name in different folders are independent seeds of one net (e.g. --models runs/seed-*/*.onnx): " +
                "the headline and sweep tables show each net's mean ± standard deviation over its seeds, the sweep figures error bars",
        };
        var seedSummary = new Option<string?>("--seed-summary")
        {
            Description = "results.json of evaluator transfer summarize: Table 1 over seeds (mean ± standard deviation, gain over the control)",
        };
        var sweeps = new Option<string[]>("--eps-sweep")
        {
            Description = "[ATTACK:]NORM:START:STOP:STEP or [ATTACK:]NORM:R1,R2,…, e.g. linf:0:0.3:0.025, pgd20:linf:0.3 or apgd:linf:8/255 " +
                "(several allowed; ATTACK is a registered attack, optionally followed by its steps; without one, --attack and its options apply)",
            DefaultValueFactory = _ => ["linf:0:0.3:0.05"],
            AllowMultipleArgumentsPerToken = true,
        };
        var attack = new AttackOptions(defaultAttack: "fgm", withNorm: false);
        var autoAttack = new Option<string[]>("--autoattack")
        {
            Description = "Run AutoAttack on every model: NORM:EPS[:VERSION], e.g. linf:0.3 or linf:8/255:plus (several allowed; on the first --limit images). " +
                "Its robust accuracy heads the report",
            AllowMultipleArgumentsPerToken = true,
        };
        var autoAttackResults = new Option<string[]>("--autoattack-results")
        {
            Description = "results.json files (or their folders) of earlier evaluator autoattack or merge runs, matched to --models by SHA-256: shown as if run here",
            AllowMultipleArgumentsPerToken = true,
        };
        var limit = new Option<int>("--limit") { Description = "Images attacked for sweeps and grids (clean accuracy uses all)", DefaultValueFactory = _ => 1000 };
        var fosc = new Option<string>("--fosc-attack")
        {
            Description = "PGD for the FOSC histograms: NORM:EPS:STEPS on the first 200 images",
            DefaultValueFactory = _ => "linf:0.1:20",
        };
        var title = new Option<string>("--title") { Description = "Page title", DefaultValueFactory = _ => "RobustEval robustness report" };
        var output = new Option<string>("--out", "-o") { Description = "Report directory (replaced as a whole when the report is complete)", DefaultValueFactory = _ => "reports/report" };
        var index = new Option<string?>("--index") { Description = "Also write a Markdown index of the models (e.g. Models/README.md)" };
        var device = new Option<string>("--device") { Description = "auto | cpu | cuda", DefaultValueFactory = _ => "auto" };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0: all)", DefaultValueFactory = _ => 0 };
        var command = new Command("report", """
            Write a self-contained HTML robustness report (index.html, PNG/SVG figures, results.json with every number shown):
            a RobustBench-style headline (clean and robust accuracy per threat model, with intervals and flags), model table,
            accuracy on a transfer set (Table 1/2), AutoAttack attack by attack (--autoattack, --autoattack-results), accuracy
            against fresh attacks across eps (Fig. 3/6), training curves from MODEL.metrics.jsonl (Fig. 5), FOSC histograms of
            PGD examples, image grids (Fig. 1/2/4) marking the examples fooled, and AutoAttack's reliability checks.
            With --replicates and --seed-summary it reports nets trained from several seeds (reports/reproduce.sh DATA --seeds).
            """)
        {
            models, data, set, replicates, seedSummary, sweeps, autoAttack, autoAttackResults, limit, fosc, title, output, index, device, threads,
        };
        attack.AddTo(command);
        var preprocessing = new PreprocessingOptions();
        preprocessing.AddTo(command);
        command.SetAction(parse =>
        {
            var (foscNorm, foscEps, foscSteps) = ParseFosc(parse.GetValue(fosc)!);
            var settings = new ReportSettings
            {
                Models = parse.GetValue(models)!,
                Data = parse.GetValue(data),
                TransferSet = parse.GetValue(set),
                Replicates = parse.GetValue(replicates),
                SeedSummary = parse.GetValue(seedSummary),
                Sweeps = parse.GetValue(sweeps)!.Select(s => ParseSweep(s, parse, attack)).ToList(),
                AutoAttacks = (parse.GetValue(autoAttack) ?? []).Select(AutoAttackSpec.Parse).ToList(),
                AutoAttackResults = parse.GetValue(autoAttackResults) ?? [],
                Limit = Math.Max(1, parse.GetValue(limit)),
                FoscNorm = foscNorm,
                FoscEps = foscEps,
                FoscSteps = foscSteps,
                Title = parse.GetValue(title)!,
                Batch = attack.BatchSize(parse),
                Preprocessing = preprocessing.Resolve(parse),
                InputSize = preprocessing.Size(parse),
            };
            var target = Path.GetFullPath(parse.GetValue(output)!);
            var parent = Path.GetDirectoryName(target)!;
            OutputPaths.EnsureWritableDirectory(target, "--out");
            if (parse.GetValue(index) is { } indexFile)
            {
                OutputPaths.EnsureWritableFile(indexFile, "--index");
            }
            var sessions = new OrtSessions(OrtSessions.ParseDevice(parse.GetValue(device)!), parse.GetValue(threads), n => Console.Error.WriteLine($"notice: {n}"));
            // Built in a sibling folder, then swapped in: an interrupted run never leaves a half-written report.
            var building = Path.Combine(parent, $".{Path.GetFileName(target)}.building-{Guid.NewGuid():N}");
            Directory.CreateDirectory(building);
            using var interrupted = new InterruptCleanup(() => DeleteWithRetries(building));
            try
            {
                var report = new ReportBuilder(settings, sessions, building, Console.WriteLine).Build();
                File.WriteAllText(Path.Combine(building, "results.json"), JsonSerializer.Serialize(report, JsonOutput.Options) + "\n");
                File.WriteAllText(Path.Combine(building, "index.html"), HtmlReport.Render(report));
                Replace(target, building);
                if (parse.GetValue(index) is { } indexPath)
                {
                    var relative = Path.GetRelativePath(Path.GetDirectoryName(Path.GetFullPath(indexPath))!, Path.Combine(target, "index.html")).Replace('\\', '/');
                    AtomicFile.WriteAllText(indexPath, MarkdownIndex.Render(report, relative));
                    Console.WriteLine($"wrote {indexPath}");
                }
            }
            finally
            {
                if (Directory.Exists(building))
                {
                    Directory.Delete(building, recursive: true);
                }
            }
            Console.WriteLine($"wrote {Path.Combine(parse.GetValue(output)!, "index.html")}");
            return 0;
        });
        return command;
    }

    /// <summary>Deletes a folder another thread may still be writing into (on Ctrl-C): a few tries.</summary>
    private static void DeleteWithRetries(string directory)
    {
        for (int attempt = 0; attempt < 5 && Directory.Exists(directory); attempt++)
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException) when (attempt < 4)
            {
                Thread.Sleep(50);
            }
        }
    }

    private static void Replace(string target, string built)
    {
        string? old = null;
        if (Directory.Exists(target))
        {
            old = target + $".old-{Guid.NewGuid():N}";
            Directory.Move(target, old);
        }
        Directory.Move(built, target);
        if (old is not null)
        {
            Directory.Delete(old, recursive: true);
        }
    }

    /// <summary>
    /// "linf:0:0.3:0.025", "l2:0.5,1,2", or with an attack in front: "pgd20:linf:0.3" (PGD, 20 steps), "apgd-t:linf:8/255".
    /// Without one, --attack applies; the other attack options (--loss, --target, --restarts …) apply to every sweep.
    /// </summary>
    internal static SweepSpec ParseSweep(string text, ParseResult parse, AttackOptions attack)
    {
        string? name = null;
        int? steps = null;
        var rest = text;
        var head = text.Split(':')[0].ToLowerInvariant();
        if (NormKinds.TryParse(head) is null)
        {
            var known = AttackRegistry.Names.OrderByDescending(n => n.Length).FirstOrDefault(n => head.StartsWith(n, StringComparison.Ordinal))
                ?? throw new UserErrorException($"--eps-sweep '{text}': '{head}' is neither a norm nor an attack ({string.Join(", ", AttackRegistry.Names)})");
            var digits = head[known.Length..];
            if (digits.Length > 0)
            {
                steps = int.TryParse(digits, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var k) && k > 0
                    ? k
                    : throw new UserErrorException($"--eps-sweep '{text}': '{head}' is not {known} followed by a number of steps (e.g. {known}20)");
            }
            name = known;
            rest = text[(head.Length + 1)..];
        }
        int colon = rest.IndexOf(':');
        if (colon < 0 || NormKinds.TryParse(rest[..colon]) is not { } norm)
        {
            throw new UserErrorException($"--eps-sweep '{text}' is not [ATTACK:]NORM:START:STOP:STEP or [ATTACK:]NORM:R1,R2,… (e.g. linf:0:0.3:0.025, pgd20:linf:0.3)");
        }
        var radii = SweepCommand.ParseRadii(rest[(colon + 1)..]);
        if (radii.All(r => r <= 0))
        {
            throw new UserErrorException($"--eps-sweep '{text}' needs at least one radius above 0");
        }
        var spec = new SweepSpec(attack.Request(parse, radii.Max(), null, norm, name, steps), radii);
        // Resolved once now, only to refuse a bad option before any model is loaded.
        spec.At(radii.Max());
        return spec;
    }

    private static (NormKind, float, int) ParseFosc(string text)
    {
        var parts = text.Split(':');
        if (parts.Length == 3 && NormKinds.TryParse(parts[0]) is { } norm && Fractions.TryParse(parts[1]) is { } eps && eps > 0
            && int.TryParse(parts[2], out var steps) && steps > 0)
        {
            return (norm, (float)eps, steps);
        }
        throw new UserErrorException($"--fosc-attack '{text}' is not NORM:EPS:STEPS (e.g. linf:0.1:20)");
    }
}
