using System.Runtime.InteropServices;
using SkiaSharp;

namespace RobustEval.Data;

/// <summary>
/// Image files in and out, with SkiaSharp: PNG, JPEG, BMP and WebP decoded to 8-bit channels-first bytes (1 channel
/// for grayscale files, else 3; alpha dropped), hardened as the other readers are — the header's size is checked
/// against caps before any pixel memory is allocated, and a corrupt or truncated file is a <see cref="DataFormatException"/>
/// naming it. Pixels are written as 8-bit PNG.
/// </summary>
public static class ImageFiles
{
    /// <summary>The file endings read as images (case-insensitive).</summary>
    public static readonly IReadOnlyList<string> Extensions = [".png", ".jpg", ".jpeg", ".bmp", ".webp"];

    /// <summary>Largest width or height accepted.</summary>
    public const int MaxSide = 16_384;

    /// <summary>Largest number of pixels in one image (64 megapixels).</summary>
    public const long MaxPixels = 64L << 20;

    /// <summary>Largest file accepted (256 MiB).</summary>
    public const long MaxFileBytes = 256L << 20;

    public static bool IsImage(string path) =>
        Extensions.Contains(Path.GetExtension(path).ToLowerInvariant(), StringComparer.Ordinal);

    /// <summary>An image's width and height from its header alone.</summary>
    public static (int Width, int Height) Size(string path)
    {
        using var codec = Open(path, out _);
        return (codec.Info.Width, codec.Info.Height);
    }

    /// <summary>Decodes a file to an SKBitmap of 8-bit RGBA (unpremultiplied); <paramref name="grayscale"/> says the file has one channel.</summary>
    public static SKBitmap Decode(string path, out bool grayscale)
    {
        using var codec = Open(path, out var stream);
        using (stream)
        {
            var info = codec.Info;
            grayscale = info.ColorType == SKColorType.Gray8;
            var target = new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
            var bitmap = new SKBitmap();
            try
            {
                if (!bitmap.TryAllocPixels(target))
                {
                    throw new DataFormatException(path, $"cannot allocate {info.Width}×{info.Height} pixels");
                }
                var result = codec.GetPixels(target, bitmap.GetPixels());
                if (result != SKCodecResult.Success)
                {
                    throw new DataFormatException(path, result == SKCodecResult.IncompleteInput
                        ? "the image is truncated (its data ends before its last row)"
                        : $"the image cannot be decoded ({result})");
                }
                return bitmap;
            }
            catch
            {
                bitmap.Dispose();
                throw;
            }
        }
    }

    private static SKCodec Open(string path, out Stream stream)
    {
        FileInfo file;
        try
        {
            file = new FileInfo(path);
            if (!file.Exists)
            {
                throw new DataFormatException(path, "file not found");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new DataFormatException(path, e.Message);
        }
        if (file.Length > MaxFileBytes)
        {
            throw new DataFormatException(path, $"{file.Length:N0} bytes is more than the {MaxFileBytes:N0} an image may have");
        }
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataFormatException(path, e.Message);
        }
        stream = new MemoryStream(bytes, writable: false);
        var codec = SKCodec.Create(stream, out var result);
        if (codec is null)
        {
            stream.Dispose();
            throw new DataFormatException(path, $"not a PNG, JPEG, BMP or WebP image that can be read ({result})");
        }
        var info = codec.Info;
        if (info.Width < 1 || info.Height < 1 || info.Width > MaxSide || info.Height > MaxSide || (long)info.Width * info.Height > MaxPixels)
        {
            codec.Dispose();
            stream.Dispose();
            throw new DataFormatException(path, $"{info.Width}×{info.Height} pixels is outside the sizes read (1 to {MaxSide:N0} a side, {MaxPixels:N0} in all)");
        }
        return codec;
    }

    /// <summary>
    /// Channels-first bytes of an RGBA bitmap: 1 channel (ITU-R 601 luma, as torchvision's Grayscale) or 3 (a gray
    /// image's value repeated). Alpha is dropped.
    /// </summary>
    public static byte[] ToChannels(SKBitmap bitmap, int channels)
    {
        int h = bitmap.Height, w = bitmap.Width, plane = h * w;
        var rgba = MemoryMarshal.AsBytes(bitmap.GetPixelSpan());
        var result = new byte[channels * plane];
        int stride = bitmap.RowBytes;
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                int s = y * stride + 4 * x, d = y * w + x;
                byte r = rgba[s], g = rgba[s + 1], b = rgba[s + 2];
                if (channels == 1)
                {
                    result[d] = (byte)Math.Clamp((int)Math.Round(r * 0.299 + g * 0.587 + b * 0.114), 0, 255);
                }
                else
                {
                    result[d] = r;
                    result[plane + d] = g;
                    result[2 * plane + d] = b;
                }
            }
        }
        return result;
    }

    /// <summary>Writes channels-first pixels in [0, 1] (1 or 3 channels) as an 8-bit PNG, atomically.</summary>
    public static void SavePng(string path, ReadOnlySpan<float> chw, int channels, int height, int width)
    {
        if (channels is not (1 or 3))
        {
            throw new ArgumentException($"a PNG holds 1 or 3 channels, not {channels}");
        }
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var rgba = MemoryMarshal.AsBytes(bitmap.GetPixelSpan());
        int plane = height * width;
        static byte Byte(float v) => (byte)Math.Clamp((int)MathF.Round(v * 255f), 0, 255);
        for (int i = 0; i < plane; i++)
        {
            int y = i / width, x = i % width, d = y * bitmap.RowBytes + 4 * x;
            byte r = Byte(chw[i]);
            rgba[d] = r;
            rgba[d + 1] = channels == 1 ? r : Byte(chw[plane + i]);
            rgba[d + 2] = channels == 1 ? r : Byte(chw[2 * plane + i]);
            rgba[d + 3] = 255;
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        IO.AtomicFile.WriteAllBytes(path, png.Span);
    }
}
