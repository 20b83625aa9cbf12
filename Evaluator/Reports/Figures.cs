using ScottPlot;

namespace RobustEval.Evaluator.Reports;

/// <summary>The report's plots, drawn with ScottPlot and saved as PNG and SVG.</summary>
internal static class Figures
{
    private const int Width = 720;
    private const int Height = 440;
    private static readonly ScottPlot.Palettes.Category10 Palette = new();

    /// <summary>
    /// Lines of (x, y) per named series, with axis labels; returns the PNG and SVG file names written. With
    /// <paramref name="errors"/> (one array per series, null for none), each point gets a ± error bar in its line's colour.
    /// </summary>
    public static (string Png, string Svg) Lines(string directory, string name, string title, string xLabel, string yLabel,
        IReadOnlyList<(string Label, double[] X, double[] Y)> series, (double Min, double Max)? yRange = null, IReadOnlyList<double[]?>? errors = null)
    {
        var plot = NewPlot(title, xLabel, yLabel);
        for (int i = 0; i < series.Count; i++)
        {
            var (label, x, y) = series[i];
            var line = plot.Add.Scatter(x, y);
            // Colours by series, not by plottable: error bars would otherwise take the next line's colour.
            line.Color = Palette.GetColor(i);
            line.LegendText = label;
            line.LineWidth = 2;
            line.MarkerSize = 6;
            if (errors?[i] is { } error)
            {
                var bars = plot.Add.ErrorBar(x, y, error);
                bars.Color = line.Color;
                bars.LineWidth = 1.5f;
            }
        }
        if (yRange is { } range)
        {
            plot.Axes.SetLimitsY(range.Min, range.Max);
        }
        plot.ShowLegend(Alignment.LowerLeft);
        return Save(plot, directory, name);
    }

    /// <summary>A histogram of <paramref name="values"/>.</summary>
    public static (string Png, string Svg) Histogram(string directory, string name, string title, string xLabel, double[] values, int bins,
        out double[] edges, out int[] counts)
    {
        var plot = NewPlot(title, xLabel, "examples");
        double min = values.Min();
        double max = values.Max();
        if (max <= min)
        {
            max = min + 1e-6;
        }
        var histogram = ScottPlot.Statistics.Histogram.WithBinCount(bins, min, max);
        histogram.AddRange(values);
        plot.Add.Histogram(histogram);
        edges = histogram.Edges;
        counts = histogram.Counts;
        return Save(plot, directory, name);
    }

    private static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        return plot;
    }

    private static (string Png, string Svg) Save(Plot plot, string directory, string name)
    {
        // DejaVu Sans has ℓ, ε and ∞, which some default fonts lack.
        plot.Font.Set(ScottPlot.Fonts.GetTypeface("DejaVu Sans", false, false) is null ? ScottPlot.Fonts.Default : "DejaVu Sans");
        var png = name + ".png";
        var svg = name + ".svg";
        var temporaryPng = Path.Combine(directory, $".{png}.tmp");
        var temporarySvg = Path.Combine(directory, $".{svg}.tmp");
        plot.SavePng(temporaryPng, Width, Height);
        plot.SaveSvg(temporarySvg, Width, Height);
        File.Move(temporaryPng, Path.Combine(directory, png), overwrite: true);
        File.Move(temporarySvg, Path.Combine(directory, svg), overwrite: true);
        return (png, svg);
    }
}
