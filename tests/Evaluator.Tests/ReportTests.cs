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

    private static async Task<List<string[]>> Table(IPage page, string selector) =>
        (await page.EvaluateAsync<string[][]>(
            $"Array.from(document.querySelector(\"{selector}\").rows).map(r => Array.from(r.cells).map(c => c.textContent))")).ToList();
}
