namespace RobustEval.Data;

/// <summary>How image tensors are laid out in a file or a model input.</summary>
public enum ImageLayout
{
    /// <summary>(N, C, H, W): PyTorch, TorchSharp and our own models.</summary>
    Nchw,

    /// <summary>(N, H, W, C): TensorFlow / Keras models.</summary>
    Nhwc,
}
