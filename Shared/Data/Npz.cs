using System.IO.Compression;
using RobustEval.IO;

namespace RobustEval.Data;

/// <summary>
/// .npz archives as numpy writes them (<c>np.savez</c>, <c>np.savez_compressed</c>): a zip file of
/// <c>NAME.npy</c> entries. Writes are atomic; reads check every entry before returning anything.
/// </summary>
public static class Npz
{
    /// <summary>Default cap on the data of one archive (4 GiB): large enough for CIFAR-10 as float32, far below a zip bomb.</summary>
    public const long DefaultMaxBytes = 4L << 30;

    private const int MaxEntries = 1024;

    public static Dictionary<string, NpyArray> Read(string path, long maxBytes = DefaultMaxBytes)
    {
        if (!File.Exists(path))
        {
            throw new DataFormatException(path, "file not found");
        }
        var arrays = new Dictionary<string, NpyArray>(StringComparer.Ordinal);
        try
        {
            using var archive = ZipFile.OpenRead(path);
            if (archive.Entries.Count > MaxEntries)
            {
                throw new DataFormatException(path, $"has {archive.Entries.Count} entries; an .npz of data has a few");
            }
            long remaining = maxBytes;
            foreach (var entry in archive.Entries)
            {
                if (!entry.FullName.EndsWith(".npy", StringComparison.Ordinal))
                {
                    throw new DataFormatException(path, $"entry '{entry.FullName}' is not an .npy array");
                }
                var name = entry.FullName[..^4];
                using var stream = entry.Open();
                var array = Npy.Read(stream, $"{path}[{name}]", remaining);
                remaining -= array.Bytes.LongLength;
                arrays[name] = array;
            }
        }
        catch (InvalidDataException e)
        {
            throw new DataFormatException(path, $"not a valid .npz (zip) archive: {e.Message}");
        }
        catch (DataFormatException e) when (e.FilePath != path && !e.FilePath.StartsWith(path + "[", StringComparison.Ordinal))
        {
            throw new DataFormatException(path, e.Problem);
        }
        return arrays;
    }

    /// <summary>Writes the arrays (in the given order) compressed, atomically.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, NpyArray>> arrays)
    {
        var list = arrays.ToList();
        AtomicFile.Write(path, stream =>
        {
            using var archive = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            foreach (var (name, array) in list)
            {
                var entry = archive.CreateEntry(name + ".npy", CompressionLevel.Optimal);
                using var entryStream = entry.Open();
                Npy.Write(entryStream, array);
            }
        });
    }

    /// <summary>The named array, or a one-line error naming what the archive does hold.</summary>
    public static NpyArray Require(this Dictionary<string, NpyArray> arrays, string path, string name)
    {
        if (arrays.TryGetValue(name, out var array))
        {
            return array;
        }
        var held = arrays.Count == 0 ? "nothing" : string.Join(", ", arrays.Keys.Order(StringComparer.Ordinal));
        throw new DataFormatException(path, $"has no array '{name}' (it holds {held})");
    }
}
