namespace RobustEval.Data;

/// <summary>
/// Labelled images held in memory as float32 NCHW pixels in [0, 1] with int64 labels. Every reader produces
/// one only after the whole file has been checked, so a dataset is never partially loaded.
/// </summary>
public sealed class Dataset
{
    private readonly float[] _images;
    private readonly long[] _labels;

    public Dataset(float[] images, long[] labels, int channels, int height, int width,
        IReadOnlyList<string> classNames, string source)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classNames);
        if (channels < 1 || height < 1 || width < 1)
        {
            throw new ArgumentException($"image shape {channels}x{height}x{width} is not valid");
        }
        if (classNames.Count < 1)
        {
            throw new ArgumentException("a dataset needs at least one class");
        }
        long pixels = (long)channels * height * width;
        if (images.LongLength != pixels * labels.LongLength)
        {
            throw new ArgumentException(
                $"{images.LongLength} pixel values do not make {labels.Length} images of {channels}x{height}x{width}");
        }
        _images = images;
        _labels = labels;
        Channels = channels;
        Height = height;
        Width = width;
        ClassNames = classNames;
        Source = source;
    }

    public int Count => _labels.Length;

    public int Channels { get; }

    public int Height { get; }

    public int Width { get; }

    /// <summary>C·H·W: the number of values in one image.</summary>
    public int ImageSize => Channels * Height * Width;

    public IReadOnlyList<string> ClassNames { get; }

    public int ClassCount => ClassNames.Count;

    /// <summary>Where the data came from, in words (file, split, package) — reports quote it.</summary>
    public string Source { get; }

    /// <summary>All pixels, image after image, NCHW.</summary>
    public ReadOnlySpan<float> Pixels => _images;

    public ReadOnlySpan<long> Labels => _labels;

    public ReadOnlySpan<float> Image(int index) => _images.AsSpan(index * ImageSize, ImageSize);

    public long Label(int index) => _labels[index];

    /// <summary>Images [start, start + count) as a new dataset.</summary>
    public Dataset Slice(int start, int count, string? source = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start + count, Count);
        return new Dataset(
            _images.AsSpan(start * ImageSize, count * ImageSize).ToArray(),
            _labels.AsSpan(start, count).ToArray(),
            Channels, Height, Width, ClassNames, source ?? Source);
    }

    /// <summary>The first <paramref name="count"/> images (all of them when the dataset is smaller).</summary>
    public Dataset Take(int count) =>
        count >= Count ? this : Slice(0, count, $"{Source}, first {count:N0}");

    /// <summary>The images at the given indices, in that order.</summary>
    public Dataset Subset(IReadOnlyList<int> indices, string? source = null)
    {
        var images = new float[(long)indices.Count * ImageSize];
        var labels = new long[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            Image(indices[i]).CopyTo(images.AsSpan(i * ImageSize, ImageSize));
            labels[i] = _labels[indices[i]];
        }
        return new Dataset(images, labels, Channels, Height, Width, ClassNames, source ?? Source);
    }

    /// <summary>Copies images [start, start + count) into <paramref name="pixels"/> and their labels.</summary>
    public void CopyBatch(int start, int count, Span<float> pixels, Span<long> labels)
    {
        _images.AsSpan(start * ImageSize, count * ImageSize).CopyTo(pixels);
        _labels.AsSpan(start, count).CopyTo(labels);
    }

    /// <summary>Per-channel mean and standard deviation over all pixels (the trainer's input standardisation).</summary>
    public (float[] Mean, float[] Std) ChannelStatistics()
    {
        var sum = new double[Channels];
        var sumSquares = new double[Channels];
        int plane = Height * Width;
        for (int n = 0; n < Count; n++)
        {
            for (int c = 0; c < Channels; c++)
            {
                var values = _images.AsSpan(n * ImageSize + c * plane, plane);
                foreach (float v in values)
                {
                    sum[c] += v;
                    sumSquares[c] += (double)v * v;
                }
            }
        }
        double perChannel = (double)Count * plane;
        var mean = new float[Channels];
        var std = new float[Channels];
        for (int c = 0; c < Channels; c++)
        {
            double m = sum[c] / perChannel;
            mean[c] = (float)m;
            std[c] = (float)Math.Sqrt(Math.Max(sumSquares[c] / perChannel - m * m, 1e-12));
        }
        return (mean, std);
    }

    /// <summary>
    /// Checks what every reader promises: finite pixels in [0, 1] and labels that name a class.
    /// </summary>
    public static void Validate(string path, ReadOnlySpan<float> pixels, ReadOnlySpan<long> labels, int classCount)
    {
        for (int i = 0; i < pixels.Length; i++)
        {
            float v = pixels[i];
            if (!float.IsFinite(v))
            {
                throw new DataFormatException(path, $"pixel value {i} is {v} (NaN and infinities are not images)");
            }
            if (v < 0f || v > 1f)
            {
                throw new DataFormatException(path, $"pixel value {i} is {v}, outside [0, 1]");
            }
        }
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] < 0 || labels[i] >= classCount)
            {
                throw new DataFormatException(path, $"label {i} is {labels[i]}, outside 0..{classCount - 1}");
            }
        }
    }
}
