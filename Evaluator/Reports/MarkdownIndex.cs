using System.Globalization;
using System.Text;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Reports;

/// <summary>
/// A Markdown index of the models a report covers (Models/README.md): what each net is, how it was trained and
/// its numbers, all taken from the report, so the index is regenerated with it rather than edited by hand.
/// </summary>
internal static class MarkdownIndex
{
    public static string Render(ReportData report, string reportPath)
    {
        var md = new StringBuilder();
        md.Append($"# {report.Title}: the models\n\n");
        md.Append($"Written by `evaluator report … --index` together with [the report]({reportPath}); do not edit by hand. ");
        md.Append($"Test data: {report.Data.Source}; fresh attacks on the first {report.Data.AttackedExamples:N0} of its {report.Data.Examples:N0} images.\n\n");
        var sweep = report.Sweeps.FirstOrDefault(s => s.Key == "linf");
        int column = sweep is null ? -1 : sweep.Eps.ToList().FindIndex(e => Math.Abs(e - 0.1f) < 1e-6);
        md.Append("| file | architecture | training | epochs | training time | clean accuracy |");
        if (report.Transfer is not null)
        {
            md.Append(" transfer set |");
        }
        if (column >= 0)
        {
            md.Append(" FGSM ε = 0.1 |");
        }
        md.Append('\n');
        md.Append("|---|---|---|---:|---:|---:|" + (report.Transfer is null ? "" : "---:|") + (column >= 0 ? "---:|" : "") + "\n");
        foreach (var m in report.Models)
        {
            var training = m.Method is null ? "—" : m.Method + (m.Norm is not null && NormKinds.TryParse(m.Norm) is { } n ? $" {n.Symbol()}" : "")
                + (m.Eps is { } e ? $" ε = {e.ToString("G4", CultureInfo.InvariantCulture)}" : "");
            var epochs = report.Training.FirstOrDefault(t => t.Model == m.Name)?.Epochs.Count.ToString(CultureInfo.InvariantCulture) ?? "—";
            var time = m.TrainingSeconds is { } s ? TimeSpan.FromSeconds(s).ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : "—";
            md.Append($"| `{Path.GetFileName(m.Path)}` | {m.Architecture ?? "—"} | {training} | {epochs} | {time} | {HtmlReport.Percent(m.CleanAccuracy)} |");
            if (report.Transfer is { } transfer)
            {
                md.Append($" {HtmlReport.Percent(transfer.Results.FirstOrDefault(r => r.Name == m.Name)?.TransferAccuracy)} |");
            }
            if (column >= 0)
            {
                md.Append($" {HtmlReport.Percent(sweep!.Accuracy[m.Name][column])} |");
            }
            md.Append('\n');
        }
        if (report.Transfer is { } set)
        {
            md.Append($"\n`{Path.GetFileName(set.Set)}` (+ `.json`): {set.Manifest.Examples:N0} adversarial examples made against " +
                $"`{Path.GetFileName(set.Manifest.SourceModel)}` — " +
                string.Join(", ", set.Manifest.Norms.Select(c => $"{NormKinds.Parse(c.Norm).Symbol()} ε = {c.Eps.ToString("G4", CultureInfo.InvariantCulture)}: {c.Found:N0} of {c.Tried:N0}")) +
                " correctly classified test images fooled it.\n");
        }
        md.Append("\nEach model's training log is `MODEL.metrics.jsonl` beside it; its model card (`evaluator inspect MODEL`) records the data, " +
            "the method and every training setting.\n");
        return md.ToString();
    }
}
