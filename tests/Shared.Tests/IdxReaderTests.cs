using System.Buffers.Binary;
using System.IO.Compression;
using RobustEval.Data;

namespace RobustEval.Tests;

[TestClass]
public sealed class IdxReaderTests
{
    private static readonly string[] Digits = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    internal static byte[] ImageFile(int count, int rows, int cols, Func<int, byte> pixel)
    {
        var bytes = new byte[16 + count * rows * cols];
        bytes[2] = 0x08;
        bytes[3] = 3;
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), count);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(8), rows);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(12), cols);
        for (int i = 0; i < count * rows * cols; i++)
        {
            bytes[16 + i] = pixel(i);
        }
        return bytes;
    }

    internal static byte[] LabelFile(params byte[] labels)
    {
        var bytes = new byte[8 + labels.Length];
        bytes[2] = 0x08;
        bytes[3] = 1;
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), labels.Length);
        labels.CopyTo(bytes, 8);
        return bytes;
    }

    internal static byte[] Gzip(byte[] data)
    {
        using var memory = new MemoryStream();
        using (var gzip = new GZipStream(memory, CompressionLevel.Fastest))
        {
            gzip.Write(data);
        }
        return memory.ToArray();
    }

    [TestMethod]
    public void ReadsRawAndGzipFilesAlike()
    {
        using var dir = new TempDirectory();
        var images = ImageFile(3, 2, 2, i => (byte)(i * 20));
        var labels = LabelFile(7, 0, 9);
        File.WriteAllBytes(dir.File("i"), images);
        File.WriteAllBytes(dir.File("l"), labels);
        File.WriteAllBytes(dir.File("i.gz"), Gzip(images));
        File.WriteAllBytes(dir.File("l.gz"), Gzip(labels));

        var raw = IdxReader.Load(dir.File("i"), dir.File("l"), Digits, "raw");
        var gz = IdxReader.Load(dir.File("i.gz"), dir.File("l.gz"), Digits, "gz");

        Assert.AreEqual(3, raw.Count);
        Assert.AreEqual((1, 2, 2), (raw.Channels, raw.Height, raw.Width));
        CollectionAssert.AreEqual(new long[] { 7, 0, 9 }, raw.Labels.ToArray());
        Assert.AreEqual(220 / 255f, raw.Pixels[11], 1e-7f);
        CollectionAssert.AreEqual(raw.Pixels.ToArray(), gz.Pixels.ToArray());
    }

    [TestMethod]
    public void RefusesWrongMagic()
    {
        using var dir = new TempDirectory();
        var images = ImageFile(1, 2, 2, _ => 0);
        images[0] = 0x50; // "PK..." — someone passed a zip
        File.WriteAllBytes(dir.File("i"), images);
        var e = Assert.ThrowsExactly<DataFormatException>(() => IdxReader.ReadImages(dir.File("i")));
        StringAssert.Contains(e.Message, "wrong magic");
        StringAssert.StartsWith(e.Message, dir.File("i"));
    }

    [TestMethod]
    public void RefusesLabelFileGivenAsImages()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("l"), LabelFile(1, 2));
        var e = Assert.ThrowsExactly<DataFormatException>(() => IdxReader.ReadImages(dir.File("l")));
        StringAssert.Contains(e.Message, "has 1 dimensions");
    }

    [TestMethod]
    public void RefusesTruncatedData()
    {
        using var dir = new TempDirectory();
        var images = ImageFile(4, 3, 3, _ => 1);
        File.WriteAllBytes(dir.File("i"), images[..^5]);
        File.WriteAllBytes(dir.File("i.gz"), Gzip(images[..^5]));
        foreach (var name in new[] { "i", "i.gz" })
        {
            var e = Assert.ThrowsExactly<DataFormatException>(() => IdxReader.ReadImages(dir.File(name)));
            StringAssert.Contains(e.Message, "truncated");
        }
    }

    [TestMethod]
    public void RefusesDamagedGzip()
    {
        using var dir = new TempDirectory();
        var gz = Gzip(ImageFile(50, 8, 8, i => (byte)i));
        gz[gz.Length / 2] ^= 0xff;
        gz[gz.Length / 2 + 1] ^= 0x55;
        File.WriteAllBytes(dir.File("i.gz"), gz);
        Assert.ThrowsExactly<DataFormatException>(() => IdxReader.ReadImages(dir.File("i.gz")));
    }

    [TestMethod]
    public void RefusesTrailingData()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("i"), [.. ImageFile(1, 2, 2, _ => 1), 42]);
        var e = Assert.ThrowsExactly<DataFormatException>(() => IdxReader.ReadImages(dir.File("i")));
        StringAssert.Contains(e.Message, "after the 4 values");
    }

    [TestMethod]
    public void RefusesAbsurdDeclaredSizeWithoutAllocatingIt()
    {
        using var dir = new TempDirectory();
        var images = ImageFile(1, 2, 2, _ => 1);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(4), int.MaxValue);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(8), 60000);
        File.WriteAllBytes(dir.File("i"), images);
        var e = Assert.ThrowsExactly<DataFormatException>(() => IdxReader.ReadImages(dir.File("i")));
        StringAssert.Contains(e.Message, "declares more than");
    }

    [TestMethod]
    public void RefusesCountMismatch()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("i"), ImageFile(3, 2, 2, _ => 1));
        File.WriteAllBytes(dir.File("l"), LabelFile(1, 2));
        var e = Assert.ThrowsExactly<DataFormatException>(() => IdxReader.Load(dir.File("i"), dir.File("l"), Digits, "x"));
        StringAssert.Contains(e.Message, "holds 2 labels but i holds 3 images");
    }

    [TestMethod]
    public void RefusesLabelOutOfRange()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("i"), ImageFile(2, 2, 2, _ => 1));
        File.WriteAllBytes(dir.File("l"), LabelFile(3, 10));
        var e = Assert.ThrowsExactly<DataFormatException>(() => IdxReader.Load(dir.File("i"), dir.File("l"), Digits, "x"));
        StringAssert.Contains(e.Message, "label 1 is 10, outside 0..9");
    }

    [TestMethod]
    public void MissingFileIsADataError()
    {
        using var dir = new TempDirectory();
        var e = Assert.ThrowsExactly<DataFormatException>(() => IdxReader.ReadLabels(dir.File("nope")));
        StringAssert.Contains(e.Message, "file not found");
    }
}
