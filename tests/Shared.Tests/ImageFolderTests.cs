using System.Buffers.Binary;
using RobustEval.Data;
using SkiaSharp;

namespace RobustEval.Tests;

/// <summary>Image folders as data sets: labels from folders or a labels file, sizes, channels, and refusals that name the file.</summary>
[TestClass]
public sealed class ImageFolderTests
{
    private static void Png(string path, int width, int height, SKColor color)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        bitmap.Erase(color);
        using var image = SKImage.FromBitmap(bitmap);
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, png.ToArray());
    }

    [TestMethod]
    public void ClassFoldersAreSortedUnlessTheModelKnowsTheirNames()
    {
        using var dir = new TempDirectory();
        Png(dir.File("zebra/1.png"), 4, 3, SKColors.White);
        Png(dir.File("ant/2.png"), 4, 3, SKColors.Black);
        Png(dir.File("ant/1.png"), 4, 3, SKColors.Gray);
        File.WriteAllText(dir.File("ant/notes.txt"), "not an image");
        var data = ImageFolder.Load(dir.Path, new ImageOptions());
        CollectionAssert.AreEqual(new[] { "ant", "zebra" }, data.ClassNames.ToArray());
        CollectionAssert.AreEqual(new long[] { 0, 0, 1 }, data.Labels.ToArray());
        Assert.AreEqual((3, 3, 4), (data.Channels, data.Height, data.Width), "colour files give 3 channels");
        Assert.AreEqual(128 / 255f, data.Image(0)[0], 1e-6f, "ant/1.png (grey) comes first");

        var known = ImageFolder.Load(dir.Path, new ImageOptions(), ["zebra", "lion", "ant"]);
        CollectionAssert.AreEqual(new long[] { 2, 2, 0 }, known.Labels.ToArray(), "the model's order");
        Assert.AreEqual(3, known.ClassCount);
    }

    [TestMethod]
    public void ChannelsFollowTheModel()
    {
        using var dir = new TempDirectory();
        Png(dir.File("a/rgb.png"), 2, 2, new SKColor(200, 100, 50));
        var gray = ImageFolder.Load(dir.Path, new ImageOptions { Channels = 1 });
        Assert.AreEqual(1, gray.Channels);
        Assert.AreEqual(MathF.Round(200 * 0.299f + 100 * 0.587f + 50 * 0.114f) / 255f, gray.Image(0)[0], 1e-6f, "ITU-R 601 luma");

        using var digits = new TempDirectory();
        RenderedDigits.Write(digits.Path, perDigit: 1);
        var rgb = ImageFolder.Load(digits.Path, new ImageOptions { Channels = 3 });
        Assert.AreEqual(3, rgb.Channels);
        var image = rgb.Image(4).ToArray();
        CollectionAssert.AreEqual(image[..784], image[784..1568], "a gray image's value repeated");
        Assert.AreEqual(1, ImageFolder.Load(digits.Path, new ImageOptions()).Channels, "grayscale files give 1 channel");
    }

    [TestMethod]
    public void ResizeAndCentreCropGiveOneSize()
    {
        using var dir = new TempDirectory();
        Png(dir.File("a/wide.png"), 60, 30, SKColors.White);
        Png(dir.File("a/tall.png"), 20, 50, SKColors.White);
        var refused = Assert.ThrowsExactly<DataFormatException>(() => ImageFolder.Load(dir.Path, new ImageOptions()));
        StringAssert.Contains(refused.Message, "need --resize and/or --center-crop");
        var data = ImageFolder.Load(dir.Path, ImageOptions.Parse("32", "24"));
        Assert.AreEqual((24, 24), (data.Height, data.Width));
        data = ImageFolder.Load(dir.Path, ImageOptions.Parse("16x12", null));
        Assert.AreEqual((16, 12), (data.Height, data.Width));
        string? notice = null;
        data = ImageFolder.Load(dir.Path, new ImageOptions { TargetSize = (10, 10), Notice = n => notice = n });
        Assert.AreEqual((10, 10), (data.Height, data.Width));
        StringAssert.Contains(notice, "2 of 2 images");
        Assert.ThrowsExactly<UserErrorException>(() => ImageOptions.Parse("0", null));
        Assert.ThrowsExactly<UserErrorException>(() => ImageOptions.Parse("12x", null));
        var tooSmall = Assert.ThrowsExactly<DataFormatException>(() => ImageFolder.Load(dir.Path, ImageOptions.Parse(null, "40")));
        StringAssert.Contains(tooSmall.Message, "smaller than the 40×40 centre crop");
    }

    [TestMethod]
    public void LabelFilesNameIndicesOrClasses()
    {
        using var dir = new TempDirectory();
        Png(dir.File("img/a.png"), 3, 3, SKColors.White);
        Png(dir.File("img/b.png"), 3, 3, SKColors.Black);
        Png(dir.File("c.png"), 3, 3, SKColors.Gray);
        File.WriteAllText(dir.File("labels.csv"), "file,label\nimg/a.png,dog\n\"img/b.png\",cat\n# a comment\nc.png,dog\n");
        var data = ImageFolder.Load(dir.Path, new ImageOptions());
        CollectionAssert.AreEqual(new[] { "cat", "dog" }, data.ClassNames.ToArray());
        CollectionAssert.AreEqual(new long[] { 1, 0, 1 }, data.Labels.ToArray());
        data = ImageFolder.Load(dir.Path, new ImageOptions(), ["bird", "dog", "cat"]);
        CollectionAssert.AreEqual(new long[] { 1, 2, 1 }, data.Labels.ToArray());

        File.Delete(dir.File("labels.csv"));
        File.WriteAllText(dir.File("labels.txt"), "img/a.png 4\nimg/b.png\t0\n");
        data = ImageFolder.Load(dir.Path, new ImageOptions());
        CollectionAssert.AreEqual(new long[] { 4, 0 }, data.Labels.ToArray());
        Assert.AreEqual(5, data.ClassCount);

        foreach (var (text, expected) in new[]
        {
            ("img/missing.png,1\n", "line 1: 'img/missing.png' does not exist"),
            ("../outside.png,1\n", "is outside"),
            ("img/a.png\n", "line 1 is not FILE,LABEL"),
        })
        {
            File.WriteAllText(dir.File("labels.txt"), text);
            var e = Assert.ThrowsExactly<DataFormatException>(() => ImageFolder.Load(dir.Path, new ImageOptions()));
            StringAssert.Contains(e.Message, expected);
            StringAssert.StartsWith(e.Message, dir.File("labels.txt"));
        }
    }

    [TestMethod]
    public void ImagesWithoutClassFoldersOrLabelsAreRefused()
    {
        using var dir = new TempDirectory();
        Png(dir.File("a.png"), 3, 3, SKColors.White);
        var e = Assert.ThrowsExactly<DataFormatException>(() => ImageFolder.Load(dir.Path, new ImageOptions()));
        StringAssert.Contains(e.Message, "no class sub-folders");
        using var empty = new TempDirectory();
        e = Assert.ThrowsExactly<DataFormatException>(() => ImageFolder.Load(empty.Path, new ImageOptions()));
        StringAssert.Contains(e.Message, "no images");
    }

    [TestMethod]
    public void AHugeSizeInTheHeaderIsRefusedBeforeAllocating()
    {
        using var dir = new TempDirectory();
        var path = dir.File("a/huge.png");
        Png(path, 8, 8, SKColors.White);
        var bytes = File.ReadAllBytes(path);
        // IHDR: width and height at bytes 16–23, its CRC (over type and data) at 29–32.
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(16), 60_000);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(20), 60_000);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(29), Crc32(bytes.AsSpan(12, 17)));
        File.WriteAllBytes(path, bytes);
        var e = Assert.ThrowsExactly<DataFormatException>(() => ImageFolder.Load(dir.Path, new ImageOptions()));
        StringAssert.Contains(e.Message, "huge.png: 60000×60000 pixels is outside the sizes read");
    }

    [TestMethod]
    public void ImportedFilesKeepTheirClassNames()
    {
        using var dir = new TempDirectory();
        Png(dir.File("img/cat/a.png"), 3, 3, SKColors.White);
        Png(dir.File("img/dog/a.png"), 3, 3, SKColors.Black);
        var data = ImageFolder.Load(dir.File("img"), new ImageOptions());
        DatasetNpz.Save(dir.File("x.npz"), data, asBytes: true, withClassNames: true);
        var (read, _) = DatasetNpz.Load(dir.File("x.npz"), classNames: ["0", "1"]);
        CollectionAssert.AreEqual(new[] { "cat", "dog" }, read.ClassNames.ToArray(), "the file's names win over the caller's");
        CollectionAssert.AreEqual(data.Pixels.ToArray(), read.Pixels.ToArray());
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xffffffff;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xedb88320u : crc >> 1;
            }
        }
        return ~crc;
    }
}
