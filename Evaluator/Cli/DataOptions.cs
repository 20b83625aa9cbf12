using System.CommandLine;
using RobustEval.Cli;
using RobustEval.Data;
using RobustEval.Evaluator.Classifiers;

namespace RobustEval.Evaluator.Cli;

/// <summary>--data and --limit: which images to attack.</summary>
internal sealed class DataOptions
{
    public Option<string?> Data { get; } = new("--data")
    {
        Description = "Images: mnist-test, fashion-mnist-test, cifar10-test (…-train too), an .npz with x (N,C,H,W, or N,H,W,C for an NHWC model; " +
            "float32 in [0,1] or uint8) and y (int64), or a folder of images (one sub-folder per class, or a labels.csv; see data import). " +
            "Default: the sample next to the model (e.g. Models/mnist-sample.npz), else its data set's test split",
    };

    public Option<int?> Limit { get; } = new("--limit") { Description = "Use only the first N images" };

    public ImageCommandOptions Images { get; } = new();

    public void AddTo(Command command)
    {
        command.Options.Add(Data);
        command.Options.Add(Limit);
        Images.AddTo(command);
    }

    /// <summary>
    /// The image size of the --data images (null without --data), for a model whose input size is dynamic: read
    /// before the model is loaded, with the layout guessed from the file's shape.
    /// </summary>
    public InputSize? Size(ParseResult parse) => InputSize.FromData(parse.GetValue(Data), Images.Parse(parse));

    /// <summary>Notices (an image folder resized, …) on standard error, as every command gives them.</summary>
    public static void Notice(string notice) => Console.Error.WriteLine($"notice: {notice}");

    /// <summary>The data to attack and the layout its file uses (results are written back in it).</summary>
    public (Dataset Data, ImageLayout Layout) Load(ParseResult parse, Classifier classifier)
    {
        var spec = parse.GetValue(Data) ?? classifier.DefaultData();
        if (!ImageFolder.IsImageFolder(spec) && Images.Parse(parse).Transforms)
        {
            throw new UserErrorException("--resize and --center-crop apply to a folder of images given as --data, not to " + spec);
        }
        var (data, layout) = classifier.LoadData(spec, Images.Parse(parse), Notice);
        if (parse.GetValue(Limit) is { } limit)
        {
            if (limit < 1)
            {
                throw new UserErrorException($"--limit must be at least 1 (got {limit})");
            }
            data = data.Take(limit);
        }
        classifier.CheckData(data);
        return (data, layout);
    }
}
