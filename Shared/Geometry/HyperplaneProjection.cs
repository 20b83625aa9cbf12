namespace RobustEval.Geometry;

/// <summary>
/// The smallest step (in ℓ∞, ℓ2 or ℓ1) from a point onto a hyperplane without leaving the pixel box: FAB's
/// projection (Croce &amp; Hein 2020, eq. 4). Given x in the box, w and r, it finds d minimising ‖d‖ subject to
/// w·d = r and box.Lower ≤ x + d ≤ box.Upper; when no d in the box reaches the hyperplane, the d of the box that
/// gets closest (every useful coordinate moved as far as the box allows).
/// </summary>
/// <remarks>
/// With s = sign(r) each coordinate moves by m_j ≥ 0 in direction s·sign(w_j), gaining |w_j|·m_j, up to its room
/// to the box c_j. ℓ1 spends the budget on the coordinates of largest |w_j| first; ℓ∞ moves every coordinate by
/// min(τ, c_j) and ℓ2 by min(λ|w_j|, c_j), with τ (λ) the smallest value whose total gain reaches |r| — found
/// exactly by sorting the breakpoints c_j (c_j/|w_j|) and walking the piecewise-linear gain.
/// </remarks>
public sealed class HyperplaneProjection(int size)
{
    private readonly double[] _keys = new double[size];
    private readonly int[] _order = new int[size];
    private readonly double[] _room = new double[size];

    /// <summary>Writes into <paramref name="d"/> the minimal-norm step from <paramref name="x"/> with w·d = <paramref name="r"/> inside the box.</summary>
    public void Project(NormKind norm, ReadOnlySpan<float> x, ReadOnlySpan<float> w, double r, PixelBox box, Span<float> d)
    {
        int size = x.Length;
        if (size > _keys.Length || w.Length != size || d.Length != size)
        {
            throw new ArgumentException("x, w and d must have the projection's size");
        }
        d.Clear();
        if (r == 0 || !double.IsFinite(r))
        {
            return;
        }
        double need = Math.Abs(r);
        int count = 0;
        double total = 0;
        for (int j = 0; j < size; j++)
        {
            double wj = r > 0 ? w[j] : -w[j];
            double room = wj > 0 ? box.Upper - x[j] : wj < 0 ? x[j] - box.Lower : 0;
            _room[j] = Math.Max(room, 0);
            if (wj != 0 && room > 0)
            {
                _order[count++] = j;
                total += Math.Abs(wj) * _room[j];
            }
        }
        if (total <= need)
        {
            for (int k = 0; k < count; k++)
            {
                int j = _order[k];
                d[j] = Direction(w[j], r) * (float)_room[j];
            }
            return;
        }
        switch (norm)
        {
            case NormKind.L1:
            {
                for (int k = 0; k < count; k++)
                {
                    _keys[k] = -Math.Abs(w[_order[k]]);
                }
                Array.Sort(_keys, _order, 0, count);
                for (int k = 0; k < count && need > 0; k++)
                {
                    int j = _order[k];
                    double gain = Math.Abs(w[j]);
                    double move = Math.Min(_room[j], need / gain);
                    d[j] = Direction(w[j], r) * (float)move;
                    need -= gain * move;
                }
                return;
            }
            case NormKind.Linf:
            case NormKind.L2:
            {
                bool l2 = norm == NormKind.L2;
                double slope = 0;
                for (int k = 0; k < count; k++)
                {
                    int j = _order[k];
                    double a = Math.Abs(w[j]);
                    _keys[k] = l2 ? _room[j] / a : _room[j];
                    slope += l2 ? a * a : a;
                }
                Array.Sort(_keys, _order, 0, count);
                // Rounding can leave the walk without a break although the total exceeds the need: then every coordinate moves fully.
                double fixedGain = 0, level = double.PositiveInfinity;
                for (int k = 0; k < count; k++)
                {
                    int j = _order[k];
                    if (fixedGain + slope * _keys[k] >= need)
                    {
                        level = (need - fixedGain) / slope;
                        break;
                    }
                    double a = Math.Abs(w[j]);
                    fixedGain += a * _room[j];
                    slope -= l2 ? a * a : a;
                }
                for (int k = 0; k < count; k++)
                {
                    int j = _order[k];
                    double move = Math.Min(l2 ? level * Math.Abs(w[j]) : level, _room[j]);
                    d[j] = Direction(w[j], r) * (float)move;
                }
                return;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(norm), norm, "not a norm");
        }
    }

    private static float Direction(float w, double r) => (w > 0) == (r > 0) ? 1f : -1f;
}
