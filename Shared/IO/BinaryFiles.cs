using System.IO.Compression;

namespace RobustEval.IO;

/// <summary>Opening data files that may or may not be gzip-compressed, and reading them exactly.</summary>
public static class BinaryFiles
{
    /// <summary>Opens <paramref name="path"/>, transparently decompressing it when it starts with the gzip magic.</summary>
    public static Stream OpenMaybeGzip(string path)
    {
        var file = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[2];
        int read = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        file.Position = 0;
        return read == 2 && magic[0] == 0x1f && magic[1] == 0x8b
            ? new GZipStream(file, CompressionMode.Decompress, leaveOpen: false)
            : file;
    }

    /// <summary>Fills <paramref name="buffer"/>; false when the stream ends first.</summary>
    public static bool TryReadExactly(Stream stream, Span<byte> buffer)
    {
        try
        {
            return stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false) == buffer.Length;
        }
        catch (InvalidDataException)
        {
            // A damaged gzip stream reads as a truncated file: its data ends before the header says it should.
            return false;
        }
    }

    /// <summary>
    /// The whole (decompressed) content of a file, refusing files larger than <paramref name="maxBytes"/> so a
    /// hostile file (a gzip bomb) cannot exhaust memory.
    /// </summary>
    public static byte[] ReadAll(string path, long maxBytes)
    {
        if (!File.Exists(path))
        {
            throw new Data.DataFormatException(path, "file not found");
        }
        using var stream = OpenMaybeGzip(path);
        using var memory = new MemoryStream();
        var buffer = new byte[1 << 16];
        try
        {
            int read;
            while ((read = stream.Read(buffer)) > 0)
            {
                if (memory.Length + read > maxBytes)
                {
                    throw new Data.DataFormatException(path, $"is larger than the {maxBytes:N0} bytes allowed for it");
                }
                memory.Write(buffer, 0, read);
            }
        }
        catch (InvalidDataException e)
        {
            throw new Data.DataFormatException(path, $"damaged compressed data ({e.Message})");
        }
        return memory.ToArray();
    }

    /// <summary>True when the stream has nothing after the current position.</summary>
    public static bool AtEnd(Stream stream)
    {
        Span<byte> probe = stackalloc byte[1];
        try
        {
            return stream.Read(probe) == 0;
        }
        catch (InvalidDataException)
        {
            return false;
        }
    }
}
