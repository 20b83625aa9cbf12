using RobustEval.Evaluator.Gradients.Rules;

namespace RobustEval.Evaluator.Gradients;

/// <summary>Every backward rule, by op type (default ONNX domain).</summary>
internal static class BackwardRules
{
    private static readonly IBackwardRule[] All =
    [
        new ArithmeticRule(), new PassThroughRule(), new ActivationRule(), new SoftmaxRule(),
        new ConvRule(), new ConvTransposeRule(), new MaxPoolRule(), new AveragePoolRule(), new GlobalAveragePoolRule(),
        new GemmRule(), new MatMulRule(), new BatchNormalizationRule(),
        new ReshapeRule(), new TransposeRule(), new ConcatRule(), new SplitRule(), new SliceRule(), new PadRule(), new GatherRule(), new GatherElementsRule(),
        new ReduceRule(),
    ];

    private static readonly Dictionary<string, IBackwardRule> ByOpType =
        All.SelectMany(rule => rule.OpTypes.Select(op => (op, rule))).ToDictionary(p => p.op, p => p.rule, StringComparer.Ordinal);

    /// <summary>The op types that have a rule, sorted.</summary>
    public static IReadOnlyList<string> Supported { get; } = ByOpType.Keys.Order(StringComparer.Ordinal).ToArray();

    public static IBackwardRule? For(NodeProto node) =>
        node.Domain is "" or "ai.onnx" && ByOpType.TryGetValue(node.OpType, out var rule) ? rule : null;
}
