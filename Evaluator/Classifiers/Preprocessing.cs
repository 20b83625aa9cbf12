using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using RobustEval.Data;
using RobustEval.ModelCards;

namespace RobustEval.Evaluator.Classifiers;

/// <summary>
/// How a model expects its input, so attacks can work in one space for every model — NCHW pixels in [0, 1] — and
/// the conversion becomes the first nodes of the graph (and is differentiated with it): scaling to the model's
/// input range, optional per-channel mean/std normalisation, and a transpose for channels-last models.
/// </summary>
public sealed record Preprocessing
{
    public float InputMin { get; init; }

    public float InputMax { get; init; } = 1f;

    /// <summary>Subtracted after scaling to the input range, per channel (null: none).</summary>
    public float[]? Mean { get; init; }

    /// <summary>Divided after the mean, per channel (null: none).</summary>
    public float[]? Std { get; init; }

    /// <summary>The model input's layout; null: read it from the input's shape.</summary>
    public ImageLayout? Layout { get; init; }

    /// <summary>For each of the data's class indices, the model's output index (null: the identity).</summary>
    public int[]? LabelMap { get; init; }

    /// <summary>Where these settings came from, in words.</summary>
    public string Source { get; init; } = "defaults";

    public bool IsIdentity => InputMin == 0 && InputMax == 1 && Mean is null && Std is null;

    /// <summary>The sidecar file users put next to a third-party model: MODEL.onnx.json.</summary>
    public static string SidecarPath(string modelPath) => modelPath + ".json";

    /// <summary>Settings from options, else the sidecar file, else the model card, else [0, 1] without normalisation.</summary>
    public static Preprocessing Resolve(string modelPath, ModelCard? card, Preprocessing? fromOptions)
    {
        if (fromOptions is not null)
        {
            return fromOptions;
        }
        var sidecar = SidecarPath(modelPath);
        if (File.Exists(sidecar))
        {
            return ReadSidecar(sidecar);
        }
        if (card is not null)
        {
            // Our own models normalise inside the graph; the card's mean/std only document it.
            return new Preprocessing
            {
                InputMin = card.InputMin,
                InputMax = card.InputMax,
                Layout = card.InputLayout.Equals("NHWC", StringComparison.OrdinalIgnoreCase) ? ImageLayout.Nhwc : ImageLayout.Nchw,
                Source = "model card",
            };
        }
        return new Preprocessing();
    }

    private sealed record SidecarFile
    {
        [JsonPropertyName("input_range")]
        public float[]? InputRange { get; init; }

        [JsonPropertyName("mean")]
        public float[]? Mean { get; init; }

        [JsonPropertyName("std")]
        public float[]? Std { get; init; }

        [JsonPropertyName("layout")]
        public string? Layout { get; init; }

        [JsonPropertyName("label_map")]
        public int[]? LabelMap { get; init; }
    }

    public static Preprocessing ReadSidecar(string path)
    {
        SidecarFile? file;
        try
        {
            file = JsonSerializer.Deserialize<SidecarFile>(File.ReadAllText(path), new JsonSerializerOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new UserErrorException($"{path}: not valid preprocessing JSON ({e.Message.Split('.')[0]})");
        }
        if (file is null)
        {
            throw new UserErrorException($"{path}: empty preprocessing file");
        }
        if (file.InputRange is not null && file.InputRange.Length != 2)
        {
            throw new UserErrorException($"{path}: input_range must be [min, max]");
        }
        return Validate(new Preprocessing
        {
            InputMin = file.InputRange?[0] ?? 0,
            InputMax = file.InputRange?[1] ?? 1,
            Mean = file.Mean,
            Std = file.Std,
            Layout = file.Layout is null ? null : ParseLayout(file.Layout, path),
            LabelMap = file.LabelMap,
            Source = path,
        }, path);
    }

    /// <summary>Parses the command-line forms: "0,255", "0.485,0.456,0.406", "nhwc".</summary>
    public static Preprocessing FromOptions(string? inputRange, string? mean, string? std, string? layout, string? labelMap)
    {
        var range = inputRange is null ? [0f, 1f] : ParseFloats(inputRange, "--input-range");
        if (range.Length != 2)
        {
            throw new UserErrorException("--input-range takes MIN,MAX (e.g. 0,255)");
        }
        return Validate(new Preprocessing
        {
            InputMin = range[0],
            InputMax = range[1],
            Mean = mean is null ? null : ParseFloats(mean, "--mean"),
            Std = std is null ? null : ParseFloats(std, "--std"),
            Layout = layout is null or "auto" ? null : ParseLayout(layout, "--layout"),
            LabelMap = labelMap is null ? null : ParseFloats(labelMap, "--label-map").Select(v => (int)v).ToArray(),
            Source = "command-line options",
        }, "options");
    }

    private static Preprocessing Validate(Preprocessing p, string where)
    {
        if (!(p.InputMax > p.InputMin) || !float.IsFinite(p.InputMin) || !float.IsFinite(p.InputMax))
        {
            throw new UserErrorException($"{where}: the input range must be MIN < MAX (got {p.InputMin}, {p.InputMax})");
        }
        if ((p.Mean is null) != (p.Std is null) || (p.Mean is not null && p.Mean.Length != p.Std!.Length))
        {
            throw new UserErrorException($"{where}: mean and std must be given together, with one value per channel each");
        }
        if (p.Std is not null && p.Std.Any(s => !(s > 0) || !float.IsFinite(s)))
        {
            throw new UserErrorException($"{where}: std values must be positive");
        }
        if (p.LabelMap is not null && p.LabelMap.Any(i => i < 0))
        {
            throw new UserErrorException($"{where}: label_map entries are output indices (≥ 0)");
        }
        return p;
    }

    private static ImageLayout ParseLayout(string text, string where) => text.ToLowerInvariant() switch
    {
        "nchw" => ImageLayout.Nchw,
        "nhwc" => ImageLayout.Nhwc,
        _ => throw new UserErrorException($"{where}: layout '{text}' is neither nchw nor nhwc"),
    };

    private static float[] ParseFloats(string text, string option)
    {
        try
        {
            return text.Split(',', StringSplitOptions.TrimEntries).Select(v => float.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray();
        }
        catch (FormatException)
        {
            throw new UserErrorException($"{option} '{text}' is not a comma-separated list of numbers");
        }
    }

    public override string ToString()
    {
        var parts = new List<string> { $"input range [{InputMin:G4}, {InputMax:G4}]" };
        if (Mean is not null)
        {
            parts.Add($"mean [{string.Join(", ", Mean.Select(m => m.ToString("G4", CultureInfo.InvariantCulture)))}]");
            parts.Add($"std [{string.Join(", ", Std!.Select(m => m.ToString("G4", CultureInfo.InvariantCulture)))}]");
        }
        if (Layout is not null)
        {
            parts.Add(Layout == ImageLayout.Nhwc ? "NHWC" : "NCHW");
        }
        return string.Join(", ", parts) + $" (from {Source})";
    }
}
