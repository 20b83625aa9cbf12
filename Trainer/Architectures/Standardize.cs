using TorchSharp;
using static TorchSharp.torch;

namespace RobustEval.Trainer.Architectures;

/// <summary>
/// (x − mean) / std with per-channel constants held as buffers, so they are saved and exported with the
/// weights and the network takes raw pixels in [0, 1].
/// </summary>
internal sealed class Standardize : nn.Module<Tensor, Tensor>
{
    private readonly Tensor mean;
    private readonly Tensor std;

    public Standardize(int channels) : base(nameof(Standardize))
    {
        mean = zeros(1, channels, 1, 1);
        std = ones(1, channels, 1, 1);
        register_buffer(nameof(mean), mean);
        register_buffer(nameof(std), std);
    }

    public Tensor Mean => mean;

    public Tensor Std => std;

    public void Set(float[] channelMean, float[] channelStd)
    {
        using var _ = no_grad();
        mean.copy_(tensor(channelMean).view(1, -1, 1, 1));
        std.copy_(tensor(channelStd).view(1, -1, 1, 1));
    }

    public override Tensor forward(Tensor input) => (input - mean) / std;
}
