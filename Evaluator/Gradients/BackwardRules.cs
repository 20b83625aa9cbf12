using RobustEval.Evaluator.Gradients.Rules;

namespace RobustEval.Evaluator.Gradients;

/// <summary>Every backward rule, by op type (default ONNX domain).</summary>
internal static class BackwardRules
{
    private static readonly IBackwardRule[] All =
    [
        new ArithmeticRule(), new PassThroughRule(), new ActivationRule(), new SoftmaxRule(),
        new ConvRule(), new ConvTransposeRule(), new MaxPoolRule(), new AveragePoolRule(), new LpPoolRule(), new GlobalAveragePoolRule(),
        new GemmRule(), new MatMulRule(), new BatchNormalizationRule(),
        new ReshapeRule(), new TransposeRule(), new ConcatRule(), new SplitRule(), new SliceRule(), new PadRule(), new GatherRule(), new GatherElementsRule(),
        new ReduceRule(), new FunctionRule(), new CombinationRule(), new NormalizationRule(), new IndexingRule(), new EinsumRule(), new ResizeRule(), new AttentionRule(),
    ];

    private static readonly Dictionary<string, IBackwardRule> ByOpType =
        All.SelectMany(rule => rule.OpTypes.Select(op => (op, rule))).ToDictionary(p => p.op, p => p.rule, StringComparer.Ordinal);

    /// <summary>The op types that have a rule, sorted.</summary>
    public static IReadOnlyList<string> Supported { get; } = ByOpType.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>
    /// Ops through which no gradient flows, declared here once: constants, integer or boolean results (shapes, sizes, indices,
    /// comparisons, logic), random draws (RandomNormalLike and RandomUniformLike read only their input's shape,
    /// Bernoulli and Multinomial sample), and float results that are piecewise constant in their input (Sign, Floor,
    /// Ceil, Round, Hardmax: zero gradient almost everywhere). The gradient graph treats their outputs as
    /// constants, so a randomized model is differentiated through its deterministic part.
    /// </summary>
    public static IReadOnlySet<string> NonDifferentiable { get; } = new SortedSet<string>(StringComparer.Ordinal)
    {
        "Constant", "RandomNormal", "RandomUniform", "Shape", "Size", "ArgMax", "ArgMin", "NonZero", "Range", "ConstantOfShape", "EyeLike", "OneHot",
        "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf", "BitShift",
        "RandomNormalLike", "RandomUniformLike", "Bernoulli", "Multinomial",
        "Sign", "Floor", "Ceil", "Round", "Hardmax",
    };

    /// <summary>Whether <paramref name="node"/> is a default-domain op declared in <see cref="NonDifferentiable"/>.</summary>
    public static bool PassesNoGradient(NodeProto node) => node.Domain is "" or "ai.onnx" && NonDifferentiable.Contains(node.OpType);

    /// <summary>What RobustEval knows about an op type: "rule", "no gradient" (declared) or "missing".</summary>
    public static string Status(string domain, string opType) =>
        domain is not ("" or "ai.onnx") ? "missing"
        : ByOpType.ContainsKey(opType) ? "rule"
        : NonDifferentiable.Contains(opType) ? "no gradient"
        : "missing";

    /// <summary>The rule class of an op type with a rule ("ConvRule"), for the op table.</summary>
    public static string RuleName(string opType) => ByOpType[opType].GetType().Name;

    public static IBackwardRule? For(NodeProto node) =>
        node.Domain is "" or "ai.onnx" && ByOpType.TryGetValue(node.OpType, out var rule) ? rule : null;
}
