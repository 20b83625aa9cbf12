using System.CommandLine;
using RobustEval.Evaluator.Classifiers;

namespace RobustEval.Evaluator.Cli;

/// <summary>
/// How to feed a model, the same options on every command that loads one (attack, sweep, autoattack,
/// gradient-graph, transfer-set build, transfer eval, report): --input-range, --mean, --std, --layout,
/// --label-map and --input-shape. Given, they replace the sidecar file's and the model card's settings.
/// </summary>
internal sealed class PreprocessingOptions
{
    public Option<string?> InputRange { get; } = new("--input-range")
    {
        Description = "MIN,MAX of the values the model expects, e.g. 0,255 (default: the model card's, else the sidecar MODEL.onnx.json's, else 0,1)",
    };

    public Option<string?> Mean { get; } = new("--mean") { Description = "Per-channel mean the model expects subtracted (in its input range), e.g. 0.485,0.456,0.406" };

    public Option<string?> Std { get; } = new("--std") { Description = "Per-channel std the model expects divided by, e.g. 0.229,0.224,0.225" };

    public Option<string?> Layout { get; } = new("--layout") { Description = "Input layout: auto (from the input's shape) | nchw | nhwc" };

    public Option<string?> LabelMap { get; } = new("--label-map") { Description = "Comma-separated model output index for each data label 0, 1, …" };

    public Option<string?> InputShape { get; } = new("--input-shape")
    {
        Description = "C,H,W image size for a model whose input size is dynamic (default: the data's); must agree with the sizes the model fixes",
    };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { InputRange, Mean, Std, Layout, LabelMap, InputShape })
        {
            command.Options.Add(option);
        }
        Layout.AcceptOnlyFromAmong("auto", "nchw", "nhwc");
    }

    /// <summary>Preprocessing given on the command line, or null to use the sidecar file / model card.</summary>
    public Preprocessing? Resolve(ParseResult parse)
    {
        string? range = parse.GetValue(InputRange), mean = parse.GetValue(Mean), std = parse.GetValue(Std), layout = parse.GetValue(Layout),
            map = parse.GetValue(LabelMap);
        return range is null && mean is null && std is null && layout is null && map is null
            ? null
            : Preprocessing.FromOptions(range, mean, std, layout, map);
    }

    /// <summary>--input-shape, parsed (null when not given).</summary>
    public InputSize? Size(ParseResult parse) => parse.GetValue(InputShape) is { } text ? InputSize.Parse(text) : null;
}
