using System.Globalization;
using System.Text.Json;

namespace RobustEval.ModelCards;

/// <summary>
/// What a RobustEval model says about itself, stored as string pairs in the ONNX file's <c>metadata_props</c>
/// so any ONNX tool can read it. Models take pixels in <see cref="InputMin"/>..<see cref="InputMax"/> (NCHW) and
/// normalise inside the graph; <see cref="Mean"/>/<see cref="Std"/> record what that normalisation is.
/// </summary>
public sealed record ModelCard
{
    public const string VersionKey = "robusteval.card_version";
    public const string CurrentVersion = "1";

    public string? Name { get; init; }

    public string? Architecture { get; init; }

    public string? Dataset { get; init; }

    public IReadOnlyList<string>? ClassNames { get; init; }

    public float InputMin { get; init; }

    public float InputMax { get; init; } = 1f;

    public string InputLayout { get; init; } = "NCHW";

    public IReadOnlyList<float>? Mean { get; init; }

    public IReadOnlyList<float>? Std { get; init; }

    /// <summary>standard, robust, mix, pgd, dynamic.</summary>
    public string? Method { get; init; }

    /// <summary>l1, l2, linf for adversarially trained models.</summary>
    public string? Norm { get; init; }

    public double? Eps { get; init; }

    public int? Epochs { get; init; }

    public double? CleanAccuracy { get; init; }

    /// <summary>The data the clean accuracy was measured on, in words.</summary>
    public string? TestData { get; init; }

    public string? TrainerVersion { get; init; }

    /// <summary>Further training settings (alpha, steps, step size, FOSC threshold, seed, …) by name.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    public IEnumerable<KeyValuePair<string, string>> ToProperties()
    {
        yield return new(VersionKey, CurrentVersion);
        foreach (var pair in Optional("name", Name)
            .Concat(Optional("architecture", Architecture))
            .Concat(Optional("dataset", Dataset))
            .Concat(Optional("class_names", ClassNames is null ? null : JsonSerializer.Serialize(ClassNames)))
            .Concat(Optional("input_range", $"{Format(InputMin)},{Format(InputMax)}"))
            .Concat(Optional("input_layout", InputLayout))
            .Concat(Optional("normalization_mean", Mean is null ? null : JsonSerializer.Serialize(Mean)))
            .Concat(Optional("normalization_std", Std is null ? null : JsonSerializer.Serialize(Std)))
            .Concat(Optional("method", Method))
            .Concat(Optional("norm", Norm))
            .Concat(Optional("eps", Eps is null ? null : Format(Eps.Value)))
            .Concat(Optional("epochs", Epochs?.ToString(CultureInfo.InvariantCulture)))
            .Concat(Optional("clean_accuracy", CleanAccuracy is null ? null : Format(CleanAccuracy.Value)))
            .Concat(Optional("test_data", TestData))
            .Concat(Optional("trainer_version", TrainerVersion)))
        {
            yield return pair;
        }
        foreach (var (key, value) in Settings.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            yield return new("setting." + key, value);
        }
    }

    /// <summary>Reads a card from metadata pairs; null when the model carries none of ours.</summary>
    public static ModelCard? FromProperties(IReadOnlyDictionary<string, string> properties)
    {
        if (!properties.ContainsKey(VersionKey))
        {
            return null;
        }
        string? Get(string key) => properties.TryGetValue(key, out var v) ? v : null;
        var range = (Get("input_range") ?? "0,1").Split(',');
        return new ModelCard
        {
            Name = Get("name"),
            Architecture = Get("architecture"),
            Dataset = Get("dataset"),
            ClassNames = ParseJson<string[]>(Get("class_names")),
            InputMin = ParseFloat(range[0]) ?? 0f,
            InputMax = range.Length > 1 ? ParseFloat(range[1]) ?? 1f : 1f,
            InputLayout = Get("input_layout") ?? "NCHW",
            Mean = ParseJson<float[]>(Get("normalization_mean")),
            Std = ParseJson<float[]>(Get("normalization_std")),
            Method = Get("method"),
            Norm = Get("norm"),
            Eps = ParseDouble(Get("eps")),
            Epochs = int.TryParse(Get("epochs"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int e) ? e : null,
            CleanAccuracy = ParseDouble(Get("clean_accuracy")),
            TestData = Get("test_data"),
            TrainerVersion = Get("trainer_version"),
            Settings = properties.Where(p => p.Key.StartsWith("setting.", StringComparison.Ordinal))
                .ToDictionary(p => p.Key["setting.".Length..], p => p.Value),
        };
    }

    /// <summary>One line describing the training, e.g. "robust ℓ∞ ε=0.062".</summary>
    public string TrainingSummary()
    {
        var parts = new List<string> { Method ?? "unknown method" };
        if (Norm is not null && Geometry.NormKinds.TryParse(Norm) is { } kind)
        {
            parts.Add(Geometry.NormKinds.Symbol(kind));
        }
        if (Eps is not null)
        {
            parts.Add($"ε={Format(Eps.Value)}");
        }
        return string.Join(" ", parts);
    }

    public static string Format(double value) => value.ToString("0.######", CultureInfo.InvariantCulture);

    private static IEnumerable<KeyValuePair<string, string>> Optional(string key, string? value) =>
        value is null ? [] : [new(key, value)];

    private static double? ParseDouble(string? text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : null;

    private static float? ParseFloat(string? text) =>
        float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) ? v : null;

    private static T? ParseJson<T>(string? text) where T : class
    {
        if (text is null)
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize<T>(text);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
