namespace RobustEval.Data;

/// <summary>
/// The project's data-file contract: an .npz with <c>x</c> — float32 in [0, 1] or uint8 0–255, (N, C, H, W) or
/// (N, H, W, C) — and <c>y</c>, integer labels (N). Python users can <c>np.load</c> what we write.
/// </summary>
public static class DatasetNpz
{
    /// <summary>
    /// Loads the images under <paramref name="imageKey"/> and labels under <paramref name="labelKey"/>.
    /// <paramref name="layout"/> says how <c>x</c> is laid out; null guesses from the shape (channels last when the
    /// last axis is 1 or 3 and the second is not). Returned images are always NCHW.
    /// </summary>
    public static (Dataset Data, ImageLayout Layout) Load(string path, ImageLayout? layout = null,
        IReadOnlyList<string>? classNames = null, string imageKey = "x", string labelKey = "y")
    {
        var arrays = Npz.Read(path);
        var x = arrays.Require(path, imageKey);
        var y = arrays.Require(path, labelKey);
        if (x.Shape.Length is not (3 or 4))
        {
            throw new DataFormatException(path,
                $"'{imageKey}' has shape ({string.Join(", ", x.Shape)}); images are (N, C, H, W) or (N, H, W, C)");
        }
        if (y.Shape.Length != 1 || !y.IsInteger)
        {
            throw new DataFormatException(path, $"'{labelKey}' must be a 1-D integer array, not {y.Type} ({string.Join(", ", y.Shape)})");
        }
        // A 3-D x is a batch of single-channel images without the channel axis.
        long[] shape = x.Shape.Length == 3 ? [x.Shape[0], 1, x.Shape[1], x.Shape[2]] : x.Shape;
        var resolved = layout ?? GuessLayout(shape);
        long n = shape[0];
        var (c, h, w) = resolved == ImageLayout.Nchw ? (shape[1], shape[2], shape[3]) : (shape[3], shape[1], shape[2]);
        if (n != y.Shape[0])
        {
            throw new DataFormatException(path, $"'{imageKey}' holds {n} images but '{labelKey}' holds {y.Shape[0]} labels");
        }
        if (n == 0 || c == 0 || h == 0 || w == 0)
        {
            throw new DataFormatException(path, $"'{imageKey}' is empty ({string.Join(", ", x.Shape)})");
        }
        float[] pixels;
        if (x.Type == NpyType.UInt8)
        {
            pixels = Array.ConvertAll(x.Bytes, b => b / 255f);
        }
        else if (x.Type is NpyType.Float32 or NpyType.Float64)
        {
            pixels = x.ToFloat32();
        }
        else
        {
            throw new DataFormatException(path, $"'{imageKey}' is {x.Type}; images are float32 in [0, 1] or uint8");
        }
        if (resolved == ImageLayout.Nhwc)
        {
            pixels = Layouts.ToNchw(pixels, (int)n, (int)c, (int)h, (int)w);
        }
        var labels = y.ToInt64();
        // Names stored in the file (data import writes them) win over the caller's, so a mismatch can be caught.
        var names = ReadClassNames(path, arrays) ?? classNames ?? DefaultClassNames(labels);
        Dataset.Validate(path, pixels, labels, names.Count);
        return (new Dataset(pixels, labels, (int)c, (int)h, (int)w, names, path), resolved);
    }

    /// <summary>The optional array of class names: UTF-8 text, one name per line (numpy: <c>bytes(f['class_names']).decode().split('\n')</c>).</summary>
    public const string ClassNamesKey = "class_names";

    /// <summary>
    /// Writes a dataset as <c>x</c> (float32, or uint8 0–255 with <paramref name="asBytes"/>, in <paramref name="layout"/>),
    /// <c>y</c> (int64) and, with <paramref name="withClassNames"/>, <c>class_names</c>.
    /// </summary>
    public static void Save(string path, Dataset data, ImageLayout layout = ImageLayout.Nchw, bool asBytes = false, bool withClassNames = false)
    {
        var x = ImageArray(data.Pixels.ToArray(), data.Count, data.Channels, data.Height, data.Width, layout);
        if (asBytes)
        {
            x = new NpyArray(NpyType.UInt8, x.Shape, Array.ConvertAll(x.ToFloat32(), v => (byte)Math.Clamp((int)MathF.Round(v * 255f), 0, 255)));
        }
        var arrays = new List<KeyValuePair<string, NpyArray>> { new("x", x), new("y", NpyArray.Of(data.Labels.ToArray(), data.Count)) };
        if (withClassNames)
        {
            var text = System.Text.Encoding.UTF8.GetBytes(string.Join('\n', data.ClassNames));
            arrays.Add(new(ClassNamesKey, NpyArray.Of(text, text.Length)));
        }
        Npz.Write(path, arrays);
    }

    private static IReadOnlyList<string>? ReadClassNames(string path, Dictionary<string, NpyArray> arrays)
    {
        if (!arrays.TryGetValue(ClassNamesKey, out var array))
        {
            return null;
        }
        if (array.Type != NpyType.UInt8 || array.Shape.Length != 1)
        {
            throw new DataFormatException(path, $"'{ClassNamesKey}' must be UTF-8 bytes (uint8, 1-D), one class name per line");
        }
        string text;
        try
        {
            text = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(array.Bytes);
        }
        catch (System.Text.DecoderFallbackException)
        {
            throw new DataFormatException(path, $"'{ClassNamesKey}' is not valid UTF-8");
        }
        var names = text.Split('\n');
        if (names.Any(n => n.Length == 0) || names.Distinct(StringComparer.Ordinal).Count() != names.Length)
        {
            throw new DataFormatException(path, $"'{ClassNamesKey}' must hold distinct, non-empty names, one per line");
        }
        return names;
    }

    /// <summary>An NCHW float buffer as an array in the requested layout.</summary>
    public static NpyArray ImageArray(float[] nchw, int n, int c, int h, int w, ImageLayout layout) =>
        layout == ImageLayout.Nchw
            ? NpyArray.Of(nchw, n, c, h, w)
            : NpyArray.Of(Layouts.ToNhwc(nchw, n, c, h, w), n, h, w, c);

    private static ImageLayout GuessLayout(long[] shape) =>
        shape[3] is 1 or 3 && shape[1] is not (1 or 3) ? ImageLayout.Nhwc : ImageLayout.Nchw;

    private static string[] DefaultClassNames(long[] labels)
    {
        long max = labels.Length == 0 ? 0 : labels.Max();
        int count = (int)Math.Clamp(max + 1, 1, 100_000);
        return Enumerable.Range(0, count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }
}
