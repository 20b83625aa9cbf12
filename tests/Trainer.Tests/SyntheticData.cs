using RobustEval.Data;

namespace RobustEval.Trainer.Tests;

/// <summary>Small, learnable image sets: class k is a bright horizontal bar at a class-specific height plus noise.</summary>
internal static class SyntheticData
{
    public static Dataset Bars(int count, int seed, int channels = 1, int side = 28, int classes = 10)
    {
        var random = new Random(seed);
        int size = channels * side * side;
        var pixels = new float[count * size];
        var labels = new long[count];
        for (int n = 0; n < count; n++)
        {
            int label = n % classes;
            labels[n] = label;
            int row = 1 + label * (side - 3) / Math.Max(classes - 1, 1);
            for (int c = 0; c < channels; c++)
            {
                for (int y = 0; y < side; y++)
                {
                    for (int x = 0; x < side; x++)
                    {
                        float value = (float)(random.NextDouble() * 0.3);
                        if (Math.Abs(y - row) <= 1 && x > 3 && x < side - 4)
                        {
                            value = 0.7f + (float)(random.NextDouble() * 0.3);
                        }
                        pixels[n * size + (c * side + y) * side + x] = value;
                    }
                }
            }
        }
        var names = Enumerable.Range(0, classes).Select(i => $"class {i}").ToArray();
        return new Dataset(pixels, labels, channels, side, side, names, $"synthetic bars ({count}, seed {seed})");
    }
}
