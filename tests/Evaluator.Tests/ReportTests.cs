using System.Text.Json;
using Microsoft.Playwright;
using RobustEval.Evaluator.Reports;
using RobustEval.ModelCards;
using RobustEval.Onnx;
using RobustEval.Tests;

namespace RobustEval.Evaluator.Tests;

/// <summary>The HTML report, loaded by a real headless browser (Debian's chromium through Playwright).</summary>
[TestClass]
[DoNotParallelize]
public sealed class ReportTests
{
    private const string Chromium = "/usr/bin/chromium";

    private static void Evaluator(params string[] args)
    {
        var (code, _, error) = EvaluatorRunner.Run(args);
        Assert.AreEqual(0, code, error);
    }

    /// <summary>A second model: the trained one with a hostile model card (names and class names holding markup).</summary>
    private static string HostileCopy(TempDirectory dir)
    {
        var model = OnnxFiles.Load(TrainedModel.Path);
        var card = OnnxFiles.ReadCard(model)! with
        {
            Name = "<script>document.title='pwned'</script>",
            ClassNames = ["<img src=x onerror=\"document.title='pwned'\">", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            Architecture = "</td></tr></table><h1>injected</h1>",
        };
        OnnxFiles.WriteCard(model, card);
        var path = dir.File("hostile.onnx");
        OnnxFiles.Save(model, path);
        // Its class names differ from the transfer set's, so it needs a label map to be compared at all.
        File.WriteAllText(path + ".json", "{\"label_map\": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}");
        return path;
    }

    private static async Task<IBrowser> Launch(IPlaywright playwright) =>
        await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });

    [TestMethod]
    public async Task BrowserShowsEveryImageAndTheNumbersOfResultsJson()
    {
        if (!File.Exists(Chromium))
        {
            Assert.Inconclusive($"{Chromium} is not installed (./test.sh installs Debian's chromium)");
        }
        using var dir = new TempDirectory();
        var sample = Path.Combine(Path.GetDirectoryName(TrainedModel.Path)!, "bars-sample.npz");
        var set = dir.File("set.npz");
        Evaluator("transfer-set", "build", "--source", TrainedModel.Path, "--data", sample, "--eps", "l1=1.0,l2=2,linf=0.15", "--out", set);
        var hostile = HostileCopy(dir);
        var report = dir.File("report");
        Evaluator("report", "--models", TrainedModel.Path, hostile, "--data", sample, "--set", set, "--eps-sweep", "linf:0:0.2:0.1", "l2:0,1,2",
            "--autoattack", "linf:0.15", "--limit", "60", "--fosc-attack", "linf:0.1:5", "--out", report);

        var html = File.ReadAllText(Path.Combine(report, "index.html"));
        Assert.DoesNotContain("<script", html, "no script element, and the hostile card's markup is escaped");
        Assert.DoesNotContain("<h1>injected", html);
        using var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(report, "results.json")));
        var root = results.RootElement;

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Launch(playwright);
        var page = await browser.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                errors.Add(message.Text);
            }
        };
        page.PageError += (_, error) => errors.Add(error);
        bool dialog = false;
        page.Dialog += (_, d) => dialog = true;
        await page.GotoAsync(new Uri(Path.Combine(report, "index.html")).AbsoluteUri, new PageGotoOptions { WaitUntil = WaitUntilState.Load });

        Assert.IsEmpty(errors, string.Join("; ", errors));
        Assert.IsFalse(dialog);
        Assert.AreEqual(root.GetProperty("title").GetString(), await page.TitleAsync(), "the hostile card did not run script");
        Assert.AreEqual(0, await page.EvaluateAsync<int>("document.querySelectorAll('script').length"));

        var images = await page.EvaluateAsync<JsonElement>("Array.from(document.images).map(i => ({ src: i.getAttribute('src'), width: i.naturalWidth }))");
        var figures = root.GetProperty("figures").EnumerateArray().Select(f => f.GetProperty("file").GetString()).ToList();
        Assert.AreEqual(figures.Count, images.GetArrayLength(), "one image per figure of results.json");
        foreach (var image in images.EnumerateArray())
        {
            Assert.IsGreaterThan(0, image.GetProperty("width").GetInt32(), $"{image.GetProperty("src")} did not decode");
        }

        var models = await Table(page, "#models");
        var transfer = await Table(page, "#transfer");
        var modelResults = root.GetProperty("models").EnumerateArray().ToList();
        Assert.HasCount(modelResults.Count + 1, models);
        for (int i = 0; i < modelResults.Count; i++)
        {
            Assert.AreEqual(HtmlReport.Percent(modelResults[i].GetProperty("clean_accuracy").GetDouble()), models[i + 1][^1]);
            Assert.AreEqual(modelResults[i].GetProperty("name").GetString(), models[i + 1][1], "names are shown as text, exactly");
        }
        var transferResults = root.GetProperty("transfer").GetProperty("results").EnumerateArray().ToList();
        for (int i = 0; i < transferResults.Count; i++)
        {
            Assert.AreEqual(HtmlReport.Percent(transferResults[i].GetProperty("transfer_accuracy").GetDouble()), transfer[i + 1][2]);
            Assert.AreEqual(HtmlReport.Percent(transferResults[i].GetProperty("per_norm").GetProperty("linf").GetDouble()), transfer[i + 1][^1]);
        }
        Assert.AreEqual("0.00%", transfer[1][2], "the source model gets none of its own transfer set right");
        var sweeps = root.GetProperty("sweeps").EnumerateArray().ToList();
        Assert.HasCount(2, sweeps);
        var sweepTable = await Table(page, "table.sweep[data-sweep='l2']");
        var firstModel = sweeps[1].GetProperty("accuracy").EnumerateObject().First();
        CollectionAssert.AreEqual(firstModel.Value.EnumerateArray().Select(v => HtmlReport.Percent(v.GetDouble())).ToArray(), sweepTable[1][1..].ToArray());

        // The headline: per model, clean accuracy, AutoAttack's robust accuracy at ℓ∞ 0.15 and, where no AutoAttack ran (ℓ∞ 0.2, ℓ2 2), the sweeps'.
        var headline = await Table(page, "#headline");
        var autoAttack = root.GetProperty("autoattack").EnumerateArray().ToList();
        Assert.HasCount(2, autoAttack);
        StringAssert.Contains(headline[0][2], "ε = 0.15");
        StringAssert.Contains(headline[0][3], "ε = 0.2");
        StringAssert.Contains(headline[0][4], "ε = 2");
        for (int i = 0; i < modelResults.Count; i++)
        {
            Assert.AreEqual(HtmlReport.Percent(modelResults[i].GetProperty("clean_accuracy").GetDouble()), headline[i + 1][1]);
            var entry = autoAttack[i];
            var interval = entry.GetProperty("robust_accuracy_interval").EnumerateArray().Select(v => HtmlReport.Percent(v.GetDouble())).ToList();
            Assert.AreEqual($"{HtmlReport.Percent(entry.GetProperty("robust_accuracy").GetDouble())} [{interval[0]}, {interval[1]}], n = 60", headline[i + 1][2]);
            for (int s = 0; s < 2; s++)
            {
                StringAssert.StartsWith(headline[i + 1][3 + s], HtmlReport.Percent(sweeps[s].GetProperty("accuracy").EnumerateObject().ElementAt(i).Value.EnumerateArray().Last().GetDouble()));
            }
        }
        var perAttack = await Table(page, "table.autoattack");
        CollectionAssert.AreEqual(new[] { "model", "n", "clean", "after apgd-ce", "after apgd-t", "after fab-t", "after square", "robust accuracy [95 % interval]", "source" },
            perAttack[0]);
        // The grids show AutoAttack's points, and say which were fooled and why that ε.
        StringAssert.Contains(html, "ε = 0.15 is the report&#39;s first AutoAttack threat model");
    }

    [TestMethod]
    public void ResultsOfEarlierAutoAttackRunsAreMatchedToTheirModels()
    {
        using var dir = new TempDirectory();
        var sample = Path.Combine(Path.GetDirectoryName(TrainedModel.Path)!, "bars-sample.npz");
        Evaluator("autoattack", TrainedModel.Path, "--norm", "linf", "--eps", "0.1", "--version", "custom", "--attacks", "fgm", "--limit", "30", "--out", dir.File("aa"));
        var report = dir.File("report");
        Evaluator("report", "--models", TrainedModel.Path, "--data", sample, "--autoattack-results", dir.File("aa"), "--eps-sweep", "linf:0.1", "--limit", "20",
            "--fosc-attack", "linf:0.1:2", "--out", report);
        using var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(report, "results.json")));
        var entry = results.RootElement.GetProperty("autoattack")[0];
        using var aa = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File("aa"), "results.json")));
        Assert.AreEqual(aa.RootElement.GetProperty("robust_accuracy").GetDouble(), entry.GetProperty("robust_accuracy").GetDouble());
        Assert.AreEqual(30, entry.GetProperty("examples").GetInt32());
        StringAssert.Contains(entry.GetProperty("source").GetString(), "results.json");

        // Results of a model that is not in the report are refused before any work, and no report is written.
        var hostile = HostileCopy(dir);
        var (code, _, error) = EvaluatorRunner.Run("report", "--models", hostile, "--data", sample, "--autoattack-results", dir.File("aa"), "--out", dir.File("other"));
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "is none of --models");
        Assert.IsFalse(Directory.Exists(dir.File("other")));
    }

    /// <summary>The trained model with every weight scaled by 1 + noise: a stand-in for the same net trained from another seed.</summary>
    private static string Reseeded(TempDirectory dir, string folder, int seed, string name = "net.onnx")
    {
        var model = OnnxFiles.Load(TrainedModel.Path);
        var random = new Random(seed);
        foreach (var tensor in model.Graph.Initializer.Where(t => t.DataType == (int)TensorProto.Types.DataType.Float && t.RawData.Length > 0))
        {
            var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(tensor.RawData.ToByteArray()).ToArray();
            for (int i = 0; i < values.Length; i++)
            {
                values[i] *= 1 + 0.3f * (float)(random.NextDouble() - 0.5);
            }
            tensor.RawData = Google.Protobuf.ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        }
        // Named after its file, as the trainer names what it exports.
        OnnxFiles.WriteCard(model, OnnxFiles.ReadCard(model)! with { Name = Path.GetFileNameWithoutExtension(name) });
        Directory.CreateDirectory(dir.File(folder));
        var path = Path.Combine(dir.File(folder), name);
        OnnxFiles.Save(model, path);
        var log = Path.ChangeExtension(TrainedModel.Path, ".metrics.jsonl");
        if (File.Exists(log))
        {
            File.Copy(log, Path.ChangeExtension(path, ".metrics.jsonl"));
        }
        return path;
    }

    /// <summary>Sample standard deviation written out: the test's own reference for the report's spreads.</summary>
    private static string MeanPlusMinus(IReadOnlyList<double> values)
    {
        double mean = values.Sum() / values.Count;
        double variance = values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1);
        return $"{HtmlReport.Percent(mean)} ± {(100 * Math.Sqrt(variance)).ToString("F2", System.Globalization.CultureInfo.InvariantCulture)}";
    }

    [TestMethod]
    public async Task WithReplicatesEveryNetIsShownAsTheMeanAndSpreadOverItsSeeds()
    {
        if (!File.Exists(Chromium))
        {
            Assert.Inconclusive($"{Chromium} is not installed (./test.sh installs Debian's chromium)");
        }
        using var dir = new TempDirectory();
        var sample = Path.Combine(Path.GetDirectoryName(TrainedModel.Path)!, "bars-sample.npz");
        // Two nets of three seeds each, given interleaved as a shell glob over seed folders gives them.
        var models = new List<string>();
        for (int seed = 1; seed <= 3; seed++)
        {
            models.Add(Reseeded(dir, $"seed-{seed}", seed, "a.onnx"));
            models.Add(Reseeded(dir, $"seed-{seed}", 10 + seed, "b.onnx"));
        }
        // Table 1 over the seeds comes from transfer summarize, run on each seed's own transfer set.
        for (int seed = 1; seed <= 2; seed++)
        {
            var set = dir.File($"seed-{seed}/set.npz");
            Evaluator("transfer-set", "build", "--source", models[2 * (seed - 1)], "--data", sample, "--eps", "l2=2,linf=0.15", "--out", set);
            Evaluator("transfer", "eval", "--set", set, models[2 * (seed - 1)], models[2 * (seed - 1) + 1], "--out", dir.File($"runs/seed-{seed}/transfer"));
        }
        Evaluator("transfer", "summarize", dir.File("runs/seed-1"), dir.File("runs/seed-2"), "--control", "b", "--out", dir.File("summary"));
        var report = dir.File("report");
        Evaluator(["report", "--models", .. models, "--replicates", "--seed-summary", dir.File("summary/results.json"), "--data", sample,
            "--eps-sweep", "linf:0:0.2:0.1", "--autoattack", "linf:0.15", "--limit", "20", "--fosc-attack", "linf:0.1:3", "--out", report]);

        using var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(report, "results.json")));
        var root = results.RootElement;
        var perModel = root.GetProperty("models").EnumerateArray().ToDictionary(m => m.GetProperty("name").GetString()!);
        var nets = root.GetProperty("replicates").EnumerateArray().ToList();
        CollectionAssert.AreEqual(new[] { "a", "b" }, nets.Select(n => n.GetProperty("name").GetString()).ToArray(), "grouped by file name, in the order given");
        var members = nets.Select(n => n.GetProperty("models").EnumerateArray().Select(m => m.GetString()!).ToList()).ToList();
        Assert.HasCount(3, members[0]);
        CollectionAssert.AreEqual(models.Where((_, i) => i % 2 == 0).ToArray(), members[0].Select(m => perModel[m].GetProperty("path").GetString()).ToArray());

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Launch(playwright);
        var page = await browser.NewPageAsync();
        await page.GotoAsync(new Uri(Path.Combine(report, "index.html")).AbsoluteUri, new PageGotoOptions { WaitUntil = WaitUntilState.Load });

        // Headline: per net, mean ± sample std over its seeds of the clean accuracy, AutoAttack's robust accuracy and the sweep's last point.
        var headline = await Table(page, "#headline");
        Assert.HasCount(3, headline);
        var autoAttack = root.GetProperty("autoattack").EnumerateArray().ToList();
        var sweep = root.GetProperty("sweeps")[0].GetProperty("accuracy");
        bool differ = false;
        for (int n = 0; n < 2; n++)
        {
            Assert.AreEqual(nets[n].GetProperty("name").GetString(), headline[n + 1][0]);
            Assert.AreEqual("3", headline[n + 1][1]);
            var clean = members[n].Select(m => perModel[m].GetProperty("clean_accuracy").GetDouble()).ToList();
            Assert.AreEqual(MeanPlusMinus(clean), headline[n + 1][2]);
            var robust = members[n].Select(m => autoAttack.Single(a => a.GetProperty("model").GetString() == m).GetProperty("robust_accuracy").GetDouble()).ToList();
            Assert.AreEqual(MeanPlusMinus(robust), headline[n + 1][3]);
            var last = members[n].Select(m => sweep.GetProperty(m).EnumerateArray().Last().GetDouble()).ToList();
            Assert.AreEqual(MeanPlusMinus(last), headline[n + 1][4]);
            differ |= last.Distinct().Count() > 1;
        }
        Assert.IsTrue(differ, "the reseeded copies differ, so some spread is not zero");
        var sweepTable = await Table(page, "table.sweep[data-sweep='linf']");
        for (int r = 0; r < 3; r++)
        {
            Assert.AreEqual(MeanPlusMinus(members[1].Select(m => sweep.GetProperty(m)[r].GetDouble()).ToList()), sweepTable[2][1 + r]);
        }
        StringAssert.StartsWith(sweepTable[2][0], "b (n = 3)");

        // Table 1 over seeds: the summary's cells, as summarize computed them.
        using var summary = JsonDocument.Parse(File.ReadAllText(dir.File("summary/results.json")));
        var seedTable = await Table(page, "#seed-transfer");
        CollectionAssert.AreEqual(new[] { "net", "seeds", "clean", "𝒜", "𝒜 ℓ2", "𝒜 ℓ∞", "gain over control" }, seedTable[0]);
        var a = summary.RootElement.GetProperty("nets")[0];
        var transfer = a.GetProperty("transfer_accuracy").GetProperty("values").EnumerateArray().Select(v => v.GetDouble()).ToList();
        Assert.AreEqual(MeanPlusMinus(transfer), seedTable[1][3]);
        Assert.AreEqual("(control)", seedTable[2][^1]);

        // Training curves over seeds: one per net, from the logs beside the models.
        var training = root.GetProperty("figures").EnumerateArray().Single(f => f.GetProperty("file").GetString() == "training-accuracy.png");
        StringAssert.Contains(training.GetProperty("caption").GetString(), "each net's mean over its seeds");

        // Grids and FOSC are drawn for each net's first seed only; every figure still decodes.
        Assert.HasCount(2, root.GetProperty("fosc").EnumerateArray().ToList());
        var images = await page.EvaluateAsync<int[]>("Array.from(document.images).map(i => i.naturalWidth)");
        Assert.AreEqual(root.GetProperty("figures").GetArrayLength(), images.Length);
        Assert.IsTrue(images.All(w => w > 0));
        // The sweep figure carries error bars: more paths than the same means drawn without them.
        var x = root.GetProperty("sweeps")[0].GetProperty("eps").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var means = nets.Select(n => (n.GetProperty("name").GetString()!, x, n.GetProperty("sweeps").GetProperty("linf").EnumerateArray()
            .Select(p => p.GetProperty("mean").GetDouble()).ToArray())).ToList();
        Directory.CreateDirectory(dir.File("plain"));
        var (_, plain) = Figures.Lines(dir.File("plain"), "sweep", "t", "x", "y", means, (0, 1.02));
        // Error bars are drawn 1.5 wide, the lines 2.
        static int Bars(string svg) => System.Text.RegularExpressions.Regex.Matches(svg, "<path[^>]*stroke-width=\"1.5\"").Count;
        Assert.AreEqual(0, Bars(File.ReadAllText(Path.Combine(dir.File("plain"), plain))));
        Assert.AreEqual(2, Bars(File.ReadAllText(Path.Combine(report, "sweep-linf.svg"))), "one set of error bars per net");
    }

    [TestMethod]
    public void ReplicatesThatAreNotSeedsOfOneNetAreRefused()
    {
        using var dir = new TempDirectory();
        var sample = Path.Combine(Path.GetDirectoryName(TrainedModel.Path)!, "bars-sample.npz");
        var a = Reseeded(dir, "seed-1", 1);
        var b = Reseeded(dir, "seed-2", 2, "other.onnx");
        var (code, _, error) = EvaluatorRunner.Run("report", "--models", a, b, "--replicates", "--data", sample, "--out", dir.File("r1"));
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "no two models share a file name");

        // Same name, another recipe on the card: not a seed of the same net.
        var model = OnnxFiles.Load(a);
        OnnxFiles.WriteCard(model, OnnxFiles.ReadCard(model)! with { Method = "robust", Norm = "l2", Eps = 0.5 });
        Directory.CreateDirectory(dir.File("seed-3"));
        OnnxFiles.Save(model, dir.File("seed-3/net.onnx"));
        (code, _, error) = EvaluatorRunner.Run("report", "--models", a, dir.File("seed-3/net.onnx"), "--replicates", "--data", sample, "--out", dir.File("r2"));
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "are not seeds of one net");

        File.WriteAllText(dir.File("summary.json"), "{\"runs\": []}");
        (code, _, error) = EvaluatorRunner.Run("report", "--models", a, "--seed-summary", dir.File("summary.json"), "--data", sample, "--out", dir.File("r3"));
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "not the results.json of evaluator transfer summarize");
        Assert.IsFalse(Directory.Exists(dir.File("r1")) || Directory.Exists(dir.File("r2")) || Directory.Exists(dir.File("r3")), "no report is written");
    }

    private static async Task<List<string[]>> Table(IPage page, string selector) =>
        (await page.EvaluateAsync<string[][]>(
            $"Array.from(document.querySelector(\"{selector}\").rows).map(r => Array.from(r.cells).map(c => c.textContent))")).ToList();
}
