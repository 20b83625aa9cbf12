using System.Globalization;
using SkiaSharp;

namespace RobustEval.Data;

/// <summary>
/// How images from files become a data set's images: <c>--resize</c> (the shorter side to N, aspect kept, or
/// exactly H×W), then <c>--center-crop</c>, then the channels the model takes (grayscale ↔ RGB).
/// </summary>
public sealed record ImageOptions
{
    /// <summary>Resize the shorter side to this, keeping the aspect ratio (torchvision's Resize(N)).</summary>
    public int? ResizeShorter { get; init; }

    /// <summary>Resize to exactly this height and width.</summary>
    public (int Height, int Width)? ResizeExact { get; init; }

    public (int Height, int Width)? CenterCrop { get; init; }

    /// <summary>1 or 3 (the model's); null: 1 when every image is grayscale, else 3.</summary>
    public int? Channels { get; init; }

    /// <summary>
    /// The model's image size: with neither --resize nor --center-crop, an image of another size has its shorter
    /// side resized to it and is centre-cropped, and a notice says how many were.
    /// </summary>
    public (int Height, int Width)? TargetSize { get; init; }

    public Action<string>? Notice { get; init; }

    public bool Transforms => ResizeShorter is not null || ResizeExact is not null || CenterCrop is not null;

    /// <summary>--resize N or HxW and --center-crop N or HxW, either may be null.</summary>
    public static ImageOptions Parse(string? resize, string? centerCrop)
    {
        var options = new ImageOptions();
        if (resize is not null)
        {
            var size = ParseSize(resize, "--resize");
            options = size.Square ? options with { ResizeShorter = size.Height } : options with { ResizeExact = (size.Height, size.Width) };
        }
        if (centerCrop is not null)
        {
            var size = ParseSize(centerCrop, "--center-crop");
            options = options with { CenterCrop = (size.Height, size.Width) };
        }
        return options;
    }

    private static (int Height, int Width, bool Square) ParseSize(string text, string option)
    {
        var parts = text.ToLowerInvariant().Split('x', ',');
        var values = parts.Select(p => int.TryParse(p.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1).ToArray();
        if (parts.Length is < 1 or > 2 || values.Any(v => v < 1 || v > ImageFiles.MaxSide))
        {
            throw new UserErrorException($"{option} '{text}' is not N or HxW (sizes 1 to {ImageFiles.MaxSide:N0}), e.g. 256 or 224x224");
        }
        return values.Length == 1 ? (values[0], values[0], true) : (values[0], values[1], false);
    }
}

/// <summary>
/// A folder of images as a data set: one sub-folder per class (class names sorted, as torchvision's ImageFolder,
/// unless they are all class names the model knows, which then give the labels), or any files listed in
/// <c>labels.csv</c> / <c>labels.txt</c> (FILE,LABEL per line; LABEL an index or a class name). Images are read
/// in a fixed order (class, then file name); nothing is returned until every file has been read.
/// </summary>
public static class ImageFolder
{
    public const int MaxImages = 1_000_000;

    /// <summary>The most float32 values a data set read from images may hold (4 GiB of pixels).</summary>
    public const long MaxValues = 1L << 30;

    public static readonly IReadOnlyList<string> LabelFiles = ["labels.csv", "labels.txt"];

    public static bool IsImageFolder(string spec) => Directory.Exists(spec);

    /// <summary>Reads the folder (only its first <paramref name="limit"/> images when given).</summary>
    public static Dataset Load(string directory, ImageOptions options, IReadOnlyList<string>? knownClassNames = null, int? limit = null)
    {
        var (files, labels, names) = List(directory, knownClassNames);
        if (limit is { } n)
        {
            if (n < 1)
            {
                throw new UserErrorException($"--limit must be at least 1 (got {n})");
            }
            files = files.Take(n).ToList();
            labels = labels.Take(n).ToArray();
        }
        var images = new List<byte[]>(files.Count);
        bool allGray = true;
        int height = 0, width = 0, resized = 0;
        string? first = null;
        for (int i = 0; i < files.Count; i++)
        {
            using var bitmap = ImageFiles.Decode(files[i], out bool gray);
            allGray &= gray;
            var (pixels, h, w, wasResized) = Transform(bitmap, files[i], options);
            resized += wasResized ? 1 : 0;
            if (first is null)
            {
                (first, height, width) = (files[i], h, w);
                int channels = options.Channels ?? 3;
                if ((long)files.Count * channels * h * w > MaxValues)
                {
                    throw new DataFormatException(directory,
                        $"{files.Count:N0} images of {channels}×{h}×{w} would need {(long)files.Count * channels * h * w * 4 / (1 << 20):N0} MiB; " +
                        $"at most {MaxValues * 4 / (1 << 20):N0} MiB are read (give --resize/--center-crop, or fewer images)");
                }
            }
            else if ((h, w) != (height, width))
            {
                throw new DataFormatException(files[i],
                    $"is {w}×{h} but {first} is {width}×{height}: images of different sizes need --resize and/or --center-crop (e.g. --resize 256 --center-crop 224)");
            }
            images.Add(pixels);
        }
        if (resized > 0)
        {
            options.Notice?.Invoke($"{resized:N0} of {files.Count:N0} images in {directory} were resized (shorter side) and centre-cropped to the model's {width}×{height}; " +
                "--resize and --center-crop choose otherwise");
        }
        int c = options.Channels ?? (allGray ? 1 : 3);
        int plane = height * width;
        var values = new float[(long)files.Count * c * plane];
        for (int i = 0; i < images.Count; i++)
        {
            var rgb = images[i];
            var target = values.AsSpan(i * c * plane, c * plane);
            for (int p = 0; p < plane; p++)
            {
                if (c == 1)
                {
                    target[p] = MathF.Round(rgb[p] * 0.299f + rgb[plane + p] * 0.587f + rgb[2 * plane + p] * 0.114f) / 255f;
                }
                else
                {
                    target[p] = rgb[p] / 255f;
                    target[plane + p] = rgb[plane + p] / 255f;
                    target[2 * plane + p] = rgb[2 * plane + p] / 255f;
                }
            }
        }
        return new Dataset(values, labels, c, height, width, names,
            $"image folder {directory} ({files.Count:N0} images, {names.Count} classes)");
    }

    /// <summary>Resize and crop as the options say; RGB channels-first bytes of the result.</summary>
    private static (byte[] Rgb, int Height, int Width, bool Resized) Transform(SKBitmap bitmap, string file, ImageOptions options)
    {
        int h = bitmap.Height, w = bitmap.Width;
        (int Height, int Width)? resizeTo = null, crop = options.CenterCrop;
        bool automatic = false;
        if (options.ResizeExact is { } exact)
        {
            resizeTo = exact;
        }
        else if (options.ResizeShorter is { } shorter)
        {
            resizeTo = Shorter(h, w, shorter);
        }
        else if (!options.Transforms && options.TargetSize is { } target && (h, w) != target)
        {
            resizeTo = Shorter(h, w, Math.Max(target.Height, target.Width));
            crop = target;
            automatic = true;
        }
        SKBitmap? scaled = null;
        try
        {
            var source = bitmap;
            if (resizeTo is { } size && size != (h, w))
            {
                scaled = bitmap.Resize(new SKImageInfo(size.Width, size.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul),
                    new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear))
                    ?? throw new DataFormatException(file, $"cannot be resized to {size.Width}×{size.Height}");
                source = scaled;
                (h, w) = size;
            }
            int top = 0, left = 0;
            if (crop is { } box)
            {
                if (box.Height > h || box.Width > w)
                {
                    throw new DataFormatException(file, $"is {w}×{h}{(resizeTo is null ? "" : " after resizing")}, smaller than the {box.Width}×{box.Height} centre crop; resize it first (--resize)");
                }
                top = (int)Math.Round((h - box.Height) / 2.0);
                left = (int)Math.Round((w - box.Width) / 2.0);
                (h, w) = box;
            }
            using var cropped = new SKBitmap();
            var region = source;
            if ((top, left, h, w) != (0, 0, source.Height, source.Width))
            {
                if (!source.ExtractSubset(cropped, new SKRectI(left, top, left + w, top + h)))
                {
                    throw new DataFormatException(file, $"cannot be cropped to {w}×{h}");
                }
                region = cropped;
            }
            return (ImageFiles.ToChannels(region, 3), h, w, automatic);
        }
        finally
        {
            scaled?.Dispose();
        }
    }

    private static (int Height, int Width) Shorter(int h, int w, int shorter) => h <= w
        ? (shorter, Math.Max(1, (int)Math.Round((double)w * shorter / h)))
        : (Math.Max(1, (int)Math.Round((double)h * shorter / w)), shorter);

    /// <summary>The image files, their labels and the class names, from a labels file or the class sub-folders.</summary>
    internal static (List<string> Files, long[] Labels, IReadOnlyList<string> Names) List(string directory, IReadOnlyList<string>? known)
    {
        if (!Directory.Exists(directory))
        {
            throw new DataUnavailableException($"{directory}: no such folder");
        }
        var labelFile = LabelFiles.Select(name => Path.Combine(directory, name)).FirstOrDefault(File.Exists);
        var result = labelFile is not null ? FromLabelFile(directory, labelFile, known) : FromSubFolders(directory, known);
        if (result.Files.Count == 0)
        {
            throw new DataFormatException(directory, labelFile is null
                ? $"no images ({string.Join(", ", ImageFiles.Extensions)}) in class sub-folders; put each class's images in a sub-folder named after it, or list FILE,LABEL lines in labels.csv"
                : $"{Path.GetFileName(labelFile)} lists no images");
        }
        if (result.Files.Count > MaxImages)
        {
            throw new DataFormatException(directory, $"{result.Files.Count:N0} images are more than the {MaxImages:N0} read at once");
        }
        return result;
    }

    private static (List<string> Files, long[] Labels, IReadOnlyList<string> Names) FromSubFolders(string directory, IReadOnlyList<string>? known)
    {
        var folders = Directory.GetDirectories(directory).Select(Path.GetFileName).OfType<string>()
            .Where(name => !name.StartsWith('.')).OrderBy(name => name, StringComparer.Ordinal).ToList();
        if (folders.Count == 0 && Directory.EnumerateFiles(directory).Any(ImageFiles.IsImage))
        {
            throw new DataFormatException(directory,
                "holds images but no class sub-folders: put each class's images in a sub-folder named after it, or list FILE,LABEL lines in labels.csv");
        }
        // Folder names that are all the model's class names keep the model's order; otherwise sorted order.
        IReadOnlyList<string> names = known is not null && folders.All(f => known.Contains(f, StringComparer.Ordinal)) && folders.Count > 0 ? known : folders;
        var files = new List<string>();
        var labels = new List<long>();
        foreach (var folder in folders)
        {
            long label = IndexOf(names, folder);
            foreach (var file in Directory.EnumerateFiles(Path.Combine(directory, folder), "*", SearchOption.AllDirectories)
                .Where(f => ImageFiles.IsImage(f) && !Path.GetFileName(f).StartsWith('.')).OrderBy(f => f, StringComparer.Ordinal))
            {
                files.Add(file);
                labels.Add(label);
            }
        }
        return (files, labels.ToArray(), names);
    }

    private static (List<string> Files, long[] Labels, IReadOnlyList<string> Names) FromLabelFile(string directory, string labelFile, IReadOnlyList<string>? known)
    {
        var entries = new List<(string File, string Label, int Line)>();
        var lines = File.ReadAllLines(labelFile);
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            int split = line.LastIndexOf(',');
            if (split < 0)
            {
                split = line.LastIndexOfAny([' ', '\t']);
            }
            if (split <= 0 || split == line.Length - 1)
            {
                throw new DataFormatException(labelFile, $"line {i + 1} is not FILE,LABEL: '{line}'");
            }
            var (file, label) = (line[..split].Trim().Trim('"'), line[(split + 1)..].Trim().Trim('"'));
            if (entries.Count == 0 && i == FirstContentLine(lines) && label.ToLowerInvariant() is "label" or "class" or "y" or "target")
            {
                continue;
            }
            entries.Add((file, label, i + 1));
        }
        bool numeric = entries.All(e => long.TryParse(e.Label, NumberStyles.None, CultureInfo.InvariantCulture, out _));
        IReadOnlyList<string> names;
        if (numeric)
        {
            long max = entries.Count == 0 ? 0 : entries.Max(e => long.Parse(e.Label, CultureInfo.InvariantCulture));
            if (max >= 100_000)
            {
                throw new DataFormatException(labelFile, $"label {max} is too large (labels are class indices from 0)");
            }
            names = known is not null && known.Count > max ? known
                : Enumerable.Range(0, (int)max + 1).Select(v => v.ToString(CultureInfo.InvariantCulture)).ToArray();
        }
        else
        {
            var given = entries.Select(e => e.Label).Distinct(StringComparer.Ordinal).ToList();
            names = known is not null && given.All(g => known.Contains(g, StringComparer.Ordinal))
                ? known
                : given.OrderBy(g => g, StringComparer.Ordinal).ToArray();
        }
        var files = new List<string>();
        var labels = new List<long>();
        var root = Path.GetFullPath(directory);
        foreach (var (file, label, line) in entries)
        {
            var path = Path.GetFullPath(Path.Combine(directory, file));
            if (!path.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                throw new DataFormatException(labelFile, $"line {line}: '{file}' is outside {directory}");
            }
            if (!File.Exists(path))
            {
                throw new DataFormatException(labelFile, $"line {line}: '{file}' does not exist");
            }
            files.Add(path);
            labels.Add(numeric ? long.Parse(label, CultureInfo.InvariantCulture) : IndexOf(names, label));
        }
        return (files, labels.ToArray(), names);
    }

    private static int FirstContentLine(string[] lines) =>
        Array.FindIndex(lines, l => l.Trim().Length > 0 && !l.TrimStart().StartsWith('#'));

    private static long IndexOf(IReadOnlyList<string> names, string name)
    {
        for (int i = 0; i < names.Count; i++)
        {
            if (string.Equals(names[i], name, StringComparison.Ordinal))
            {
                return i;
            }
        }
        throw new InvalidOperationException($"class '{name}' missing");
    }
}
