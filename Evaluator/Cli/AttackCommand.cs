using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using RobustEval.Data;
using RobustEval.Evaluator.Attacks;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;
using RobustEval.IO;

namespace RobustEval.Evaluator.Cli;

/// <summary><c>evaluator attack</c>: one attack on one model over a data set.</summary>
internal static class AttackCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var data = new DataOptions();
        var attack = new AttackOptions();
        var eps = new Option<string?>("--eps") { Description = "Radius of the ball in [0,1] pixel units, a number or a fraction such as 8/255 (default: l1 1.0, l2 1.5, linf 0.1)" };
        var output = new Option<string?>("--out", "-o")
        {
            Description = "Directory for results.json (every number printed) and adversarial.npz (x, x_adv in [0,1] whatever the model's input range, y, pred, pred_adv, …)",
        };
        var saveImages = new Option<string?>("--save-images")
        {
            Description = "Directory for PNGs of every image and its adversarial example side by side: NNNNN-clean-LABEL.png and NNNNN-adv-PREDICTION.png",
        };
        var command = new Command("attack", """
            One attack on an ONNX classifier: white-box through a gradient graph built from the model itself, or score-based
            (square, forward passes only). Prints clean and adversarial (robust) accuracy, success rate, perturbation norms,
            mean FOSC (Wang et al.), speed and the model evaluations spent. For a robustness number to trust use evaluator
            autoattack: fixed-step PGD on the cross-entropy overestimates robustness (Croce & Hein 2020).
            """);
        model.AddTo(command);
        attack.AddTo(command);
        command.Options.Add(eps);
        data.AddTo(command);
        command.Options.Add(output);
        command.Options.Add(saveImages);
        command.SetAction(parse =>
        {
            var norm = attack.ChosenNorm(parse);
            float radius = parse.GetValue(eps) is { } text ? AttackOptions.ParseEps(text) : AttackRegistry.DefaultEps(norm);
            // Checked before the model loads, so a bad option costs nothing; given targets are mapped once it has.
            attack.Settings(parse, radius, null);
            var outDirectory = parse.GetValue(output);
            if (outDirectory is not null)
            {
                OutputPaths.EnsureWritableDirectory(outDirectory, "--out");
            }
            var imageDirectory = parse.GetValue(saveImages);
            if (imageDirectory is not null)
            {
                OutputPaths.EnsureWritableDirectory(imageDirectory, "--save-images");
            }
            var sessions = model.Sessions(parse);
            var classifier = model.Load(parse, sessions, requireGradients: false, data: data);
            var settings = attack.Settings(parse, radius, classifier);
            var (dataset, layout) = data.Load(parse, classifier);
            using var gradients = new GradientSessions(classifier, sessions);
            var built = AttackRegistry.Create(settings, gradients);
            // The device row says which batch auto chose.
            var batch = attack.ResolveBatch(parse, gradients, dataset, announce: false);
            var run = ConsoleProgress.Run(settings.ToString(), dataset.Count,
                progress => AttackRunner.Run(built, dataset, batch.Batch, progress));
            var summary = run.Summarize();
            var notes = Notes(classifier, run, summary);
            var warnings = new List<ReliabilityFlag>();
            if (FeedingProbe.Check(classifier, dataset, summary.CleanAccuracy, sessions) is { } feeding)
            {
                warnings.Add(feeding);
            }
            if (gradients.GradientBlockers.Count > 0)
            {
                notes.Add($"no gradient rule for {string.Join(", ", gradients.GradientBlockers)}: white-box attacks cannot run on this model, so this number comes from {settings.Name} alone " +
                    "(an upper bound on robust accuracy that gradient attacks usually lower)");
            }
            Print(classifier, dataset, run, summary, sessions, batch, notes, warnings);
            if (outDirectory is not null)
            {
                Write(outDirectory, classifier, dataset, layout, run, summary, sessions, batch, notes, warnings);
                Console.WriteLine($"wrote {Path.Combine(outDirectory, "results.json")} and {Path.Combine(outDirectory, "adversarial.npz")}");
            }
            if (imageDirectory is not null)
            {
                SaveImages(imageDirectory, dataset, run, classifier);
                Console.WriteLine($"wrote {2 * dataset.Count:N0} PNGs to {imageDirectory}");
            }
            return 0;
        });
        return command;
    }

    /// <summary>AutoAttack-style warnings: reasons the numbers may flatter the model.</summary>
    public static List<string> Notes(Classifier classifier, AttackRun run, AttackSummary summary)
    {
        var notes = classifier.Notes.ToList();
        if (summary.ZeroGradientFraction > 0)
        {
            notes.Add($"{summary.ZeroGradientFraction:P1} of the images have an all-zero gradient: gradients may be masked, and gradient attacks underestimate the risk there");
        }
        if (summary.NonFiniteFraction > 0)
        {
            notes.Add($"{summary.NonFiniteFraction:P1} of the images gave NaN or infinite scores or gradients: they took no steps and count as misclassified");
        }
        var s = run.Settings;
        if (s.Norm == NormKind.L1 && s.Pixels == 1 && s.Name == "fgm")
        {
            notes.Add($"single-pixel (ℓ1) examples found: {summary.Successes:N0} of {(int)Math.Round(summary.CleanAccuracy * summary.Examples):N0} correctly classified images" +
                (summary.Successes == 0 ? " — none; such examples are rare, which is not proof of robustness" : ""));
        }
        return notes;
    }

    /// <summary>Every image and its adversarial example as PNGs, named so they sort side by side.</summary>
    private static void SaveImages(string directory, Dataset data, AttackRun run, Classifier classifier)
    {
        if (data.Channels is not (1 or 3))
        {
            throw new UserErrorException($"--save-images: images of {data.Channels} channels cannot be PNGs (1 or 3)");
        }
        string Name(long index) => index >= 0 && index < classifier.ClassNames.Count ? Safe(classifier.ClassNames[(int)index]) : index.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var adversarial = run.Results.Adversarial;
        int size = data.ImageSize, digits = Math.Max(5, (data.Count - 1).ToString(System.Globalization.CultureInfo.InvariantCulture).Length);
        for (int i = 0; i < data.Count; i++)
        {
            var stem = Path.Combine(directory, i.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(digits, '0'));
            var example = run.Results.Examples[i];
            ImageFiles.SavePng($"{stem}-clean-{Name(classifier.ModelLabel(data.Label(i)))}.png", data.Image(i), data.Channels, data.Height, data.Width);
            ImageFiles.SavePng($"{stem}-adv-{Name(example.Prediction)}.png", adversarial.AsSpan(i * size, size), data.Channels, data.Height, data.Width);
        }
    }

    private static string Safe(string name) =>
        new(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' ? c : '_').Take(40).ToArray());

    private static void Print(Classifier classifier, Dataset data, AttackRun run, AttackSummary s, OrtSessions sessions, BatchChoice batch, List<string> notes,
        IReadOnlyList<ReliabilityFlag> warnings)
    {
        var card = classifier.Card;
        string Row(string label, string value) => $"{label,-22}{value}";
        Console.WriteLine(Row("model", $"{classifier.Path}{(card is null ? "" : $" ({card.Architecture ?? "?"}, {card.TrainingSummary()})")}"));
        Console.WriteLine(Row("data", $"{data.Count:N0} images: {data.Source}"));
        Console.WriteLine(Row("attack", run.Settings.ToString()));
        Console.WriteLine(Row("device", $"{sessions.ActiveProvider}{(sessions.Threads > 0 ? $", {sessions.Threads} threads" : "")}, batch {batch.Batch}" +
            (batch.Why == "given" ? "" : $" ({batch.Why})")));
        Console.WriteLine(Row("clean accuracy", $"{s.CleanAccuracy:P2}"));
        Console.WriteLine(Row("adversarial accuracy", $"{s.AdversarialAccuracy:P2}"));
        int correct = (int)Math.Round(s.CleanAccuracy * s.Examples);
        Console.WriteLine(Row("success rate", $"{s.SuccessRate:P2} ({s.Successes:N0} of {correct:N0}{(run.Settings.Goal.SuccessIsTarget ? " sent to their target" : "")})"));
        Console.WriteLine(Row($"perturbation {run.Settings.Norm.Symbol()}",
            $"mean {s.MeanPerturbationNorm:G4}, max {s.MaxPerturbationNorm:G4}" +
            (s.MeanSuccessfulPerturbationNorm is { } m ? $" (successful: mean {m:G4})" : "")));
        Console.WriteLine(Row("mean FOSC", run.Settings.Name is "square" or "fab" or "fab-t" ? "n/a (not a loss-maximising attack)" : $"{s.MeanFosc:G4}"));
        Console.WriteLine(Row("speed", $"{s.ImagesPerSecond:N0} images/s ({s.Seconds:F2} s)"));
        Console.WriteLine(Row("model evaluations", s.ForwardEvaluations > 0 && s.ImageEvaluations == 0
            ? $"{s.ForwardEvaluations:N0} forward passes (score-based: no gradients)" + (s.Examples > 0 ? $" ({(double)s.ForwardEvaluations / s.Examples:F1} per image)" : "")
            : $"{s.ImageEvaluations:N0} image gradients in {s.Evaluations:N0} batches" + (s.Examples > 0 ? $" ({(double)s.ImageEvaluations / s.Examples:F1} per image)" : "")));
        foreach (var note in notes)
        {
            Console.WriteLine($"note: {note}");
        }
        foreach (var warning in warnings)
        {
            Console.WriteLine($"warning: {warning}");
        }
    }

    /// <summary>results.json and adversarial.npz, each written atomically.</summary>
    public static void Write(string directory, Classifier classifier, Dataset data, ImageLayout layout, AttackRun run, AttackSummary summary,
        OrtSessions sessions, BatchChoice batch, IReadOnlyList<string> notes, IReadOnlyList<ReliabilityFlag> warnings)
    {
        int n = run.Count;
        var (c, h, w) = (data.Channels, data.Height, data.Width);
        var examples = run.Results.Examples;
        var arrays = new List<KeyValuePair<string, NpyArray>>
        {
            new("x", DatasetNpz.ImageArray(data.Pixels.ToArray(), n, c, h, w, layout)),
            new("x_adv", DatasetNpz.ImageArray(run.Results.Adversarial, n, c, h, w, layout)),
            new("y", NpyArray.Of(data.Labels.ToArray(), n)),
            new("pred", NpyArray.Of(examples.Select(e => e.CleanPrediction).ToArray(), n)),
            new("pred_adv", NpyArray.Of(examples.Select(e => e.Prediction).ToArray(), n)),
            new("perturbation_norm", NpyArray.Of(examples.Select(e => (float)e.PerturbationNorm).ToArray(), n)),
            new("fosc", NpyArray.Of(examples.Select(e => (float)e.Fosc).ToArray(), n)),
            // x and x_adv are always in [0, 1]; the model's own input is this range (with its mean/std applied after).
            new("x_range", NpyArray.Of([0f, 1f], 2)),
            new("model_input_range", NpyArray.Of([classifier.Preprocessing.InputMin, classifier.Preprocessing.InputMax], 2)),
        };
        if (run.Settings.Goal.IsTargeted)
        {
            arrays.Add(new("target", NpyArray.Of(examples.Select(e => e.Target).ToArray(), n)));
        }
        Npz.Write(Path.Combine(directory, "adversarial.npz"), arrays);
        var results = new JsonObject
        {
            ["model"] = ModelJson(classifier),
            ["data"] = new JsonObject
            {
                ["source"] = data.Source,
                ["examples"] = n,
                ["layout"] = layout == ImageLayout.Nchw ? "NCHW" : "NHWC",
                ["pixel_range"] = "x and x_adv in adversarial.npz are in [0, 1]; the model takes " +
                    $"[{classifier.Preprocessing.InputMin:G6}, {classifier.Preprocessing.InputMax:G6}] (x · {classifier.Preprocessing.InputMax - classifier.Preprocessing.InputMin:G6} + {classifier.Preprocessing.InputMin:G6})",
            },
            ["attack"] = AttackJson(run.Settings),
            ["device"] = sessions.ActiveProvider,
            ["batch"] = new JsonObject { ["size"] = batch.Batch, ["how"] = batch.Why },
            ["summary"] = JsonSerializer.SerializeToNode(summary),
            ["notes"] = new JsonArray(notes.Select(note => (JsonNode?)note).ToArray()),
            ["warnings"] = JsonSerializer.SerializeToNode(warnings),
        };
        AtomicFile.WriteAllText(Path.Combine(directory, "results.json"), results.ToJsonString(JsonOutput.Options) + "\n");
    }

    public static JsonObject ModelJson(Classifier classifier) => new()
    {
        ["path"] = classifier.Path,
        ["name"] = classifier.Name,
        ["architecture"] = classifier.Card?.Architecture,
        ["method"] = classifier.Card?.Method,
        ["norm"] = classifier.Card?.Norm,
        ["eps"] = classifier.Card?.Eps,
        ["classes"] = classifier.Classes,
        ["input"] = $"{classifier.Channels}x{classifier.Height}x{classifier.Width} {(classifier.InputLayout == ImageLayout.Nchw ? "NCHW" : "NHWC")}",
        ["preprocessing"] = classifier.Preprocessing.ToString(),
        ["softmax_output_stripped"] = classifier.StrippedOutputOp is not null,
        ["opset"] = classifier.OriginalOpset,
    };

    public static JsonObject AttackJson(AttackSettings settings) => new()
    {
        ["name"] = settings.Name,
        ["norm"] = settings.Norm.Name(),
        ["eps"] = settings.Eps,
        ["loss"] = settings.Loss.Name,
        ["target"] = settings.Goal.Name,
        ["steps"] = settings.Steps,
        ["step_size"] = settings.StepSize,
        ["random_start"] = settings.RandomStart,
        ["restarts"] = settings.Restarts,
        ["pixels"] = settings.Pixels,
        ["seed"] = settings.Seed,
        ["early_stop"] = settings.EarlyStop,
        ["description"] = settings.ToString(),
    };
}
