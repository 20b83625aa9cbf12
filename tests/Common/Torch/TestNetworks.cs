using RobustEval.Trainer.Architectures;
using TorchSharp;
using static TorchSharp.torch;

namespace RobustEval.Tests;

/// <summary>TorchSharp networks for tests: the papers' architectures with random but non-trivial parameters.</summary>
internal static class TestNetworks
{
    /// <summary>A network with random weights and non-trivial standardisation and BatchNorm statistics.</summary>
    public static Network Random(string architecture, int seed)
    {
        manual_seed(seed);
        var network = new Network(ArchitectureCatalog.Get(architecture));
        var spec = network.Spec;
        network.Standardization.Set(
            Enumerable.Range(0, spec.Channels).Select(c => 0.2f + 0.1f * c).ToArray(),
            Enumerable.Range(0, spec.Channels).Select(c => 0.3f + 0.05f * c).ToArray());
        using (no_grad())
        {
            foreach (var (name, buffer) in network.named_buffers())
            {
                if (name.EndsWith("running_mean", StringComparison.Ordinal))
                {
                    buffer.copy_(randn_like(buffer) * 0.1);
                }
                else if (name.EndsWith("running_var", StringComparison.Ordinal))
                {
                    buffer.copy_(rand_like(buffer) + 0.5);
                }
            }
            foreach (var (name, parameter) in network.named_parameters())
            {
                if (name.Contains("l2.", StringComparison.Ordinal) || name.EndsWith("bias", StringComparison.Ordinal))
                {
                    parameter.add_(randn_like(parameter) * 0.1);
                }
            }
        }
        network.eval();
        return network;
    }

}
