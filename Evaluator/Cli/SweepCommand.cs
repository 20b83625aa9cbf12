using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using RobustEval.Cli;
using RobustEval.Evaluator.Attacks;
using RobustEval.Evaluator.Runtime;
using RobustEval.IO;

namespace RobustEval.Evaluator.Cli;

/// <summary><c>evaluator sweep</c>: accuracy against fresh attacks over a range of radii (Shaham et al. Fig. 3/6).</summary>
internal static class SweepCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var data = new DataOptions();
        var attack = new AttackOptions();
        var eps = new Option<string>("--eps")
        {
            Description = "Radii: a list (0.05,0.1,8/255) or a range START:STOP:STEP (0:0.3:0.025, 0:8/255:1/255; STOP included); 0 gives the clean accuracy",
            Required = true,
        };
        var output = new Option<string?>("--out", "-o") { Description = "Directory for results.json" };
        var command = new Command("sweep", "Accuracy against fresh attacks on the model's own gradients, for each radius (any --attack, --loss, --target …)");
        model.AddTo(command);
        attack.AddTo(command);
        command.Options.Add(eps);
        data.AddTo(command);
        command.Options.Add(output);
        command.SetAction(parse =>
        {
            var radii = ParseRadii(parse.GetValue(eps)!);
            if (radii.All(r => r <= 0))
            {
                throw new UserErrorException("--eps needs at least one radius above 0");
            }
            attack.Settings(parse, radii.Max(), null);
            var outDirectory = parse.GetValue(output);
            if (outDirectory is not null)
            {
                OutputPaths.EnsureWritableDirectory(outDirectory, "--out");
            }
            var sessions = model.Sessions(parse);
            var classifier = model.Load(parse, sessions, data: data);
            var request = attack.Request(parse, radii.Max(), classifier);
            var settings = radii.Select(r => r > 0 ? AttackRegistry.Resolve(request with { Eps = r }) : null).ToList();
            var (dataset, _) = data.Load(parse, classifier);
            using var gradients = new GradientSessions(classifier, sessions);
            var (points, clean) = Run(gradients, dataset, radii, settings, attack.ResolveBatch(parse, gradients, dataset).Batch);
            Console.WriteLine($"{"eps",10}  {"accuracy",9}  {"images/s",9}");
            foreach (var point in points)
            {
                Console.WriteLine($"{point.Eps,10:G4}  {point.Accuracy,9:P2}  {point.ImagesPerSecond,9:N0}");
            }
            var warnings = FeedingProbe.Check(classifier, dataset, clean, sessions) is { } feeding ? new[] { feeding } : [];
            foreach (var warning in warnings)
            {
                Console.WriteLine($"warning: {warning}");
            }
            if (outDirectory is not null)
            {
                var results = new JsonObject
                {
                    ["model"] = AttackCommand.ModelJson(classifier),
                    ["data"] = new JsonObject { ["source"] = dataset.Source, ["examples"] = dataset.Count },
                    ["attack"] = settings.FirstOrDefault(c => c is not null) is { } first ? AttackCommand.AttackJson(first) : null,
                    ["clean_accuracy"] = clean,
                    ["points"] = JsonSerializer.SerializeToNode(points),
                    ["warnings"] = JsonSerializer.SerializeToNode(warnings),
                };
                AtomicFile.WriteAllText(Path.Combine(outDirectory, "results.json"), results.ToJsonString(JsonOutput.Options) + "\n");
                Console.WriteLine($"wrote {Path.Combine(outDirectory, "results.json")}");
            }
            return 0;
        });
        return command;
    }

    /// <summary>One radius of a sweep.</summary>
    internal sealed record SweepPoint(
        [property: JsonPropertyName("eps")] float Eps,
        [property: JsonPropertyName("accuracy")] double Accuracy,
        [property: JsonPropertyName("success_rate")] double SuccessRate,
        [property: JsonPropertyName("images_per_second")] double ImagesPerSecond);

    /// <summary>Runs the attack at every radius above 0; radius 0 reports the clean accuracy those runs measured.</summary>
    private static (List<SweepPoint> Points, double CleanAccuracy) Run(GradientSessions gradients, RobustEval.Data.Dataset dataset, IReadOnlyList<float> radii,
        IReadOnlyList<AttackSettings?> settings, int batch)
    {
        var summaries = new Dictionary<int, AttackSummary>();
        for (int i = 0; i < radii.Count; i++)
        {
            if (settings[i] is { } s)
            {
                summaries[i] = ConsoleProgress.Run($"eps {radii[i]:G4}", dataset.Count,
                    progress => AttackRunner.Run(AttackRegistry.Create(s, gradients), dataset, batch, progress)).Summarize();
            }
        }
        var clean = summaries.Values.First();
        return (radii.Select((r, i) => summaries.TryGetValue(i, out var s)
            ? new SweepPoint(r, s.AdversarialAccuracy, s.SuccessRate, s.ImagesPerSecond)
            : new SweepPoint(0, clean.CleanAccuracy, 0, clean.ImagesPerSecond)).ToList(), clean.CleanAccuracy);
    }

    /// <summary>"0.05,0.1,8/255" or "0:0.3:0.025" (inclusive of STOP, up to rounding); numbers may be fractions.</summary>
    internal static List<float> ParseRadii(string text)
    {
        double Number(string part) => Fractions.TryParse(part) ?? throw new UserErrorException($"--eps {text}: '{part}' is not a number or a fraction such as 8/255");
        if (text.Contains(':'))
        {
            var parts = text.Split(':').Select(Number).ToArray();
            if (parts.Length != 3 || parts[2] <= 0 || parts[1] < parts[0] || parts[0] < 0 || (parts[1] - parts[0]) / parts[2] > 1000)
            {
                throw new UserErrorException($"--eps {text}: a range is START:STOP:STEP with 0 ≤ START ≤ STOP, STEP > 0 and at most 1,000 points");
            }
            int count = (int)Math.Floor((parts[1] - parts[0]) / parts[2] + 1e-9) + 1;
            return Enumerable.Range(0, count).Select(i => (float)Math.Round(parts[0] + i * parts[2], 10)).ToList();
        }
        var list = text.Split(',').Select(p => (float)Number(p)).ToList();
        if (list.Any(r => r < 0))
        {
            throw new UserErrorException($"--eps {text}: radii must be ≥ 0");
        }
        return list;
    }
}
