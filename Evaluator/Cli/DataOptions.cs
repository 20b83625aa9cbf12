using System.CommandLine;
using RobustEval.Data;
using RobustEval.Evaluator.Classifiers;

namespace RobustEval.Evaluator.Cli;

/// <summary>--data and --limit: which images to attack.</summary>
internal sealed class DataOptions
{
    public Option<string?> Data { get; } = new("--data")
    {
        Description = "Images: mnist-test, fashion-mnist-test, cifar10-test (…-train too), or an .npz with x (N,C,H,W, or N,H,W,C for an NHWC model; " +
            "float32 in [0,1] or uint8) and y (int64). Default: the sample next to the model (e.g. Models/mnist-sample.npz), else its data set's test split",
    };

    public Option<int?> Limit { get; } = new("--limit") { Description = "Use only the first N images" };

    public void AddTo(Command command)
    {
        command.Options.Add(Data);
        command.Options.Add(Limit);
    }

    /// <summary>
    /// The image size of the --data images (null without --data), for a model whose input size is dynamic: read
    /// before the model is loaded, with the layout guessed from the file's shape.
    /// </summary>
    public InputSize? Size(ParseResult parse) => InputSize.FromData(parse.GetValue(Data));

    /// <summary>The data to attack and the layout its file uses (results are written back in it).</summary>
    public (Dataset Data, ImageLayout Layout) Load(ParseResult parse, Classifier classifier)
    {
        var spec = parse.GetValue(Data) ?? classifier.DefaultData();
        var catalog = new DatasetCatalog(DataDirectories.Default());
        var (data, layout) = catalog.Load(spec, classifier.InputLayout, classifier.ClassNames);
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
