using System.Buffers.Binary;
using RobustEval.IO;

namespace RobustEval.Data;

/// <summary>
/// Reads the IDX files of MNIST and Fashion-MNIST (raw or .gz): a big-endian header — two zero bytes, the
/// element type (0x08 = unsigned byte), the number of dimensions — then the dimensions and the data.
/// </summary>
public static class IdxReader
{
    /// <summary>The most images a file may declare: far above any real data set, low enough to never exhaust memory.</summary>
    public const long MaxValues = 1L << 31;

    public static Dataset Load(string imagesPath, string labelsPath, IReadOnlyList<string> classNames, string source)
    {
        var (pixels, count, rows, cols) = ReadImages(imagesPath);
        var labels = ReadLabels(labelsPath);
        if (labels.Length != count)
        {
            throw new DataFormatException(labelsPath,
                $"holds {labels.Length} labels but {Path.GetFileName(imagesPath)} holds {count} images");
        }
        var images = new float[pixels.Length];
        for (int i = 0; i < pixels.Length; i++)
        {
            images[i] = pixels[i] / 255f;
        }
        var longLabels = new long[labels.Length];
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] >= classNames.Count)
            {
                throw new DataFormatException(labelsPath, $"label {i} is {labels[i]}, outside 0..{classNames.Count - 1}");
            }
            longLabels[i] = labels[i];
        }
        return new Dataset(images, longLabels, 1, rows, cols, classNames, source);
    }

    /// <summary>An idx3 image file: (pixels, count, rows, columns).</summary>
    public static (byte[] Pixels, int Count, int Rows, int Columns) ReadImages(string path)
    {
        var (dims, data) = Read(path, expectedDimensions: 3);
        return (data, dims[0], dims[1], dims[2]);
    }

    /// <summary>An idx1 label file.</summary>
    public static byte[] ReadLabels(string path) => Read(path, expectedDimensions: 1).Data;

    private static (int[] Dims, byte[] Data) Read(string path, int expectedDimensions)
    {
        if (!File.Exists(path))
        {
            throw new DataFormatException(path, "file not found");
        }
        using var stream = BinaryFiles.OpenMaybeGzip(path);
        Span<byte> magic = stackalloc byte[4];
        if (!BinaryFiles.TryReadExactly(stream, magic))
        {
            throw new DataFormatException(path, "truncated: shorter than an IDX header");
        }
        if (magic[0] != 0 || magic[1] != 0)
        {
            throw new DataFormatException(path, $"wrong magic number 0x{BinaryPrimitives.ReadUInt32BigEndian(magic):x8}: not an IDX file");
        }
        if (magic[2] != 0x08)
        {
            throw new DataFormatException(path, $"element type 0x{magic[2]:x2} is not supported (only unsigned bytes, 0x08)");
        }
        if (magic[3] != expectedDimensions)
        {
            throw new DataFormatException(path,
                $"has {magic[3]} dimensions where {(expectedDimensions == 3 ? "an image" : "a label")} file has {expectedDimensions}");
        }
        var header = new byte[4 * expectedDimensions];
        if (!BinaryFiles.TryReadExactly(stream, header))
        {
            throw new DataFormatException(path, "truncated inside the header");
        }
        var dims = new int[expectedDimensions];
        long total = 1;
        for (int d = 0; d < expectedDimensions; d++)
        {
            uint size = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4 * d));
            if (size == 0 || size > int.MaxValue)
            {
                throw new DataFormatException(path, $"dimension {d} has size {size}");
            }
            dims[d] = (int)size;
            total *= size;
            if (total > MaxValues)
            {
                throw new DataFormatException(path, $"declares more than {MaxValues} values");
            }
        }
        var data = new byte[total];
        if (!BinaryFiles.TryReadExactly(stream, data))
        {
            throw new DataFormatException(path, $"truncated: the header declares {total} values ({string.Join("x", dims)})");
        }
        if (!BinaryFiles.AtEnd(stream))
        {
            throw new DataFormatException(path, $"has data after the {total} values its header declares");
        }
        return (dims, data);
    }
}
