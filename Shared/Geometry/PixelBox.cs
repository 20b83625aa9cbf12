namespace RobustEval.Geometry;

/// <summary>The valid pixel range [Lower, Upper] every adversarial image is clipped to.</summary>
public readonly record struct PixelBox(float Lower, float Upper)
{
    public static readonly PixelBox Unit = new(0f, 1f);

    /// <summary>Clips <paramref name="x"/> into the box, in place.</summary>
    public void Clip(Span<float> x) => SpanMath.Clamp(x, Lower, Upper);

    /// <summary>One value clipped into the box.</summary>
    public float Clip(float value) => Math.Clamp(value, Lower, Upper);

    /// <summary>
    /// Zeroes the gradient coordinates that cannot move in their ascent direction because the pixel already
    /// sits on the box's edge. Steepest ascent on the masked gradient spends its budget only where it can act —
    /// for the ℓ1 step this picks the largest movable pixel instead of one the clip would undo.
    /// </summary>
    public void MaskImmovable(ReadOnlySpan<float> x, ReadOnlySpan<float> gradient, Span<float> masked) =>
        SpanMath.MaskBlocked(x, gradient, Lower, Upper, masked);
}
