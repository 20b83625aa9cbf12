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

    public Option<int> Threads { get; } = new("--threads") { Description = "CPU threads for ONNX Runtime (0: all cores)", DefaultValueFactory = _ => 0 };

    public Option<string?> InputRange { get; } = new("--input-range")
    {
        Description = "MIN,MAX of the values the model expects, e.g. 0,255 (default: the model card's, else the sidecar MODEL.onnx.json's, else 0,1)",
    };

    public Option<string?> Mean { get; } = new("--mean") { Description = "Per-channel mean the model expects subtracted (in its input range), e.g. 0.485,0.456,0.406" };

    public Option<string?> Std { get; } = new("--std") { Description = "Per-channel std the model expects divided by, e.g. 0.229,0.224,0.225" };

    public Option<string?> Layout { get; } = new("--layout") { Description = "Input layout: auto (from the input's shape) | nchw | nhwc" };

    public Option<string?> LabelMap { get; } = new("--label-map") { Description = "Comma-separated model output index for each data label 0, 1, …" };

    public Option<string?> Output { get; } = new("--output") { Description = "Which model output holds the scores (default: the first)" };

    public void AddTo(Command command)
    {
        command.Arguments.Add(Model);
        foreach (var option in new Option[] { Device, Threads, InputRange, Mean, Std, Layout, LabelMap, Output })
        {
            command.Options.Add(option);
        }
        Layout.AcceptOnlyFromAmong("auto", "nchw", "nhwc");
        Device.AcceptOnlyFromAmong("auto", "cpu", "cuda");
    }

    public OrtSessions Sessions(ParseResult parse) =>
        new(OrtSessions.ParseDevice(parse.GetValue(Device)!), parse.GetValue(Threads), notice => Console.Error.WriteLine($"notice: {notice}"));

    /// <summary>Preprocessing given on the command line, or null to use the sidecar file / model card.</summary>
    public Preprocessing? Preprocessing(ParseResult parse)
    {
        string? range = parse.GetValue(InputRange), mean = parse.GetValue(Mean), std = parse.GetValue(Std), layout = parse.GetValue(Layout),
            map = parse.GetValue(LabelMap);
        return range is null && mean is null && std is null && layout is null && map is null
            ? null
            : Classifiers.Preprocessing.FromOptions(range, mean, std, layout, map);
    }

    /// <summary>
    /// Loads the model. Without <paramref name="requireGradients"/> a model with ops that have no gradient rule loads
    /// too (for score-based attacks); white-box attacks on it are refused when built, naming the ops.
    /// </summary>
    public Classifier Load(ParseResult parse, OrtSessions sessions, bool requireGradients = true) =>
        ClassifierLoader.Load(parse.GetValue(Model)!, Preprocessing(parse), sessions, parse.GetValue(Output), requireGradients);
}
