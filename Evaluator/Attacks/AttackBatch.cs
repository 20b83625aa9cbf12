namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// One batch as an attack sees it: the clean images (NCHW pixels in [0, 1]), their labels and targets as the model's
/// class indices, the clean logits, and — when the runner computed it for this loss and these targets — the clean
/// gradient. Restarts and target sweeps hand attacks sub-batches of it (<see cref="Subset"/>, <see cref="WithTargets"/>).
/// </summary>
public sealed class AttackBatch
{
    public AttackBatch(float[] images, long[] labels, long[]? targets, float[] cleanLogits, float[]? cleanGradient, Random random)
    {
        Count = labels.Length;
        if (Count == 0 || images.Length % Count != 0 || cleanLogits.Length % Count != 0 || targets is not null && targets.Length != Count
            || cleanGradient is not null && cleanGradient.Length != images.Length)
        {
            throw new ArgumentException("images, labels, targets, logits and gradient must describe the same examples");
        }
        ImageSize = images.Length / Count;
        Classes = cleanLogits.Length / Count;
        Images = images;
        Labels = labels;
        Targets = targets;
        CleanLogits = cleanLogits;
        CleanGradient = cleanGradient;
        Random = random;
    }

    public int Count { get; }

    public int ImageSize { get; }

    public int Classes { get; }

    public float[] Images { get; }

    public long[] Labels { get; }

    /// <summary>Each example's target class, or null when the attack is untargeted.</summary>
    public long[]? Targets { get; }

    public float[] CleanLogits { get; }

    /// <summary>The gradient of the attack's loss at the clean images for these targets, or null when not computed.</summary>
    public float[]? CleanGradient { get; }

    /// <summary>Random starts draw from this; restarts continue its sequence, so a batch's runs never share a start.</summary>
    public Random Random { get; }

    /// <summary>Receives the share (0 to 1) of this batch's work done, for progress displays.</summary>
    public Action<double>? Progress { get; init; }

    public ReadOnlySpan<float> Image(int i) => Images.AsSpan(i * ImageSize, ImageSize);

    public long Target(int i) => Targets?[i] ?? -1;

    /// <summary>The examples <paramref name="indices"/> as a batch of their own (same random sequence).</summary>
    public AttackBatch Subset(IReadOnlyList<int> indices, Action<double>? progress = null)
    {
        var images = new float[indices.Count * ImageSize];
        var logits = new float[indices.Count * Classes];
        var gradient = CleanGradient is null ? null : new float[images.Length];
        for (int k = 0; k < indices.Count; k++)
        {
            Image(indices[k]).CopyTo(images.AsSpan(k * ImageSize));
            CleanLogits.AsSpan(indices[k] * Classes, Classes).CopyTo(logits.AsSpan(k * Classes));
            CleanGradient?.AsSpan(indices[k] * ImageSize, ImageSize).CopyTo(gradient!.AsSpan(k * ImageSize));
        }
        return new AttackBatch(images, indices.Select(i => Labels[i]).ToArray(), Targets is null ? null : indices.Select(i => Targets[i]).ToArray(),
            logits, gradient, Random) { Progress = progress };
    }

    /// <summary>The same batch reporting its progress to <paramref name="progress"/>.</summary>
    public AttackBatch WithProgress(Action<double>? progress) => new(Images, Labels, Targets, CleanLogits, CleanGradient, Random) { Progress = progress };

    /// <summary>The same examples aimed at other targets (the clean gradient no longer applies).</summary>
    public AttackBatch WithTargets(long[] targets, Action<double>? progress = null) =>
        new(Images, Labels, targets, CleanLogits, null, Random) { Progress = progress };
}
