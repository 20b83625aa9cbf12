using System.Globalization;
using System.Net;
using System.Text;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Reports;

/// <summary>
/// Renders a <see cref="ReportData"/> as one self-contained page: inline CSS, no scripts, no external fonts or
/// links; figures are files in the same folder. Every string that came from a model or a file is HTML-escaped.
/// </summary>
internal static class HtmlReport
{
    public static string Render(ReportData report)
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        html.Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src 'self'; style-src 'unsafe-inline'\">\n");
        html.Append($"<title>{E(report.Title)}</title>\n<style>{Style}</style>\n</head>\n<body>\n");
        html.Append($"<h1>{E(report.Title)}</h1>\n");
        html.Append($"<p class=\"meta\">Data: {E(report.Data.Source)}; fresh attacks on the first {report.Data.AttackedExamples:N0} of its {report.Data.Examples:N0} images. " +
            $"RobustEval evaluator {E(report.EvaluatorVersion)}. Every number on this page is in <a href=\"results.json\">results.json</a>.</p>\n");

        if (report.Replicates is { } nets)
        {
            NetHeadline(html, report, nets);
        }
        else
        {
            Headline(html, report);
        }

        html.Append("<h2>Models</h2>\n<table id=\"models\">\n<tr><th>#</th><th>model</th><th>architecture</th><th>training</th><th>data</th>" +
            "<th>training time</th><th>training images/s</th><th>clean accuracy (card)</th><th>clean accuracy (measured)</th></tr>\n");
        foreach (var m in report.Models)
        {
            html.Append($"<tr><td>{m.Index}</td><td>{E(m.Name)}</td><td>{E(m.Architecture ?? "—")}</td><td>{E(Training(m))}</td><td>{E(m.Dataset ?? "—")}</td>" +
                $"<td>{(m.TrainingSeconds is { } s ? TimeSpan.FromSeconds(s).ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : "—")}</td>" +
                $"<td>{(m.TrainingImagesPerSecond is { } r ? r.ToString("N0", CultureInfo.InvariantCulture) : "—")}</td>" +
                $"<td>{Percent(m.CardCleanAccuracy)}</td><td>{Percent(m.CleanAccuracy)}</td></tr>\n");
        }
        html.Append("</table>\n");

        if (report.Transfer is { } transfer)
        {
            var norms = transfer.Manifest.Norms;
            html.Append("<h2>Accuracy on the transfer set (Table 1)</h2>\n");
            html.Append($"<p>{transfer.Manifest.Examples:N0} examples made against {E(Path.GetFileName(transfer.Manifest.SourceModel))} " +
                $"(SHA-256 {E(transfer.Manifest.SourceSha256[..12])}…) from {E(transfer.Manifest.DataSource)}: " +
                string.Join("; ", norms.Select(n => $"{E(NormKinds.Parse(n.Norm).Symbol())} ε = {n.Eps.ToString("G4", CultureInfo.InvariantCulture)}: {n.Found:N0} of {n.Tried:N0}")) +
                ".</p>\n<table id=\"transfer\">\n<tr><th>model</th><th>clean</th><th>transfer set</th>");
            foreach (var n in norms)
            {
                html.Append($"<th>{E(NormKinds.Parse(n.Norm).Symbol())}</th>");
            }
            html.Append("</tr>\n");
            foreach (var r in transfer.Results)
            {
                html.Append($"<tr><td>{E(r.Name)}</td><td>{Percent(r.CleanAccuracy)}</td><td>{Percent(r.TransferAccuracy)}</td>");
                foreach (var n in norms)
                {
                    html.Append($"<td>{(r.PerNorm.TryGetValue(n.Norm, out var a) ? Percent(a) : "—")}</td>");
                }
                html.Append("</tr>\n");
            }
            html.Append("</table>\n");
        }
        SeedTransferTable(html, report);

        if (report.Sweeps.Count > 0)
        {
            html.Append("<h2>Fresh attacks across ε</h2>\n");
            foreach (var sweep in report.Sweeps)
            {
                html.Append($"<p>{E(sweep.Attack)} (largest radius shown).</p>\n");
                html.Append($"<table class=\"sweep\" data-sweep=\"{E(sweep.Key)}\">\n<tr><th>model</th>");
                foreach (var eps in sweep.Eps)
                {
                    html.Append($"<th>ε = {eps.ToString("G4", CultureInfo.InvariantCulture)}</th>");
                }
                html.Append("</tr>\n");
                if (report.Replicates is { } groups)
                {
                    foreach (var net in groups)
                    {
                        html.Append($"<tr><td>{E(net.Name)} (n = {net.Models.Count})</td>{string.Concat(net.Sweeps[sweep.Key].Select(a => $"<td>{Percent(a)}</td>"))}</tr>\n");
                    }
                }
                else
                {
                    foreach (var (model, accuracy) in sweep.Accuracy)
                    {
                        html.Append($"<tr><td>{E(model)}</td>{string.Concat(accuracy.Select(a => $"<td>{Percent(a)}</td>"))}</tr>\n");
                    }
                }
                html.Append("</table>\n");
                AppendFigures(html, report.Figures.Where(f => f.File == sweep.Figure));
            }
        }

        AutoAttackTables(html, report);
        Section(html, report, "training", "Training curves");
        if (report.Fosc.Count > 0)
        {
            html.Append("<h2>FOSC of PGD examples</h2>\n<table id=\"fosc\">\n<tr><th>model</th><th>attack</th><th>mean FOSC</th></tr>\n");
            foreach (var f in report.Fosc)
            {
                html.Append($"<tr><td>{E(f.Model)}</td><td>{E(f.Attack)}</td><td>{f.Mean.ToString("G4", CultureInfo.InvariantCulture)}</td></tr>\n");
            }
            html.Append("</table>\n");
            AppendFigures(html, report.Figures.Where(f => f.Section == "fosc"));
        }
        Section(html, report, "single-pixel", "Single-pixel examples");
        Section(html, report, "transfer", "Transfer set sample");
        Section(html, report, "grids", "Adversarial examples");

        var notes = report.Models.SelectMany(m => m.Notes.Select(n => (Model: m.Name, Note: n)))
            .Concat(report.AutoAttack.SelectMany(a => a.Flags.Select(f => (Model: a.Model, Note: $"AutoAttack {a.ThreatModel}: {f}"))))
            .ToList();
        html.Append("<h2>Can these numbers be trusted?</h2>\n");
        if (notes.Count == 0 && report.Notes.Count == 0)
        {
            html.Append("<p>No sign of gradient masking was detected: no softmax output, no all-zero gradients, and fresh white-box attacks were at least as strong as transferred ones where a transfer set was given.</p>\n");
        }
        else
        {
            html.Append("<ul id=\"notes\">\n");
            foreach (var (model, note) in notes)
            {
                html.Append($"<li><b>{E(model)}</b>: {E(note)}</li>\n");
            }
            foreach (var note in report.Notes)
            {
                html.Append($"<li>{E(note)}</li>\n");
            }
            html.Append("</ul>\n");
        }
        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    /// <summary>
    /// The headline, RobustBench-style: per model its clean accuracy and, per threat model, the robust accuracy under
    /// the strongest attack run there (AutoAttack when it ran; else the lowest of the sweeps at their largest radius),
    /// with n, the 95 % Wilson interval and the flags raised.
    /// </summary>
    private static void Headline(StringBuilder html, ReportData report)
    {
        var columns = report.AutoAttack.Select(a => (a.Norm, a.Eps)).Distinct().ToList();
        var fromSweeps = report.Sweeps
            .Select(s => (s.Norm, Eps: s.Eps.Max(), Sweep: s))
            .Where(s => s.Eps > 0 && !columns.Contains((s.Norm, s.Eps)))
            .GroupBy(s => (s.Norm, s.Eps))
            .ToList();
        if (columns.Count == 0 && fromSweeps.Count == 0)
        {
            return;
        }
        html.Append("<h2>Headline</h2>\n<table id=\"headline\">\n<tr><th>model</th><th>clean accuracy</th>");
        foreach (var (norm, eps) in columns)
        {
            html.Append($"<th>{E(NormKinds.Parse(norm).Symbol())} ε = {eps.ToString("G4", CultureInfo.InvariantCulture)}<br>AutoAttack</th>");
        }
        foreach (var group in fromSweeps)
        {
            html.Append($"<th>{E(NormKinds.Parse(group.Key.Norm).Symbol())} ε = {group.Key.Eps.ToString("G4", CultureInfo.InvariantCulture)}<br>" +
                $"strongest of {E(string.Join(", ", group.Select(g => g.Sweep.Attack.Split(' ')[0])))}</th>");
        }
        html.Append("<th>flags</th></tr>\n");
        foreach (var model in report.Models)
        {
            html.Append($"<tr><td>{E(model.Name)}</td><td>{Percent(model.CleanAccuracy)}</td>");
            var flags = new List<string>();
            foreach (var (norm, eps) in columns)
            {
                var entry = report.AutoAttack.Where(a => a.Model == model.Name && a.Norm == norm && a.Eps == eps).MinBy(a => a.RobustAccuracy);
                html.Append(entry is null ? "<td>—</td>" : $"<td>{Percent(entry.RobustAccuracy)} [{Percent(entry.Interval[0])}, {Percent(entry.Interval[1])}], n = {entry.Examples:N0}</td>");
                flags.AddRange(entry?.Flags.Select(f => f.Id) ?? []);
            }
            foreach (var group in fromSweeps)
            {
                double accuracy = group.Min(g => g.Sweep.Accuracy.TryGetValue(model.Name, out var a) ? a[^1] : double.NaN);
                int n = report.Data.AttackedExamples;
                int robust = (int)Math.Round(accuracy * n);
                var (lower, upper) = Attacks.Wilson.Interval(robust, n);
                html.Append($"<td>{Percent(accuracy)} [{Percent(lower)}, {Percent(upper)}], n = {n:N0}</td>");
            }
            html.Append($"<td>{E(flags.Count == 0 ? "none" : string.Join(", ", flags.Distinct()))}</td></tr>\n");
        }
        html.Append("</table>\n<p class=\"meta\">Robust accuracy with its 95 % Wilson interval. A column headed by sweeps is an upper bound from weaker attacks; " +
            "add <code>--autoattack NORM:EPS</code> for the number RobustBench would accept. Flags are explained under “Can these numbers be trusted?”.</p>\n");
    }

    /// <summary>
    /// The headline over seeds (--replicates): per net, the mean ± standard deviation over its seeds of the clean
    /// accuracy and of each threat model's robust accuracy (AutoAttack where every seed has it, else the sweeps').
    /// </summary>
    private static void NetHeadline(StringBuilder html, ReportData report, IReadOnlyList<ReportNet> nets)
    {
        var threats = nets.SelectMany(n => n.AutoAttack.Keys).Distinct().ToList();
        var sweeps = report.Sweeps.Where(s => s.Eps.Max() > 0).ToList();
        html.Append("<h2>Headline</h2>\n<table id=\"headline\">\n<tr><th>net</th><th>seeds</th><th>clean accuracy</th>");
        foreach (var threat in threats)
        {
            var parts = threat.Split(':');
            var examples = report.AutoAttack.Where(a => ReportBuilder.AutoAttackKey(a.Norm, a.Eps, a.Version) == threat).Select(a => a.Examples).Distinct().ToList();
            html.Append($"<th>{E(NormKinds.Parse(parts[0]).Symbol())} ε = {E(parts[1])}<br>AutoAttack {E(parts[2])}, n = {E(string.Join("/", examples.Select(n => n.ToString("N0", CultureInfo.InvariantCulture))))} each</th>");
        }
        foreach (var sweep in sweeps)
        {
            html.Append($"<th>{E(NormKinds.Parse(sweep.Norm).Symbol())} ε = {sweep.Eps.Max().ToString("G4", CultureInfo.InvariantCulture)}<br>{E(sweep.Attack.Split(' ')[0])}</th>");
        }
        html.Append("<th>flags</th></tr>\n");
        foreach (var net in nets)
        {
            html.Append($"<tr><td>{E(net.Name)}</td><td>{net.Models.Count}</td><td>{Percent(net.CleanAccuracy)}</td>");
            foreach (var threat in threats)
            {
                html.Append($"<td>{(net.AutoAttack.TryGetValue(threat, out var robust) ? Percent(robust) : "—")}</td>");
            }
            foreach (var sweep in sweeps)
            {
                html.Append($"<td>{Percent(net.Sweeps[sweep.Key][sweep.Eps.ToList().IndexOf(sweep.Eps.Max())])}</td>");
            }
            var flags = report.AutoAttack.Where(a => net.Models.Contains(a.Model)).SelectMany(a => a.Flags.Select(f => f.Id)).Distinct().ToList();
            html.Append($"<td>{E(flags.Count == 0 ? "none" : string.Join(", ", flags))}</td></tr>\n");
        }
        html.Append("</table>\n<p class=\"meta\">Each net was trained from several independent seeds (its models share a file name): every cell is the mean ± the sample " +
            "standard deviation over them, each seed measured on the same images. AutoAttack columns are shown for a net only when every seed has that run; the sweeps' columns " +
            "are upper bounds from weaker attacks. Grids and FOSC histograms below show each net's first seed.</p>\n");
    }

    /// <summary>Table 1 over independent seeds (--seed-summary): each seed its own baseline and transfer set, the gain over the control seed by seed.</summary>
    private static void SeedTransferTable(StringBuilder html, ReportData report)
    {
        if (report.SeedTransfer is not { } summary)
        {
            return;
        }
        var norms = summary.Nets.SelectMany(n => n.PerNorm.Keys).Distinct().ToList();
        bool robust = summary.Nets.Any(n => n.RobustAccuracy is not null);
        html.Append($"<h2>Accuracy on the transfer sets over {summary.Seeds} seeds (Table 1)</h2>\n<p>Each seed is a whole run: its own baseline, its transfer set 𝒜 made against it, " +
            $"and every net trained from its own seed{(summary.Control is null ? "" : $"; the control {E(summary.Control)} is a second standard net, so its 𝒜 accuracy is the floor any independently trained net reaches, and each net's gain over it is taken seed by seed")}. " +
            $"Mean ± sample standard deviation over the seeds, from {E(summary.File)}.</p>\n<table id=\"seed-transfer\">\n<tr><th>net</th><th>seeds</th><th>clean</th><th>𝒜</th>");
        foreach (var norm in norms)
        {
            html.Append($"<th>𝒜 {E(NormKinds.Parse(norm).Symbol())}</th>");
        }
        html.Append(summary.Control is null ? "" : "<th>gain over control</th>");
        html.Append(robust ? $"<th>{E(summary.RobustAccuracyAttack ?? "robust")}</th>" : "").Append("</tr>\n");
        foreach (var net in summary.Nets)
        {
            html.Append($"<tr><td>{E(net.Name)}</td><td>{net.Seeds}</td><td>{Percent(net.CleanAccuracy)}</td><td>{Percent(net.TransferAccuracy)}</td>");
            foreach (var norm in norms)
            {
                html.Append($"<td>{(net.PerNorm.TryGetValue(norm, out var a) ? Percent(a) : "—")}</td>");
            }
            if (summary.Control is not null)
            {
                html.Append($"<td>{(net.GainOverControl is { } gain ? (gain.Mean >= 0 ? "+" : "") + Percent(gain) : "(control)")}</td>");
            }
            html.Append(robust ? $"<td>{Percent(net.RobustAccuracy)}</td>" : "").Append("</tr>\n");
        }
        html.Append("</table>\n");
    }

    /// <summary>AutoAttack's per-attack table: robust accuracy after each attack of the ensemble, per threat model.</summary>
    private static void AutoAttackTables(StringBuilder html, ReportData report)
    {
        if (report.AutoAttack.Count == 0)
        {
            return;
        }
        html.Append("<h2>AutoAttack, attack by attack</h2>\n<p>Each attack runs on the points every earlier one left robust; the last column is the pointwise worst case, re-evaluated.</p>\n");
        foreach (var group in report.AutoAttack.GroupBy(a => (a.ThreatModel, a.Version)))
        {
            var attacks = group.SelectMany(a => a.After.Select(p => p.Key)).Distinct().ToList();
            html.Append($"<p>{E(group.Key.ThreatModel)}, version {E(group.Key.Version)}</p>\n<table class=\"autoattack\">\n<tr><th>model</th><th>n</th><th>clean</th>");
            foreach (var attack in attacks)
            {
                html.Append($"<th>after {E(attack)}</th>");
            }
            html.Append("<th>robust accuracy [95 % interval]</th><th>source</th></tr>\n");
            foreach (var a in group)
            {
                html.Append($"<tr><td>{E(a.Model)}</td><td>{a.Examples:N0}</td><td>{Percent(a.CleanAccuracy)}</td>");
                foreach (var attack in attacks)
                {
                    var after = a.After.FirstOrDefault(p => p.Key == attack);
                    html.Append(after.Key is null ? "<td>—</td>" : $"<td>{Percent(after.Value)}</td>");
                }
                html.Append($"<td>{Percent(a.RobustAccuracy)} [{Percent(a.Interval[0])}, {Percent(a.Interval[1])}]</td><td>{E(a.Source)}</td></tr>\n");
            }
            html.Append("</table>\n");
        }
    }

    private static void Section(StringBuilder html, ReportData report, string section, string title)
    {
        var figures = report.Figures.Where(f => f.Section == section).ToList();
        if (figures.Count == 0)
        {
            return;
        }
        html.Append($"<h2>{E(title)}</h2>\n");
        AppendFigures(html, figures);
    }

    private static void AppendFigures(StringBuilder html, IEnumerable<ReportFigure> figures)
    {
        foreach (var figure in figures)
        {
            html.Append($"<figure><img src=\"{E(figure.File)}\" alt=\"{E(figure.Caption)}\">");
            html.Append($"<figcaption>{E(figure.Caption)}{(figure.Svg is null ? "" : $" <a href=\"{E(figure.Svg)}\">SVG</a>")}</figcaption></figure>\n");
        }
    }

    private static string Training(ReportModel m)
    {
        var parts = new List<string> { m.Method ?? "—" };
        if (m.Norm is not null && NormKinds.TryParse(m.Norm) is { } norm)
        {
            parts.Add(norm.Symbol());
        }
        if (m.Eps is { } eps)
        {
            parts.Add($"ε = {eps.ToString("G4", CultureInfo.InvariantCulture)}");
        }
        return string.Join(" ", parts);
    }

    /// <summary>Accuracy as shown in every table: two decimals and a percent sign (the browser test reads it back).</summary>
    public static string Percent(double? value) => value is { } v ? (v * 100).ToString("F2", CultureInfo.InvariantCulture) + "%" : "—";

    /// <summary>A spread over seeds as every table shows it: "97.50% ± 0.42" (the mean alone for one seed).</summary>
    public static string Percent(Spread? spread) => spread switch
    {
        null => "—",
        { Std: { } std } => $"{Percent(spread.Mean)} ± {(std * 100).ToString("F2", CultureInfo.InvariantCulture)}",
        _ => Percent(spread.Mean),
    };

    private static string E(string text) => WebUtility.HtmlEncode(text);

    private const string Style = """
        body { font-family: "DejaVu Sans", "Liberation Sans", sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
        h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
        table { border-collapse: collapse; margin: 0.8em 0; } th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: right; }
        th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
        figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
        figcaption { font-size: 0.9em; color: #444; } .meta { color: #555; }
        """;
}
