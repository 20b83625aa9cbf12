using System.Diagnostics;
using System.Globalization;
using RobustEval.Data;
using RobustEval.Evaluator.Gradients;

namespace RobustEval.Evaluator.Runtime;

/// <summary>What <c>--batch auto</c> chose, and why (printed, and kept in results.json).</summary>
public sealed record BatchChoice(int Batch, string Why)
{
    public override string ToString() => $"{Batch} ({Why})";
}

/// <summary>
/// <c>--batch auto</c>: estimates what one more image costs the model's gradient graph — memory from the shapes of
/// its tensors, time from a probe batch — and picks the largest batch that fits in half the memory this process may still take
/// and runs in about a second, at most <see cref="Largest"/> (larger ones would make progress reports and
/// resumable state coarse for little gain). A model with a fixed batch takes that one; on a GPU, whose free memory ONNX Runtime
/// does not report, the default.
/// </summary>
public static class AutoBatch
{
    public const int Largest = 512;
    public const int Default = 256;
    private const double SecondsPerBatch = 1.0;

    /// <summary>
    /// The batch to run with: <paramref name="batch"/> when given, else (auto) the measured choice, which
    /// <paramref name="notice"/> is told.
    /// </summary>
    public static BatchChoice Resolve(int? batch, GradientSessions gradients, Dataset data, Action<string> notice)
    {
        if (batch is { } given)
        {
            return new BatchChoice(given, "given");
        }
        var choice = gradients.GradientBlockers.Count > 0
            ? new BatchChoice(Default, "the default: the model has no gradient graph to measure")
            : Choose(gradients.For(Loss.CrossEntropy), data, gradients.Sessions);
        notice($"--batch auto for {gradients.Classifier.Name}: {choice}");
        return choice;
    }

    public static BatchChoice Choose(GradientSession session, Dataset data, OrtSessions sessions)
    {
        var classifier = session.Classifier;
        if (classifier.FixedBatch is { } fixedBatch)
        {
            return new BatchChoice((int)fixedBatch, "the model takes batches of exactly that size");
        }
        if (sessions.ActiveProvider == "cuda")
        {
            return new BatchChoice(Default, "the default: free GPU memory is not measured");
        }
        int small = Math.Min(4, data.Count);
        int large = Math.Min(36, data.Count);
        if (large - small < 8)
        {
            return new BatchChoice(Math.Max(1, data.Count), "all the images: too few to measure");
        }
        var buffers = session.For(large);
        data.Pixels[..(large * classifier.ImageSize)].CopyTo(buffers.Pixels);
        for (int i = 0; i < large; i++)
        {
            buffers.Labels[i] = Math.Clamp(data.Labels[i], 0, classifier.Classes - 1);
        }
        long perImage = BytesPerImage(classifier);
        // The first run at a size pays for its allocations; the second is timed.
        session.Evaluate(buffers, small, counted: false);
        session.Evaluate(buffers, large, counted: false);
        var clock = Stopwatch.StartNew();
        session.Evaluate(buffers, large, counted: false);
        double seconds = clock.Elapsed.TotalSeconds / large;

        long available = AvailableBytes();
        int byMemory = (int)Math.Clamp(available / 2 / perImage, 1, int.MaxValue);
        int byTime = (int)Math.Clamp(SecondsPerBatch / Math.Max(seconds, 1e-9), 1, int.MaxValue);
        int batch = Math.Max(1, Math.Min(Math.Min(byMemory, byTime), Math.Min(Largest, data.Count)));
        var limit = batch == data.Count && batch < Math.Min(byMemory, byTime) && batch < Largest ? "all the images"
            : batch == Largest && Largest <= Math.Min(byMemory, byTime) ? "the largest auto picks"
            : byMemory <= byTime ? "half the free memory"
            : "about a second a batch";
        return new BatchChoice(batch, string.Create(CultureInfo.InvariantCulture,
            $"auto: {Megabytes(perImage)} and {seconds * 1000:G3} ms an image in the gradient graph, {Megabytes(available)} free; limited by {limit}"));
    }

    private static string Megabytes(long bytes) => bytes >= 1L << 30
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):F1} GiB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):F1} MiB");

    /// <summary>
    /// An upper estimate of what one more image costs the gradient graph: every intermediate tensor of the model
    /// that grows with the batch (their shapes are known from the model's first run), three times — the forward
    /// value kept for the backward pass, its gradient, and a temporary. ONNX Runtime reuses buffers, so the real
    /// peak is lower. (The process's resident size is no measure: the heap left over from building the session
    /// absorbs small batches.)
    /// </summary>
    internal static long BytesPerImage(Classifiers.Classifier classifier)
    {
        long bytes = 0;
        foreach (var tensor in classifier.Tensors.Values)
        {
            if (tensor.BatchAxes.Any(b => b))
            {
                int size = tensor.Type is Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int64 or Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Double ? 8 : 4;
                bytes += tensor.Count * size / ShapeProbe.LargerBatch;
            }
        }
        return Math.Max(3 * bytes, (long)classifier.ImageSize * sizeof(float) * 4);
    }

    /// <summary>
    /// What this process may still take: the system's available memory (MemAvailable), or less where a control
    /// group's limit is nearer.
    /// </summary>
    private static long AvailableBytes()
    {
        long available = ProcField("/proc/meminfo", "MemAvailable:") ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        try
        {
            var max = File.ReadAllText("/sys/fs/cgroup/memory.max").Trim();
            var current = File.ReadAllText("/sys/fs/cgroup/memory.current").Trim();
            if (long.TryParse(max, CultureInfo.InvariantCulture, out var limit) && long.TryParse(current, CultureInfo.InvariantCulture, out var used))
            {
                available = Math.Min(available, Math.Max(0, limit - used));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // No cgroup v2 limit to honour.
        }
        return Math.Max(available, 1L << 20);
    }

    /// <summary>A "Name:   123 kB" line of a /proc file, in bytes.</summary>
    private static long? ProcField(string path, string name)
    {
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                if (line.StartsWith(name, StringComparison.Ordinal))
                {
                    var parts = line[name.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return long.Parse(parts[0], CultureInfo.InvariantCulture) * (parts.Length > 1 && parts[1] == "kB" ? 1024 : 1);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
        }
        return null;
    }
}
