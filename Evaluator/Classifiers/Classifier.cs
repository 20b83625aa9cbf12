using RobustEval.Data;
using RobustEval.ModelCards;

namespace RobustEval.Evaluator.Classifiers;

/// <summary>
/// An ONNX classifier made ready for attacks: its graph takes <see cref="PixelsName"/> — NCHW pixels in [0, 1] —
/// and produces <see cref="LogitsName"/>, with the model's own preprocessing in front (scaling, normalisation,
/// layout) and any final Softmax removed. <see cref="Tensors"/> holds every tensor's shape from running it.
/// </summary>
public sealed class Classifier
{
    public const string PixelsName = "robusteval/pixels";

    public required string Path { get; init; }

    internal ModelProto Model { get; init; } = null!;

    public required string LogitsName { get; init; }

    public required int Channels { get; init; }

    public required int Height { get; init; }

    public required int Width { get; init; }

    public required int Classes { get; init; }

    /// <summary>The batch size the model is fixed to, or null when its batch axis is dynamic.</summary>
    public long? FixedBatch { get; init; }

    /// <summary>The layout of the model's own input.</summary>
    public required ImageLayout InputLayout { get; init; }

    /// <summary>"Softmax" or "LogSoftmax" when the model ended in one and is differentiated through its logits instead.</summary>
    public string? StrippedOutputOp { get; init; }

    public ModelCard? Card { get; init; }

    public required Preprocessing Preprocessing { get; init; }

    /// <summary>The --output the model was loaded with (null: its first output).</summary>
    public string? OutputOption { get; init; }

    public required IReadOnlyList<string> ClassNames { get; init; }

    public required long OriginalOpset { get; init; }

    /// <summary>What loading changed (opset raised, Dropout removed, …), in words.</summary>
    public required IReadOnlyList<string> Notes { get; init; }

    internal IReadOnlyDictionary<string, TensorInfo> Tensors { get; init; } = null!;

    public int ImageSize => Channels * Height * Width;

    public string Name => Card?.Name ?? System.IO.Path.GetFileNameWithoutExtension(Path);

    /// <summary>
    /// Refuses data that cannot go through this model, with the reason in the user's terms: a layout read the
    /// wrong way round says which --layout fits, and data whose classes are not the model card's says so.
    /// </summary>
    public void CheckData(Dataset data)
    {
        if ((data.Channels, data.Height, data.Width) != (Channels, Height, Width))
        {
            throw new UserErrorException(ShapeMismatch(data));
        }
        int modelClasses = Preprocessing.LabelMap?.Length ?? Classes;
        if (data.ClassCount > modelClasses)
        {
            throw new UserErrorException(
                $"{Path} has {Classes} classes but the data has {data.ClassCount}; give a label map (--label-map or MODEL.onnx.json) to relate them");
        }
        if (Preprocessing.LabelMap is null && Card?.ClassNames is { } names && names.Count >= data.ClassCount
            && !names.Take(data.ClassCount).SequenceEqual(data.ClassNames, StringComparer.Ordinal))
        {
            throw new UserErrorException(
                $"{Path} was trained on {Card.Dataset ?? "a data set"} with classes {Sample(names)} but the data ({data.Source}) has classes " +
                $"{Sample(data.ClassNames)}: wrong data set? Give --data with the model's classes, or --label-map to relate them");
        }
    }

    private static string Sample(IReadOnlyList<string> names) =>
        "(" + string.Join(", ", names.Take(4)) + (names.Count > 4 ? ", …" : "") + ")";

    private string ShapeMismatch(Dataset data)
    {
        string Describe(ImageLayout layout, long c, long h, long w) =>
            layout == ImageLayout.Nchw ? $"NCHW {c}×{h}×{w}" : $"NHWC {h}×{w}×{c}";
        var model = Describe(InputLayout, Channels, Height, Width);
        var dataShape = $"{data.Channels}×{data.Height}×{data.Width} (C×H×W)";
        // The model's input dims read the other way round: does the data fit that reading?
        var other = InputLayout == ImageLayout.Nchw ? ImageLayout.Nhwc : ImageLayout.Nchw;
        var (c, h, w) = InputLayout == ImageLayout.Nchw ? (Width, Channels, Height) : (Height, Width, Channels);
        var how = Preprocessing.Layout is null ? "read from its input's shape" : $"from {Preprocessing.Source}";
        if ((data.Channels, data.Height, data.Width) == (c, h, w))
        {
            return $"{Path} takes {model} images (layout {how}) but the data ({data.Source}) are {dataShape}, which fits the model's input " +
                $"read as {Describe(other, c, h, w)}: pass --layout {(other == ImageLayout.Nchw ? "nchw" : "nhwc")}";
        }
        var hint = data.Channels != Channels && data.Height == Height && data.Width == Width
            ? data.Channels == 1 || Channels == 1 ? "; an image folder converts grayscale ↔ RGB itself, an .npz must be converted first" : ""
            : "; for an image folder give --resize/--center-crop, for a model whose size is dynamic --input-shape";
        return $"{Path} takes {model} images (layout {how}) but the data ({data.Source}) are {dataShape}{hint}";
    }

    /// <summary>
    /// Loads <paramref name="spec"/> for this model: an .npz is read in the model's layout, or in the other one when
    /// only that reading gives the model's image size (an NCHW file for an NHWC model is not a riddle to solve by
    /// hand); a folder of images in the model's channels and size (<see cref="FitImages"/>). The layout the file
    /// used comes back, for writing results in it.
    /// </summary>
    public (Dataset Data, ImageLayout Layout) LoadData(string spec, ImageOptions? images = null, Action<string>? notice = null)
    {
        var catalog = new DatasetCatalog(DataDirectories.Default());
        var (data, layout) = catalog.Load(spec, InputLayout, ClassNames, FitImages(images ?? new ImageOptions(), notice));
        if ((data.Channels, data.Height, data.Width) != (Channels, Height, Width) && spec.EndsWith(".npz", StringComparison.OrdinalIgnoreCase))
        {
            var other = InputLayout == ImageLayout.Nchw ? ImageLayout.Nhwc : ImageLayout.Nchw;
            var (reread, rereadLayout) = catalog.Load(spec, other, ClassNames);
            if ((reread.Channels, reread.Height, reread.Width) == (Channels, Height, Width))
            {
                return (reread, rereadLayout);
            }
        }
        return (data, layout);
    }

    /// <summary>How images from a folder are read for this model: in its channels (1 or 3) and, without --resize, at its size.</summary>
    public ImageOptions FitImages(ImageOptions options, Action<string>? notice = null) => options with
    {
        Channels = Channels is 1 or 3 ? Channels : null,
        TargetSize = (Height, Width),
        Notice = notice ?? options.Notice,
    };

    /// <summary>The model's output index for a data label (through the label map when there is one).</summary>
    public long ModelLabel(long dataLabel) => Preprocessing.LabelMap is { } map ? map[dataLabel] : dataLabel;

    /// <summary>The sample shipped next to the model, else the test split of the data set its card names.</summary>
    public string DefaultData()
    {
        var dataset = Card?.Dataset;
        if (dataset is null)
        {
            throw new UserErrorException($"{Path} has no model card naming its data set: give --data");
        }
        var sample = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path))!, $"{dataset}-sample.npz");
        if (File.Exists(sample))
        {
            return sample;
        }
        if (KnownDatasets.Names.Contains(dataset))
        {
            return $"{dataset}-test";
        }
        throw new UserErrorException($"{Path} was trained on '{dataset}', which has no sample or known test split here: give --data");
    }
}
