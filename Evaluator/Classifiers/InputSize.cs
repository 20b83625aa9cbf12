using System.Globalization;

namespace RobustEval.Evaluator.Classifiers;

/// <summary>
/// The image size (channels, height, width) a model with dynamic input dims is loaded at: given with
/// <c>--input-shape C,H,W</c> (<see cref="Explicit"/>: it must agree with every fixed dim) or read from the data
/// (it only fills the dims the model leaves open; a mismatch elsewhere is the data check's to report).
/// </summary>
public sealed record InputSize(long Channels, long Height, long Width, bool Explicit)
{
    /// <summary>The largest image RobustEval loads a model at (values per image).</summary>
    public const long MaxValues = 64L << 20;

    /// <summary>Parses "C,H,W" (or "CxHxW"); one-line errors for anything else.</summary>
    public static InputSize Parse(string text)
    {
        var parts = text.Split([',', 'x', 'X'], StringSplitOptions.TrimEntries);
        var values = new long[3];
        if (parts.Length != 3 || !parts.Select((p, i) => long.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out values[i])).All(ok => ok))
        {
            throw new UserErrorException($"--input-shape '{text}': give channels, height and width as C,H,W, e.g. 3,224,224");
        }
        if (values.Any(v => v < 1))
        {
            throw new UserErrorException($"--input-shape '{text}': every size must be at least 1");
        }
        if (values[0] * values[1] * values[2] > MaxValues)
        {
            throw new UserErrorException($"--input-shape '{text}': images of {values[0] * values[1] * values[2]:N0} values are beyond what RobustEval handles");
        }
        return new InputSize(values[0], values[1], values[2], Explicit: true);
    }

    /// <summary>The size of the images <paramref name="spec"/> names (null for no spec), layout guessed from the file.</summary>
    public static InputSize? FromData(string? spec, Data.ImageOptions? images = null)
    {
        if (spec is null)
        {
            return null;
        }
        if (Data.ImageFolder.IsImageFolder(spec) && images is not { Transforms: true })
        {
            throw new UserErrorException($"the model's image size is dynamic and {spec} is an image folder: give --input-shape C,H,W, or --resize/--center-crop to bring its images to one size");
        }
        var (data, _) = new Data.DatasetCatalog(Data.DataDirectories.Default()).Load(spec, images: images);
        return new InputSize(data.Channels, data.Height, data.Width, Explicit: false);
    }

    public override string ToString() => $"{Channels}x{Height}x{Width}";
}
