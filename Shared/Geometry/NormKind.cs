namespace RobustEval.Geometry;

/// <summary>The three perturbation norms. The numeric values are the transfer-set file's <c>norm</c> codes.</summary>
public enum NormKind
{
    L1 = 0,
    L2 = 1,
    Linf = 2,
}

public static class NormKinds
{
    /// <summary>Parses <c>l1</c>, <c>l2</c>, <c>linf</c> (also <c>inf</c>); null when it is none of them.</summary>
    public static NormKind? TryParse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "l1" or "1" => NormKind.L1,
        "l2" or "2" => NormKind.L2,
        "linf" or "inf" or "l-inf" or "linfinity" => NormKind.Linf,
        _ => null,
    };

    /// <summary>Parses a norm a user or a file gave; anything else is a one-line error, never a silent default.</summary>
    public static NormKind Parse(string text) =>
        TryParse(text) ?? throw new UserErrorException($"unknown norm '{text}' (use l1, l2 or linf)");

    /// <summary>The command-line spelling: l1, l2, linf.</summary>
    public static string Name(this NormKind kind) => kind switch
    {
        NormKind.L1 => "l1",
        NormKind.L2 => "l2",
        NormKind.Linf => "linf",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a norm"),
    };

    /// <summary>The mathematical spelling: ℓ1, ℓ2, ℓ∞.</summary>
    public static string Symbol(this NormKind kind) => kind switch
    {
        NormKind.L1 => "ℓ1",
        NormKind.L2 => "ℓ2",
        NormKind.Linf => "ℓ∞",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a norm"),
    };
}
