using System.Text.Json;
using System.Text.Json.Serialization;
using RobustEval.Data;
using RobustEval.Geometry;
using RobustEval.IO;

namespace RobustEval.Evaluator.Transfer;

/// <summary>One norm's share of a transfer set: its radius, how many test points were attacked and how many fooled the source.</summary>
internal sealed record TransferNormCount(
    [property: JsonPropertyName("norm")] string Norm,
    [property: JsonPropertyName("eps")] float Eps,
    [property: JsonPropertyName("tried")] int Tried,
    [property: JsonPropertyName("found")] int Found);

/// <summary>The JSON manifest beside a transfer set's .npz: where the examples came from.</summary>
internal sealed record TransferManifest
{
    [JsonPropertyName("source_model")]
    public required string SourceModel { get; init; }

    [JsonPropertyName("source_sha256")]
    public required string SourceSha256 { get; init; }

    [JsonPropertyName("data")]
    public required string Data { get; init; }

    [JsonPropertyName("data_source")]
    public required string DataSource { get; init; }

    [JsonPropertyName("data_examples")]
    public required int DataExamples { get; init; }

    [JsonPropertyName("class_names")]
    public required IReadOnlyList<string> ClassNames { get; init; }

    [JsonPropertyName("attack")]
    public required string Attack { get; init; }

    [JsonPropertyName("pixels")]
    public int Pixels { get; init; } = 1;

    [JsonPropertyName("norms")]
    public required IReadOnlyList<TransferNormCount> Norms { get; init; }

    [JsonPropertyName("examples")]
    public required int Examples { get; init; }

    [JsonPropertyName("layout")]
    public string Layout { get; init; } = "NCHW";

    [JsonPropertyName("evaluator_version")]
    public string? EvaluatorVersion { get; init; }
}

/// <summary>
/// Adversarial examples made against one model, to test how they transfer to others (Shaham et al.'s 𝒜_mnist,
/// 𝒜_cifar10): <c>x_adv</c>, the clean <c>x</c> they came from, <c>y</c>, <c>source_index</c> (into the data),
/// <c>norm</c> (0 = ℓ1, 1 = ℓ2, 2 = ℓ∞) and <c>eps</c>, all in NCHW pixel space.
/// </summary>
internal sealed class TransferSet
{
    public required float[] Adversarial { get; init; }

    public required float[] Originals { get; init; }

    public required long[] Labels { get; init; }

    public required long[] SourceIndex { get; init; }

    public required long[] Norms { get; init; }

    public required float[] Eps { get; init; }

    public required int Channels { get; init; }

    public required int Height { get; init; }

    public required int Width { get; init; }

    public required TransferManifest Manifest { get; init; }

    public int Count => Labels.Length;

    public int ImageSize => Channels * Height * Width;

    public static string ManifestPath(string path) => Path.ChangeExtension(path, ".json");

    /// <summary>The adversarial (or original) images as a dataset, optionally only those of one norm.</summary>
    public Dataset AsDataset(bool adversarial, NormKind? norm = null)
    {
        var indices = Enumerable.Range(0, Count).Where(i => norm is null || Norms[i] == (long)norm).ToList();
        var pixels = new float[(long)indices.Count * ImageSize];
        var labels = new long[indices.Count];
        var source = adversarial ? Adversarial : Originals;
        for (int k = 0; k < indices.Count; k++)
        {
            source.AsSpan(indices[k] * ImageSize, ImageSize).CopyTo(pixels.AsSpan(k * ImageSize));
            labels[k] = Labels[indices[k]];
        }
        return new Dataset(pixels, labels, Channels, Height, Width, Manifest.ClassNames,
            $"transfer set from {Path.GetFileName(Manifest.SourceModel)}{(norm is null ? "" : $", {norm.Value.Symbol()}")}");
    }

    public void Save(string path)
    {
        int n = Count;
        Npz.Write(path,
        [
            new("x_adv", NpyArray.Of(Adversarial, n, Channels, Height, Width)),
            new("x", NpyArray.Of(Originals, n, Channels, Height, Width)),
            new("y", NpyArray.Of(Labels, n)),
            new("source_index", NpyArray.Of(SourceIndex, n)),
            new("norm", NpyArray.Of(Norms, n)),
            new("eps", NpyArray.Of(Eps, n)),
        ]);
        AtomicFile.WriteAllText(ManifestPath(path), JsonSerializer.Serialize(Manifest, JsonOutput.Options) + "\n");
    }

    public static TransferSet Load(string path)
    {
        var arrays = Npz.Read(path);
        var manifestPath = ManifestPath(path);
        if (!File.Exists(manifestPath))
        {
            throw new UserErrorException($"{path}: its manifest {manifestPath} is missing");
        }
        TransferManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<TransferManifest>(File.ReadAllText(manifestPath));
        }
        catch (JsonException e)
        {
            throw new UserErrorException($"{manifestPath}: not a transfer-set manifest ({e.Message.Split('.')[0]})");
        }
        if (manifest is null)
        {
            throw new UserErrorException($"{manifestPath}: empty manifest");
        }
        var adversarial = arrays.Require(path, "x_adv");
        if (adversarial.Shape.Length != 4 || adversarial.Type != NpyType.Float32)
        {
            throw new DataFormatException(path, "x_adv must be float32 (N, C, H, W)");
        }
        long n = adversarial.Shape[0];
        var originals = arrays.Require(path, "x");
        var labels = arrays.Require(path, "y").ToInt64();
        var sourceIndex = arrays.Require(path, "source_index").ToInt64();
        var norms = arrays.Require(path, "norm").ToInt64();
        var eps = arrays.Require(path, "eps").ToFloat32();
        if (!originals.Shape.SequenceEqual(adversarial.Shape) || labels.Length != n || sourceIndex.Length != n || norms.Length != n || eps.Length != n)
        {
            throw new DataFormatException(path, "x, x_adv, y, source_index, norm and eps do not hold the same number of examples");
        }
        if (norms.Any(k => k is < 0 or > 2))
        {
            throw new DataFormatException(path, "norm codes must be 0 (ℓ1), 1 (ℓ2) or 2 (ℓ∞)");
        }
        var pixels = adversarial.ToFloat32();
        var clean = originals.ToFloat32();
        Dataset.Validate(path, pixels, labels, Math.Max(manifest.ClassNames.Count, 1));
        Dataset.Validate(path, clean, labels, Math.Max(manifest.ClassNames.Count, 1));
        return new TransferSet
        {
            Adversarial = pixels,
            Originals = clean,
            Labels = labels,
            SourceIndex = sourceIndex,
            Norms = norms,
            Eps = eps,
            Channels = (int)adversarial.Shape[1],
            Height = (int)adversarial.Shape[2],
            Width = (int)adversarial.Shape[3],
            Manifest = manifest,
        };
    }
}
