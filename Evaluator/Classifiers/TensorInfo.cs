using Microsoft.ML.OnnxRuntime.Tensors;

namespace RobustEval.Evaluator.Classifiers;

/// <summary>
/// What running a model told us about one of its tensors: its shape at the probe's batch size, which axes grow
/// with the batch, its element type and — for small tensors that do not change with the batch (shape arithmetic,
/// axes, pads) — its value.
/// </summary>
internal sealed record TensorInfo(long[] Dims, bool[] BatchAxes, TensorElementType Type, long[]? IntValue, float[]? FloatValue)
{
    public int Rank => Dims.Length;

    public bool IsBatchAxis(int axis) => BatchAxes[axis];

    /// <summary>Total elements at the probe batch size.</summary>
    public long Count => Dims.Aggregate(1L, (a, b) => a * b);
}
