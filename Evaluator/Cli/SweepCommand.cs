using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
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
            Description = "Radii: a list (0.05,0.1,0.2) or a range START:STOP:STEP (0:0.3:0.025, STOP included); 0 gives the clean accuracy",
            Required = true,
        };
        var output = new Option<string?>("--out", "-o") { Description = "Directory for results.json" };
        var command = new Command("sweep", "Accuracy against fresh attacks on the model's own gradients, for each radius");
        model.AddTo(command);
        attack.AddTo(command);
        command.Options.Add(eps);
        data.AddTo(command);
        command.Options.Add(output);
        command.SetAction(parse =>
        {
            var radii = ParseRadii(parse.GetValue(eps)!);
            var outDirectory = parse.GetValue(output);
            if (outDirectory is not null)
            {
                OutputPaths.EnsureWritableDirectory(outDirectory, "--out");
            }
            var configs = radii.Select(r => r > 0 ? attack.Config(parse, r) : null).ToList();
            var sessions = model.Sessions(parse);
            var classifier = model.Load(parse, sessions);
            var (dataset, _) = data.Load(parse, classifier);
            using var session = new GradientSession(classifier, sessions);
            var points = Run(session, dataset, radii, configs, parse.GetValue(attack.Batch));
            Console.WriteLine($"{"eps",10}  {"accuracy",9}  {"images/s",9}");
            foreach (var point in points)
            {
                Console.WriteLine($"{point.Eps,10:G4}  {point.Accuracy,9:P2}  {point.ImagesPerSecond,9:N0}");
            }
            if (outDirectory is not null)
            {
                var results = new JsonObject
                {
                    ["model"] = AttackCommand.ModelJson(classifier),
                    ["data"] = new JsonObject { ["source"] = dataset.Source, ["examples"] = dataset.Count },
                    ["attack"] = configs.FirstOrDefault(c => c is not null) is { } first ? AttackCommand.AttackJson(first) : null,
                    ["points"] = JsonSerializer.SerializeToNode(points),
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
        [property: System.Text.Json.Serialization.JsonPropertyName("eps")] float Eps,
        [property: System.Text.Json.Serialization.JsonPropertyName("accuracy")] double Accuracy,
        [property: System.Text.Json.Serialization.JsonPropertyName("success_rate")] double SuccessRate,
        [property: System.Text.Json.Serialization.JsonPropertyName("images_per_second")] double ImagesPerSecond);

    /// <summary>Runs the attack at every radius above 0; radius 0 reports the clean accuracy those runs measured.</summary>
    internal static List<SweepPoint> Run(GradientSession session, RobustEval.Data.Dataset dataset, IReadOnlyList<float> radii,
        IReadOnlyList<AttackConfig?> configs, int batch)
    {
        if (configs.All(c => c is null))
        {
            throw new UserErrorException("--eps needs at least one radius above 0");
        }
        var summaries = new Dictionary<int, AttackSummary>();
        for (int i = 0; i < radii.Count; i++)
        {
            if (configs[i] is { } config)
            {
                summaries[i] = ConsoleProgress.Run($"eps {radii[i]:G4}", dataset.Count,
                    progress => AttackRun.Execute(session, new GradientAttack(session, config), dataset, batch, progress)).Summarize();
            }
        }
        var clean = summaries.Values.First();
        return radii.Select((r, i) => summaries.TryGetValue(i, out var s)
            ? new SweepPoint(r, s.AdversarialAccuracy, s.SuccessRate, s.ImagesPerSecond)
            : new SweepPoint(0, clean.CleanAccuracy, 0, clean.ImagesPerSecond)).ToList();
    }

    /// <summary>"0.05,0.1" or "0:0.3:0.025" (inclusive of STOP, up to rounding).</summary>
    internal static List<float> ParseRadii(string text)
    {
        try
        {
            if (text.Contains(':'))
            {
                var parts = text.Split(':').Select(p => double.Parse(p, CultureInfo.InvariantCulture)).ToArray();
                if (parts.Length != 3 || parts[2] <= 0 || parts[1] < parts[0] || parts[0] < 0 || (parts[1] - parts[0]) / parts[2] > 1000)
                {
                    throw new UserErrorException($"--eps {text}: a range is START:STOP:STEP with 0 ≤ START ≤ STOP, STEP > 0 and at most 1,000 points");
                }
                int count = (int)Math.Floor((parts[1] - parts[0]) / parts[2] + 1e-9) + 1;
                return Enumerable.Range(0, count).Select(i => (float)Math.Round(parts[0] + i * parts[2], 10)).ToList();
            }
            var list = text.Split(',').Select(p => float.Parse(p, CultureInfo.InvariantCulture)).ToList();
            if (list.Any(r => r < 0 || !float.IsFinite(r)))
            {
                throw new UserErrorException($"--eps {text}: radii must be ≥ 0");
            }
            return list;
        }
        catch (FormatException)
        {
            throw new UserErrorException($"--eps {text}: not a list of numbers or a START:STOP:STEP range");
        }
    }
}
