using System.CommandLine;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Runtime;

namespace RobustEval.Evaluator.Cli;

/// <summary>The options every command that loads a model shares: where to run it and how to feed it.</summary>
internal sealed class ModelOptions
{
    public Argument<string> Model { get; } = new("model") { Description = "ONNX classifier (.onnx)" };

    public Option<string> Device { get; } = new("--device")
    {
        Description = "auto (CUDA when ONNX Runtime has it and a GPU is present, else CPU with a notice) | cpu | cuda",
        DefaultValueFactory = _ => "auto",
    };

    public Option<int> Threads { get; } = new("--threads")
    {
        Description = "CPU threads for ONNX Runtime (0: all cores). With two or more, the gradient graph runs as two sessions that split each " +
            "batch, each on half the threads (faster; ROBUSTEVAL_ORT_LANES=1 keeps one session, which uses less memory and suits --batch 1)",
        DefaultValueFactory = _ => 0,
    };

    public PreprocessingOptions Preprocessing { get; } = new();

    public Option<string?> Output { get; } = new("--output") { Description = "Which model output holds the scores (default: the first)" };

    public void AddTo(Command command)
    {
        command.Arguments.Add(Model);
        command.Options.Add(Device);
        command.Options.Add(Threads);
        Preprocessing.AddTo(command);
        command.Options.Add(Output);
        Device.AcceptOnlyFromAmong("auto", "cpu", "cuda");
    }

    public OrtSessions Sessions(ParseResult parse) =>
        new(OrtSessions.ParseDevice(parse.GetValue(Device)!), parse.GetValue(Threads), notice => Console.Error.WriteLine($"notice: {notice}"));

    /// <summary>
    /// Loads the model. Without <paramref name="requireGradients"/> a model with ops that have no gradient rule loads
    /// too (for score-based attacks); white-box attacks on it are refused when built, naming the ops.
    /// A model with a dynamic image size takes it from --input-shape, else from <paramref name="data"/>'s images.
    /// </summary>
    public Classifier Load(ParseResult parse, OrtSessions sessions, bool requireGradients = true, DataOptions? data = null) =>
        ClassifierLoader.Load(parse.GetValue(Model)!, Preprocessing.Resolve(parse), sessions, parse.GetValue(Output), requireGradients,
            Preprocessing.Size(parse), data is null ? null : () => data.Size(parse));
}
