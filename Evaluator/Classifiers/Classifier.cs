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

    public required IReadOnlyList<string> ClassNames { get; init; }

    public required long OriginalOpset { get; init; }

    /// <summary>What loading changed (opset raised, Dropout removed, …), in words.</summary>
    public required IReadOnlyList<string> Notes { get; init; }

    internal IReadOnlyDictionary<string, TensorInfo> Tensors { get; init; } = null!;

    public int ImageSize => Channels * Height * Width;

    public string Name => Card?.Name ?? System.IO.Path.GetFileNameWithoutExtension(Path);

    /// <summary>Refuses data that cannot go through this model, with the reason.</summary>
    public void CheckData(Dataset data)
    {
        if ((data.Channels, data.Height, data.Width) != (Channels, Height, Width))
        {
            throw new UserErrorException(
                $"{Path} takes {Channels}x{Height}x{Width} images but the data ({data.Source}) has {data.Channels}x{data.Height}x{data.Width}");
        }
        int modelClasses = Preprocessing.LabelMap?.Length ?? Classes;
        if (data.ClassCount > modelClasses)
        {
            throw new UserErrorException(
                $"{Path} has {Classes} classes but the data has {data.ClassCount}; give a label map (--label-map or MODEL.onnx.json) to relate them");
        }
    }

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
