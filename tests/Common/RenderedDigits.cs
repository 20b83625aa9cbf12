using SkiaSharp;

namespace RobustEval.Tests;

/// <summary>
/// A folder of real images no one here drew: the digits 0–9 rendered at test time with Debian's DejaVu fonts
/// (fonts-dejavu-core), white on black as in MNIST, in several faces, sizes and offsets, written as grayscale PNG
/// and JPEG files in one sub-folder per digit.
/// </summary>
internal static class RenderedDigits
{
    public const string FontFolder = "/usr/share/fonts/truetype/dejavu";

    private static readonly string[] Faces =
        ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansMono.ttf", "DejaVuSansCondensed-Bold.ttf"];

    /// <summary>Skips the calling test when the fonts are missing (test.sh installs them).</summary>
    public static void RequireFonts()
    {
        if (!File.Exists(Path.Combine(FontFolder, Faces[0])))
        {
            Assert.Inconclusive($"no DejaVu fonts in {FontFolder}: apt-get install fonts-dejavu-core");
        }
    }

    /// <summary>
    /// Writes <paramref name="perDigit"/> images of each digit under <paramref name="directory"/>/0 … /9, each
    /// <paramref name="size"/> pixels square; every third one a JPEG, the rest PNG. Returns the files written.
    /// </summary>
    public static List<string> Write(string directory, int perDigit, int size = 28)
    {
        RequireFonts();
        var files = new List<string>();
        for (int digit = 0; digit < 10; digit++)
        {
            var folder = Directory.CreateDirectory(Path.Combine(directory, digit.ToString(System.Globalization.CultureInfo.InvariantCulture))).FullName;
            for (int k = 0; k < perDigit; k++)
            {
                bool jpeg = k % 3 == 2;
                var path = Path.Combine(folder, $"{digit}-{k:D3}.{(jpeg ? "jpg" : "png")}");
                File.WriteAllBytes(path, Render(digit.ToString(System.Globalization.CultureInfo.InvariantCulture), size, k, jpeg));
                files.Add(path);
            }
        }
        return files;
    }

    /// <summary>One image: <paramref name="text"/> in face and placement chosen by <paramref name="variant"/>, encoded as grayscale PNG or JPEG.</summary>
    public static byte[] Render(string text, int size, int variant, bool jpeg)
    {
        using var typeface = SKTypeface.FromFile(Path.Combine(FontFolder, Faces[variant % Faces.Length]))
            ?? throw new InvalidOperationException($"cannot load {Faces[variant % Faces.Length]}");
        using var bitmap = new SKBitmap(new SKImageInfo(size, size, SKColorType.Gray8, SKAlphaType.Opaque));
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.Black);
            // MNIST digits are about 20 pixels tall in a 28-pixel box, centred by mass, with some variation.
            float height = size * (0.62f + 0.04f * (variant % 4));
            using var font = new SKFont(typeface, height * 1.35f);
            using var paint = new SKPaint { Color = SKColors.White, IsAntialias = true };
            font.MeasureText(text, out var bounds, paint);
            float dx = (variant % 5 - 2) * size / 28f, dy = (variant / 5 % 3 - 1) * size / 28f;
            canvas.DrawText(text, size / 2f - bounds.MidX + dx, size / 2f - bounds.MidY + dy, SKTextAlign.Left, font, paint);
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var encoded = image.Encode(jpeg ? SKEncodedImageFormat.Jpeg : SKEncodedImageFormat.Png, 92);
        return encoded.ToArray();
    }
}
