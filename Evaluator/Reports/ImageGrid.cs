using SkiaSharp;

namespace RobustEval.Evaluator.Reports;

/// <summary>One picture in a grid: CHW pixels in [0, 1] (or a perturbation, drawn amplified), a caption, optional circles.</summary>
internal sealed record GridCell(float[] Pixels, int Channels, int Height, int Width, string Caption, bool IsPerturbation = false,
    IReadOnlyList<(int Row, int Column)>? Circles = null);

/// <summary>
/// Draws rows of images with SkiaSharp: each pixel an upscaled square (nearest neighbour, so single pixels stay
/// visible), a caption under each image, row labels on the left, and red circles around marked pixels (Fig. 1).
/// </summary>
internal static class ImageGrid
{
    private const int Caption = 18;
    private const int LabelWidth = 110;
    private const int Gap = 8;

    public static void Save(string path, IReadOnlyList<(string Label, IReadOnlyList<GridCell> Cells)> rows, int scale = 4)
    {
        int columns = rows.Max(r => r.Cells.Count);
        var first = rows.SelectMany(r => r.Cells).First();
        int cellWidth = first.Width * scale;
        int cellHeight = first.Height * scale;
        int width = LabelWidth + columns * (cellWidth + Gap) + Gap;
        int height = rows.Count * (cellHeight + Caption + Gap) + Gap;
        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var typeface = Typeface();
        using var font = new SKFont(typeface, 12);
        using var text = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var fill = new SKPaint { IsAntialias = false, Style = SKPaintStyle.Fill };
        using var ring = new SKPaint { Color = SKColors.Red, IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeWidth = 2 };
        for (int r = 0; r < rows.Count; r++)
        {
            int top = Gap + r * (cellHeight + Caption + Gap);
            canvas.DrawText(rows[r].Label, 6, top + cellHeight / 2f, SKTextAlign.Left, font, text);
            for (int c = 0; c < rows[r].Cells.Count; c++)
            {
                var cell = rows[r].Cells[c];
                int left = LabelWidth + c * (cellWidth + Gap);
                DrawPixels(canvas, fill, cell, left, top, scale);
                foreach (var (row, column) in cell.Circles ?? [])
                {
                    canvas.DrawCircle(left + (column + 0.5f) * scale, top + (row + 0.5f) * scale, 2.5f * scale, ring);
                }
                canvas.DrawText(cell.Caption, left + cellWidth / 2f, top + cellHeight + 13, SKTextAlign.Center, font, text);
            }
        }
        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        IO.AtomicFile.WriteAllBytes(path, png.Span);
    }

    private static void DrawPixels(SKCanvas canvas, SKPaint paint, GridCell cell, int left, int top, int scale)
    {
        int plane = cell.Height * cell.Width;
        // Perturbations are shown around mid-grey, stretched so the largest change is black or white.
        float amplify = 1f;
        if (cell.IsPerturbation)
        {
            float max = cell.Pixels.Max(Math.Abs);
            amplify = max > 0 ? 0.5f / max : 0f;
        }
        for (int y = 0; y < cell.Height; y++)
        {
            for (int x = 0; x < cell.Width; x++)
            {
                byte Channel(int c)
                {
                    float v = cell.Pixels[c * plane + y * cell.Width + x];
                    v = cell.IsPerturbation ? 0.5f + v * amplify : v;
                    return (byte)Math.Clamp((int)Math.Round(v * 255), 0, 255);
                }
                paint.Color = cell.Channels >= 3 ? new SKColor(Channel(0), Channel(1), Channel(2)) : new SKColor(Channel(0), Channel(0), Channel(0));
                canvas.DrawRect(left + x * scale, top + y * scale, scale, scale, paint);
            }
        }
    }

    private static SKTypeface Typeface() =>
        SKTypeface.FromFamilyName("DejaVu Sans") ?? SKTypeface.FromFamilyName("Liberation Sans") ?? SKTypeface.Default;
}
