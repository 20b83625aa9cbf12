namespace RobustEval.Trainer.Architectures;

/// <summary>
/// One layer of a network, as data. The same list builds the TorchSharp module and drives the ONNX exporter,
/// so the two can never disagree about strides, paddings or epsilons.
/// </summary>
internal abstract record LayerSpec;

/// <summary>(x − mean) / std per channel: the training set's standardisation, the net's first operation.</summary>
internal sealed record StandardizeSpec(int Channels) : LayerSpec;

internal sealed record ConvSpec(int InChannels, int OutChannels, int Kernel, int Stride = 1, int Padding = 0) : LayerSpec;

/// <summary>BatchNorm over channels: 2-D maps when <paramref name="Spatial"/>, else a (N, F) vector.</summary>
internal sealed record BatchNormSpec(int Features, double Eps, bool Spatial) : LayerSpec;

internal sealed record ReluSpec : LayerSpec;

internal sealed record MaxPoolSpec(int Kernel, int Stride) : LayerSpec;

/// <summary>Active only in training; the exporter leaves it out.</summary>
internal sealed record DropoutSpec(double Probability) : LayerSpec;

internal sealed record FlattenSpec : LayerSpec;

internal sealed record LinearSpec(int InFeatures, int OutFeatures) : LayerSpec;

/// <summary>A whole classifier: its input shape, class count and layers, plus the training recipe it comes with.</summary>
internal sealed record NetworkSpec(string Name, int Channels, int Height, int Width, int Classes, IReadOnlyList<LayerSpec> Layers,
    TrainingDefaults Defaults);

/// <summary>Hyper-parameters an architecture's paper used; command-line options override them.</summary>
internal sealed record TrainingDefaults(int Epochs, int BatchSize, double LearningRate, double Momentum, double WeightDecay,
    string Schedule = "constant");
