using RobustEval.Data;

namespace RobustEval.Tests;

[TestClass]
public sealed class Cifar10BinaryReaderTests
{
    internal static byte[] Records(params byte[] labels)
    {
        var bytes = new byte[labels.Length * Cifar10BinaryReader.RecordSize];
        for (int r = 0; r < labels.Length; r++)
        {
            int offset = r * Cifar10BinaryReader.RecordSize;
            bytes[offset] = labels[r];
            for (int i = 1; i < Cifar10BinaryReader.RecordSize; i++)
            {
                bytes[offset + i] = (byte)((r * 31 + i) % 256);
            }
        }
        return bytes;
    }

    [TestMethod]
    public void ReadsRecordsChannelFirstAcrossBatches()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("a.bin"), Records(3, 9));
        File.WriteAllBytes(dir.File("b.bin"), Records(1));
        var data = Cifar10BinaryReader.Load([dir.File("a.bin"), dir.File("b.bin")], Cifar10BinaryReader.DefaultClassNames, "t");

        Assert.AreEqual(3, data.Count);
        Assert.AreEqual((3, 32, 32), (data.Channels, data.Height, data.Width));
        CollectionAssert.AreEqual(new long[] { 3, 9, 1 }, data.Labels.ToArray());
        // Second record, green plane, first pixel: byte 1 + 1024 of the record.
        Assert.AreEqual((31 + 1 + 1024) % 256 / 255f, data.Image(1)[1024], 1e-7f);
    }

    [TestMethod]
    public void RefusesPartialRecord()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("a.bin"), Records(1, 2)[..^100]);
        var e = Assert.ThrowsExactly<DataFormatException>(() =>
            Cifar10BinaryReader.Load([dir.File("a.bin")], Cifar10BinaryReader.DefaultClassNames, "t"));
        StringAssert.Contains(e.Message, "not a whole number of 3073-byte");
    }

    [TestMethod]
    public void RefusesLabelOutOfRange()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("a.bin"), Records(1, 200));
        var e = Assert.ThrowsExactly<DataFormatException>(() =>
            Cifar10BinaryReader.Load([dir.File("a.bin")], Cifar10BinaryReader.DefaultClassNames, "t"));
        StringAssert.Contains(e.Message, "record 1 has label 200");
    }

    [TestMethod]
    public void ReadsClassNamesFromMetaFile()
    {
        using var dir = new TempDirectory();
        Assert.AreSame(Cifar10BinaryReader.DefaultClassNames, Cifar10BinaryReader.ReadClassNames(dir.Path));
        File.WriteAllLines(dir.File("batches.meta.txt"), ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", ""]);
        CollectionAssert.AreEqual(new[] { "a", "b", "c", "d", "e", "f", "g", "h", "i", "j" }, Cifar10BinaryReader.ReadClassNames(dir.Path).ToArray());
        File.WriteAllLines(dir.File("batches.meta.txt"), ["a", "b"]);
        Assert.ThrowsExactly<DataFormatException>(() => Cifar10BinaryReader.ReadClassNames(dir.Path));
    }
}
