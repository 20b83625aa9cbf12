using System.Globalization;

namespace RobustEval.Cli;

/// <summary>
/// Numbers as people write radii: <c>0.03</c>, <c>1e-3</c> or a fraction such as <c>8/255</c> (the usual way ℓ∞
/// budgets are quoted). Every option that takes ε or a step size reads it through here, in both programs.
/// </summary>
public static class Fractions
{
    /// <summary>The value of <paramref name="text"/>, or null when it is neither a number nor NUMBER/NUMBER.</summary>
    public static double? TryParse(string text)
    {
        var parts = text.Trim().Split('/');
        if (parts.Length is < 1 or > 2 || !double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            return null;
        }
        if (parts.Length == 2)
        {
            if (!double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var divisor) || divisor == 0)
            {
                return null;
            }
            value /= divisor;
        }
        return double.IsFinite(value) ? value : null;
    }

    /// <summary>A radius or step size: a number or fraction above 0, else a one-line error naming <paramref name="option"/>.</summary>
    public static double ParsePositive(string text, string option)
    {
        var value = TryParse(text) ?? throw new UserErrorException($"{option} {text}: not a number or a fraction such as 8/255");
        return value > 0 ? value : throw new UserErrorException($"{option} must be > 0 (got {text})");
    }
}
