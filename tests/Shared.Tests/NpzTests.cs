using System.IO.Compression;
using System.Text;
using RobustEval.Data;

namespace RobustEval.Tests;

[TestClass]
public sealed class NpzTests
{
    [TestMethod]
    public void RoundTripsEveryType()
    {
        using var dir = new TempDirectory();
        var path = dir.File("a.npz");
        Npz.Write(path, [
            new("f", NpyArray.Of([1.5f, -2f, 3.25f, 0f, 1e-8f, 7f], 2, 3)),
            new("l", NpyArray.Of([long.MaxValue, -1L], 2)),
            new("i", NpyArray.Of([5, 6, 7], 3)),
            new("b", NpyArray.Of([(byte)0, (byte)255], 2, 1)),
        ]);
        var arrays = Npz.Read(path);
        CollectionAssert.AreEqual(new[] { 1.5f, -2f, 3.25f, 0f, 1e-8f, 7f }, arrays["f"].ToFloat32());
        CollectionAssert.AreEqual(new long[] { 2, 3 }, arrays["f"].Shape);
        CollectionAssert.AreEqual(new[] { long.MaxValue, -1L }, arrays["l"].ToInt64());
        CollectionAssert.AreEqual(new long[] { 5, 6, 7 }, arrays["i"].ToInt64());
        CollectionAssert.AreEqual(new long[] { 2, 1 }, arrays["b"].Shape);
        CollectionAssert.AreEqual(new long[] { 0, 255 }, arrays["b"].ToInt64());
    }

    [TestMethod]
    public void NumpyReadsWhatWeWriteAndWeReadWhatNumpyWrites()
    {
        ReferencePython.Require("numpy");
        using var dir = new TempDirectory();
        var ours = dir.File("ours.npz");
        var theirs = dir.File("theirs.npz");
        var pixels = Enumerable.Range(0, 2 * 1 * 3 * 4).Select(i => i / 23f).ToArray();
        DatasetNpz.Save(ours, new Dataset(pixels, [4, 1], 1, 3, 4, ["0", "1", "2", "3", "4"], "test"));

        var printed = ReferencePython.Run($$"""
            import numpy as np
            d = np.load("{{ours}}")
            assert d["x"].dtype == np.float32 and d["x"].shape == (2, 1, 3, 4), (d["x"].dtype, d["x"].shape)
            assert d["y"].dtype == np.int64 and list(d["y"]) == [4, 1]
            print(repr(float(d["x"][1, 0, 2, 3])))
            np.savez_compressed("{{theirs}}", x=(np.arange(24, dtype=np.uint8).reshape(2, 4, 3, 1) * 10),
                                y=np.array([3, 0], dtype=np.int32), z=np.ones((3,), dtype=np.float64))
            """);
        Assert.AreEqual(23 / 23f, float.Parse(printed.Trim(), System.Globalization.CultureInfo.InvariantCulture), 1e-6f);

        var (data, layout) = DatasetNpz.Load(theirs);
        Assert.AreEqual(ImageLayout.Nhwc, layout);
        Assert.AreEqual((2, 1, 4, 3), (data.Count, data.Channels, data.Height, data.Width));
        CollectionAssert.AreEqual(new long[] { 3, 0 }, data.Labels.ToArray());
        Assert.AreEqual(230 / 255f, data.Image(1)[11], 1e-6f);
        CollectionAssert.AreEqual(new[] { 1f, 1f, 1f }, Npz.Read(theirs)["z"].ToFloat32());
    }

    [TestMethod]
    public void NhwcRoundTripKeepsPixelsInPlace()
    {
        var nchw = Enumerable.Range(0, 2 * 3 * 2 * 2).Select(i => (float)i).ToArray();
        var nhwc = Layouts.ToNhwc(nchw, 2, 3, 2, 2);
        // Image 0, channel 2, pixel (1, 0) sits at index 2·4 + 2 = 10 in NCHW and at (1·2 + 0)·3 + 2 = 8 in NHWC.
        Assert.AreEqual(nchw[10], nhwc[8]);
        CollectionAssert.AreEqual(nchw, Layouts.ToNchw(nhwc, 2, 3, 2, 2));
    }

    [TestMethod]
    public void RefusesObjectArraysBeforeReadingThem()
    {
        using var dir = new TempDirectory();
        var path = dir.File("pickle.npz");
        WriteRawEntry(path, "x.npy", Header("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }"), [0x80, 0x04, 0x95]);
        var e = Assert.ThrowsExactly<DataFormatException>(() => Npz.Read(path));
        StringAssert.Contains(e.Message, "pickles");
    }

    [TestMethod]
    public void RefusesFortranOrderAndBigEndianAndStructuredArrays()
    {
        using var dir = new TempDirectory();
        var cases = new (string Header, string Expected)[]
        {
            ("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", "Fortran"),
            ("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", "big-endian"),
            ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", "structured"),
            ("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", "not supported"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", "non-negative"),
            ("{'descr': '<f4', 'fortran_order': False, ", "malformed"),
        };
        foreach (var (header, expected) in cases)
        {
            var path = dir.File($"{Guid.NewGuid():N}.npz");
            WriteRawEntry(path, "x.npy", Header(header), new byte[4]);
            var e = Assert.ThrowsExactly<DataFormatException>(() => Npz.Read(path), header);
            StringAssert.Contains(e.Message, expected, header);
        }
    }

    [TestMethod]
    public void RefusesTruncatedDataAndHugeShapes()
    {
        using var dir = new TempDirectory();
        var truncated = dir.File("t.npz");
        WriteRawEntry(truncated, "x.npy", Header("{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }"), new byte[12]);
        StringAssert.Contains(Assert.ThrowsExactly<DataFormatException>(() => Npz.Read(truncated)).Message, "truncated");

        var huge = dir.File("h.npz");
        WriteRawEntry(huge, "x.npy", Header("{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000, 100000), }"), new byte[8]);
        StringAssert.Contains(Assert.ThrowsExactly<DataFormatException>(() => Npz.Read(huge)).Message, "allowed");
    }

    [TestMethod]
    public void RefusesNonZipAndMissingArrays()
    {
        using var dir = new TempDirectory();
        var path = dir.File("x.npz");
        File.WriteAllText(path, "not a zip file at all");
        StringAssert.Contains(Assert.ThrowsExactly<DataFormatException>(() => Npz.Read(path)).Message, "not a valid .npz");

        Npz.Write(path, [new("x", NpyArray.Of([0.5f], 1, 1, 1, 1))]);
        var e = Assert.ThrowsExactly<DataFormatException>(() => DatasetNpz.Load(path));
        StringAssert.Contains(e.Message, "has no array 'y' (it holds x)");
    }

    [TestMethod]
    public void DatasetFilesAreCheckedForRangeNaNAndCounts()
    {
        using var dir = new TempDirectory();
        var path = dir.File("d.npz");
        Npz.Write(path, [new("x", NpyArray.Of([0.5f, float.NaN], 2, 1, 1, 1)), new("y", NpyArray.Of([0L, 1L], 2))]);
        StringAssert.Contains(Assert.ThrowsExactly<DataFormatException>(() => DatasetNpz.Load(path)).Message, "NaN");

        Npz.Write(path, [new("x", NpyArray.Of([0.5f, 1.5f], 2, 1, 1, 1)), new("y", NpyArray.Of([0L, 1L], 2))]);
        StringAssert.Contains(Assert.ThrowsExactly<DataFormatException>(() => DatasetNpz.Load(path)).Message, "outside [0, 1]");

        Npz.Write(path, [new("x", NpyArray.Of([0.5f, 0.5f], 2, 1, 1, 1)), new("y", NpyArray.Of([0L], 1))]);
        StringAssert.Contains(Assert.ThrowsExactly<DataFormatException>(() => DatasetNpz.Load(path)).Message, "2 images but 'y' holds 1");

        Npz.Write(path, [new("x", NpyArray.Of([0.5f, 0.5f], 2, 1, 1, 1)), new("y", NpyArray.Of([0L, 5L], 2))]);
        StringAssert.Contains(
            Assert.ThrowsExactly<DataFormatException>(() => DatasetNpz.Load(path, classNames: ["a", "b"])).Message, "label 1 is 5");

        Npz.Write(path, [new("x", NpyArray.Of([0.5f, 0.5f], 2, 1, 1, 1)), new("y", NpyArray.Of([0.0f, 1f], 2))]);
        StringAssert.Contains(Assert.ThrowsExactly<DataFormatException>(() => DatasetNpz.Load(path)).Message, "integer array");
    }

    [TestMethod]
    public void WriteIsAtomicAndLeavesNoTemporaryFiles()
    {
        using var dir = new TempDirectory();
        var path = dir.File("a.npz");
        Npz.Write(path, [new("x", NpyArray.Of([1f], 1))]);
        Assert.ThrowsExactly<InvalidOperationException>(() => Npz.Write(path, Failing()));
        CollectionAssert.AreEqual(new[] { 1f }, Npz.Read(path)["x"].ToFloat32(), "the old file survives a failed write");
        CollectionAssert.AreEqual(new[] { "a.npz" }, Directory.GetFiles(dir.Path).Select(Path.GetFileName).ToArray());

        static IEnumerable<KeyValuePair<string, NpyArray>> Failing()
        {
            yield return new("x", NpyArray.Of([2f], 1));
            throw new InvalidOperationException("disk full");
        }
    }

    private static byte[] Header(string dict)
    {
        var text = dict.PadRight(118) + "\n";
        return [0x93, .. "NUMPY"u8, 1, 0, (byte)text.Length, 0, .. Encoding.ASCII.GetBytes(text)];
    }

    private static void WriteRawEntry(string path, string name, byte[] header, byte[] data)
    {
        using var archive = ZipFile.Open(path, ZipArchiveMode.Create);
        using var stream = archive.CreateEntry(name).Open();
        stream.Write(header);
        stream.Write(data);
    }
}
