using RobustEval.IO;

namespace RobustEval.Data;

/// <summary>
/// Reads CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin): records of one label byte followed by
/// 3·32·32 pixel bytes, red plane, green plane, blue plane — already channel-first.
/// </summary>
public static class Cifar10BinaryReader
{
    public const int Side = 32;
    public const int RecordSize = 1 + 3 * Side * Side;

    /// <summary>A real batch file holds 10,000 records (30 MB); anything past 100,000 records is refused.</summary>
    public const long MaxFileBytes = 100_000L * RecordSize;

    public static readonly IReadOnlyList<string> DefaultClassNames =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>Loads and concatenates the given batch files.</summary>
    public static Dataset Load(IReadOnlyList<string> batchFiles, IReadOnlyList<string> classNames, string source)
    {
        var records = new List<byte[]>();
        long count = 0;
        foreach (var path in batchFiles)
        {
            var bytes = BinaryFiles.ReadAll(path, MaxFileBytes);
            if (bytes.Length == 0 || bytes.Length % RecordSize != 0)
            {
                throw new DataFormatException(path,
                    $"is {bytes.Length} bytes, not a whole number of {RecordSize}-byte CIFAR-10 records (truncated?)");
            }
            for (int offset = 0; offset < bytes.Length; offset += RecordSize)
            {
                if (bytes[offset] >= classNames.Count)
                {
                    throw new DataFormatException(path,
                        $"record {offset / RecordSize} has label {bytes[offset]}, outside 0..{classNames.Count - 1}");
                }
            }
            records.Add(bytes);
            count += bytes.Length / RecordSize;
        }
        const int imageSize = RecordSize - 1;
        var images = new float[count * imageSize];
        var labels = new long[count];
        long n = 0;
        foreach (var bytes in records)
        {
            for (int offset = 0; offset < bytes.Length; offset += RecordSize, n++)
            {
                labels[n] = bytes[offset];
                var target = images.AsSpan((int)(n * imageSize), imageSize);
                for (int i = 0; i < imageSize; i++)
                {
                    target[i] = bytes[offset + 1 + i] / 255f;
                }
            }
        }
        return new Dataset(images, labels, 3, Side, Side, classNames, source);
    }

    /// <summary>The class names from batches.meta.txt (one per line) when the file is there, else the standard ten.</summary>
    public static IReadOnlyList<string> ReadClassNames(string directory)
    {
        var meta = Path.Combine(directory, "batches.meta.txt");
        if (!File.Exists(meta))
        {
            return DefaultClassNames;
        }
        var names = File.ReadAllLines(meta).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (names.Length != 10)
        {
            throw new DataFormatException(meta, $"names {names.Length} classes; CIFAR-10 has 10");
        }
        return names;
    }
}
