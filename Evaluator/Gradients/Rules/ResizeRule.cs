namespace RobustEval.Evaluator.Gradients.Rules;

/// <summary>
/// Resize (the opset 11–19 forms; loading rewrites Upsample and opset-10 Resize into them). Every mode interpolates each axis separately — nearest, linear and cubic
/// alike — so Y = X ×₁ A₁ ×₂ A₂ … with one interpolation matrix A (output × input length) per resized axis, written
/// here from the ONNX spec's formulas: the coordinate transformation (half_pixel, half_pixel_symmetric,
/// pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nn, tf_crop_and_resize), the nearest mode
/// (round_prefer_floor, round_prefer_ceil, floor, ceil), linear weights between the two neighbours of the clamped
/// coordinate, and cubic weights with cubic_coeff_a and exclude_outside (edge taps repeated otherwise). The gradient
/// is dX = dY ×₁ A₁ᵀ ×₂ A₂ᵀ …: per axis, a MatMul with the constant matrix. Sizes and scales must be constants;
/// antialiased downsampling (opset 18) and keep_aspect_ratio_policy other than "stretch" with sizes have no rule.
/// </summary>
internal sealed class ResizeRule : IBackwardRule
{
    public IReadOnlyList<string> OpTypes => ["Resize"];

    public string? Check(NodeProto node, GradientContext c)
    {
        var mode = GradientContext.String(node, "mode") ?? "nearest";
        if (mode is not ("nearest" or "linear" or "cubic"))
        {
            return $"Resize mode '{mode}' is not an ONNX mode";
        }
        var x = c.Info(node.Input[0]);
        var y = c.Info(node.Output[0]);
        if (x.Rank != y.Rank)
        {
            return "Resize changes the rank";
        }
        if (x.IsBatchAxis(0) && x.Dims[0] != y.Dims[0])
        {
            return "Resize of the batch axis has no rule";
        }
        var scales = Scales(node, c, x.Rank, out bool constant);
        if (!constant)
        {
            return "Resize with scales or sizes that depend on the input is not supported";
        }
        if (GradientContext.Int(node, "antialias", 0) != 0 && Enumerable.Range(0, x.Rank).Any(a => y.Dims[a] < x.Dims[a]))
        {
            return "antialiased downsampling has no rule";
        }
        if (scales is null && (GradientContext.String(node, "keep_aspect_ratio_policy") ?? "stretch") != "stretch")
        {
            return "keep_aspect_ratio_policy other than 'stretch' has no rule";
        }
        return null;
    }

    public string?[] Backward(NodeProto node, string?[] dOut, bool[] wanted, GradientContext c)
    {
        var x = c.Info(node.Input[0]);
        var y = c.Info(node.Output[0]);
        var scales = Scales(node, c, x.Rank, out _);
        var mode = GradientContext.String(node, "mode") ?? "nearest";
        var transform = GradientContext.String(node, "coordinate_transformation_mode") ?? "half_pixel";
        var nearest = GradientContext.String(node, "nearest_mode") ?? "round_prefer_floor";
        var roi = node.Input.Count > 1 && node.Input[1].Length > 0 ? c.Floats(node.Input[1]) : null;
        var axes = GradientContext.Ints(node, "axes")?.Select(a => GradientContext.Axis(a, x.Rank)).ToArray();
        var settings = new Interpolation(mode, transform, nearest,
            GradientContext.Float(node, "cubic_coeff_a", -0.75f), GradientContext.Int(node, "exclude_outside", 0) != 0);

        var gradient = dOut[0]!;
        for (int axis = 0; axis < x.Rank; axis++)
        {
            long input = x.Dims[axis], output = y.Dims[axis];
            if (x.IsBatchAxis(axis))
            {
                continue;
            }
            double scale = scales?[axis] ?? (double)output / input;
            int roiIndex = axes is null ? axis : Array.IndexOf(axes, axis);
            double start = 0, end = 1;
            if (roi is not null && roiIndex >= 0)
            {
                int count = roi.Length / 2;
                (start, end) = (roi[roiIndex], roi[count + roiIndex]);
            }
            // An axis with scale 1 is copied as it is (ONNX Runtime does not apply the coordinate transformation there,
            // which with tf_half_pixel_for_nn and ceil would otherwise shift it by one).
            if (input == output && scale == 1 && transform != "tf_crop_and_resize")
            {
                continue;
            }
            var matrix = settings.Matrix(input, output, scale, start, end);
            if (input == output && IsIdentity(matrix, input))
            {
                continue;
            }
            gradient = AlongAxis(c, gradient, axis, x.Rank, matrix, output, input);
        }
        var result = new string?[node.Input.Count];
        result[0] = gradient;
        return result;
    }

    /// <summary>The scale per axis when the node gives scales (constant), null when it gives sizes; constant = false when either depends on the input.</summary>
    private static double[]? Scales(NodeProto node, GradientContext c, int rank, out bool constant)
    {
        constant = true;
        float[]? values = null;
        if (node.Input.Count > 2 && node.Input[2].Length > 0)
        {
            values = c.Floats(node.Input[2]);
            if (values is null)
            {
                constant = false;
                return null;
            }
            if (values.Length == 0)
            {
                values = null;
            }
        }
        if (values is null && node.Input.Count > 3 && node.Input[3].Length > 0 && c.Ints(node.Input[3]) is null)
        {
            constant = false;
        }
        if (values is null)
        {
            return null;
        }
        var axes = GradientContext.Ints(node, "axes")?.Select(a => GradientContext.Axis(a, rank)).ToArray();
        var scales = Enumerable.Repeat(1.0, rank).ToArray();
        for (int i = 0; i < values.Length; i++)
        {
            scales[axes is null ? i : axes[i]] = values[i];
        }
        return scales;
    }

    private static bool IsIdentity(double[,] matrix, long n)
    {
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                if (matrix[i, j] != (i == j ? 1 : 0))
                {
                    return false;
                }
            }
        }
        return true;
    }

    /// <summary>dX along one axis: the axis moved last, a MatMul with A (output × input), and moved back.</summary>
    private static string AlongAxis(GradientContext c, string gradient, int axis, int rank, double[,] matrix, long output, long input)
    {
        var values = new float[output * input];
        for (int o = 0; o < output; o++)
        {
            for (int i = 0; i < input; i++)
            {
                values[o * input + i] = (float)matrix[o, i];
            }
        }
        var a = c.Builder.Initializer("resize_matrix", values, output, input);
        if (axis == rank - 1)
        {
            return c.Op("MatMul", [gradient, a]);
        }
        var perm = Enumerable.Range(0, rank).Where(i => i != axis).Append(axis).Select(i => (long)i).ToArray();
        var inverse = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            inverse[perm[i]] = i;
        }
        return c.Transpose(c.Op("MatMul", [c.Transpose(gradient, perm), a]), inverse);
    }

    /// <summary>One axis's interpolation, as the ONNX spec defines it.</summary>
    private sealed record Interpolation(string Mode, string Transform, string Nearest, double CubicA, bool ExcludeOutside)
    {
        public double[,] Matrix(long input, long output, double scale, double roiStart, double roiEnd)
        {
            var matrix = new double[output, input];
            for (long o = 0; o < output; o++)
            {
                double x = Original(o, input, output, scale, roiStart, roiEnd);
                if (Transform == "tf_crop_and_resize" && (x < 0 || x > input - 1))
                {
                    continue; // extrapolation_value: a constant
                }
                switch (Mode)
                {
                    case "nearest":
                        matrix[o, Math.Clamp(NearestIndex(x), 0, input - 1)] += 1;
                        break;
                    case "linear":
                    {
                        double clamped = Math.Clamp(x, 0, input - 1);
                        long x0 = (long)Math.Floor(clamped);
                        long x1 = Math.Min(x0 + 1, input - 1);
                        double w = clamped - x0;
                        matrix[o, x0] += 1 - w;
                        matrix[o, x1] += w;
                        break;
                    }
                    default:
                        Cubic(matrix, o, x, input);
                        break;
                }
            }
            return matrix;
        }

        private double Original(long o, long input, long output, double scale, double roiStart, double roiEnd) => Transform switch
        {
            "half_pixel" => (o + 0.5) / scale - 0.5,
            "half_pixel_symmetric" => input / 2.0 * (1 - output / (scale * input)) + (o + 0.5) / scale - 0.5,
            "pytorch_half_pixel" => output > 1 ? (o + 0.5) / scale - 0.5 : 0,
            "align_corners" => output == 1 ? 0 : o * (input - 1.0) / (output - 1.0),
            "asymmetric" => o / scale,
            "tf_half_pixel_for_nn" => (o + 0.5) / scale,
            "tf_crop_and_resize" => output > 1
                ? roiStart * (input - 1) + o * (roiEnd - roiStart) * (input - 1) / (output - 1)
                : 0.5 * (roiStart + roiEnd) * (input - 1),
            _ => throw new GradientException($"Resize coordinate_transformation_mode '{Transform}' is not an ONNX mode"),
        };

        private long NearestIndex(double x)
        {
            double floor = Math.Floor(x);
            bool half = x - floor == 0.5;
            return Nearest switch
            {
                "round_prefer_ceil" => half ? (long)floor + 1 : (long)Math.Round(x, MidpointRounding.AwayFromZero),
                "floor" => (long)floor,
                "ceil" => (long)Math.Ceiling(x),
                _ => half ? (long)floor : (long)Math.Round(x, MidpointRounding.AwayFromZero),
            };
        }

        // Keys' cubic convolution with coefficient a over the taps ⌊x⌋ − 1 … ⌊x⌋ + 2.
        private void Cubic(double[,] matrix, long o, double x, long input)
        {
            double floor = Math.Floor(x);
            double t = x - floor;
            double a = CubicA;
            double[] distances = [t + 1, t, 1 - t, 2 - t];
            var weights = distances.Select(d => d <= 1
                ? ((a + 2) * d - (a + 3)) * d * d + 1
                : ((a * d - 5 * a) * d + 8 * a) * d - 4 * a).ToArray();
            var taps = Enumerable.Range(-1, 4).Select(j => (long)floor + j).ToArray();
            if (ExcludeOutside)
            {
                for (int j = 0; j < 4; j++)
                {
                    if (taps[j] < 0 || taps[j] >= input)
                    {
                        weights[j] = 0;
                    }
                }
                double sum = weights.Sum();
                for (int j = 0; j < 4; j++)
                {
                    weights[j] /= sum;
                }
            }
            for (int j = 0; j < 4; j++)
            {
                matrix[o, Math.Clamp(taps[j], 0, input - 1)] += weights[j];
            }
        }
    }
}
