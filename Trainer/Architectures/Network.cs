using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RobustEval.Trainer.Architectures;

/// <summary>A classifier built from a <see cref="NetworkSpec"/>: one TorchSharp module per layer spec, in order.</summary>
internal sealed class Network : nn.Module<Tensor, Tensor>
{
    private readonly Sequential layers;

    public Network(NetworkSpec spec) : base(spec.Name)
    {
        Spec = spec;
        layers = nn.Sequential(spec.Layers.Select((layer, i) => ($"l{i}", Build(layer))).ToArray());
        RegisterComponents();
    }

    public NetworkSpec Spec { get; }

    /// <summary>The module built for layer <paramref name="index"/> of the spec.</summary>
    public nn.Module Layer(int index) => (nn.Module)layers[index];

    public Standardize Standardization => (Standardize)layers[0];

    public override Tensor forward(Tensor input) => layers.forward(input);

    /// <summary>Layers <paramref name="first"/>, <paramref name="first"/> + 1, … applied to <paramref name="input"/>.</summary>
    public Tensor ForwardFrom(int first, Tensor input)
    {
        var x = input;
        for (int i = first; i < Spec.Layers.Count; i++)
        {
            x = ((nn.Module<Tensor, Tensor>)layers[i]).forward(x);
        }
        return x;
    }

    private static nn.Module<Tensor, Tensor> Build(LayerSpec layer) => layer switch
    {
        StandardizeSpec s => new Standardize(s.Channels),
        ConvSpec c => nn.Conv2d(c.InChannels, c.OutChannels, c.Kernel, stride: c.Stride, padding: c.Padding),
        BatchNormSpec { Spatial: true } b => nn.BatchNorm2d(b.Features, eps: b.Eps),
        BatchNormSpec b => nn.BatchNorm1d(b.Features, eps: b.Eps),
        ReluSpec => nn.ReLU(),
        MaxPoolSpec m => nn.MaxPool2d(m.Kernel, stride: m.Stride),
        DropoutSpec d => nn.Dropout(d.Probability),
        FlattenSpec => nn.Flatten(),
        LinearSpec l => nn.Linear(l.InFeatures, l.OutFeatures),
        _ => throw new ArgumentOutOfRangeException(nameof(layer), layer.GetType().Name),
    };
}
