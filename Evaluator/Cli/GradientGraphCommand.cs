using System.CommandLine;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Gradients;

namespace RobustEval.Evaluator.Cli;

/// <summary><c>evaluator gradient-graph</c>: save the gradient model for anyone to run with plain ONNX Runtime.</summary>
internal static class GradientGraphCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var output = new Option<string>("--out", "-o") { Description = "Where to write the gradient model (.onnx)", Required = true };
        var loss = new Option<string>("--loss")
        {
            Description = "The loss to differentiate: " + string.Join(", ", Loss.All.Select(l => $"{l.Name} ({l.Formula})")),
            DefaultValueFactory = _ => Loss.CrossEntropy.Name,
        };
        var command = new Command("gradient-graph", $"""
            Build the gradient graph of an ONNX classifier and save it. Inputs: {Classifier.PixelsName} (batch, C, H, W) float
            pixels in [0,1], {Objective.LabelsName} (batch) int64 and, for a targeted loss, {Objective.TargetsName} (batch) int64;
            outputs: {GradientGraphBuilder.LogitsName}, {Objective.LossName} (the per-example loss) and {GradientGraphBuilder.GradientName}
            (d loss / d pixels, each example's own). Standard ONNX ops only: any ONNX Runtime build runs it.
            """);
        model.AddTo(command);
        command.Options.Add(loss);
        command.Options.Add(output);
        command.SetAction(parse =>
        {
            var chosen = Loss.Parse(parse.GetValue(loss)!);
            var path = parse.GetValue(output)!;
            if (!path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            {
                throw new UserErrorException($"--out {path}: the file must end in .onnx");
            }
            IO.OutputPaths.EnsureWritableDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!, "--out");
            var sessions = model.Sessions(parse);
            var classifier = model.Load(parse, sessions);
            chosen.CheckClasses(classifier.Classes, classifier.Path);
            var gradient = GradientGraphBuilder.Build(classifier, chosen);
            OnnxFiles.Save(gradient, path);
            int forward = classifier.Model.Graph.Node.Count;
            Console.WriteLine($"wrote {path}: {forward} forward and {gradient.Graph.Node.Count - forward} gradient nodes ({chosen.Name} loss), opset {OnnxFiles.DefaultOpset(gradient)}");
            foreach (var note in classifier.Notes)
            {
                Console.WriteLine($"note: {note}");
            }
            return 0;
        });
        return command;
    }
}
