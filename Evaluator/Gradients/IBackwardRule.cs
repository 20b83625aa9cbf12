namespace RobustEval.Evaluator.Gradients;

/// <summary>
/// The backward rule of one or more op types: given the gradients of a node's outputs, emit the gradients of its
/// inputs with standard ONNX ops. Rules are small and separately tested against finite differences.
/// </summary>
internal interface IBackwardRule
{
    IReadOnlyList<string> OpTypes { get; }

    /// <summary>Null when this node (with its attributes and constant inputs) can be differentiated, else why not.</summary>
    string? Check(NodeProto node, GradientContext context) => null;

    /// <summary>
    /// <paramref name="outputGradients"/>[i] is the gradient of output i (null: the loss does not depend on it);
    /// returns the gradient of each input, computed only where <paramref name="wanted"/> is true (null elsewhere).
    /// </summary>
    string?[] Backward(NodeProto node, string?[] outputGradients, bool[] wanted, GradientContext context);
}
