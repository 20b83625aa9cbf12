using static TorchSharp.torch;

namespace RobustEval.Trainer.Training;

/// <summary>
/// SGD with momentum and weight decay, as PyTorch defines it (buf ← μ·buf + g + λθ; θ ← θ − lr·buf). Written
/// here rather than taken from TorchSharp so its state — the momentum buffers — goes into our checkpoints, and a
/// resumed run continues bit for bit.
/// </summary>
internal sealed class Sgd : IDisposable
{
    private readonly IReadOnlyList<TorchSharp.Modules.Parameter> _parameters;
    private readonly Tensor[] _buffers;

    public Sgd(IEnumerable<TorchSharp.Modules.Parameter> parameters, double momentum, double weightDecay)
    {
        _parameters = parameters.ToList();
        _buffers = _parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        Momentum = momentum;
        WeightDecay = weightDecay;
    }

    public double Momentum { get; }

    public double WeightDecay { get; }

    /// <summary>The momentum buffers, one per parameter, in parameter order.</summary>
    public IReadOnlyList<Tensor> Buffers => _buffers;

    public void ZeroGrad()
    {
        foreach (var p in _parameters)
        {
            p.grad?.zero_();
        }
    }

    public void Step(double learningRate)
    {
        using var _ = no_grad();
        for (int i = 0; i < _parameters.Count; i++)
        {
            var p = _parameters[i];
            var g = p.grad;
            if (g is null)
            {
                continue;
            }
            if (WeightDecay != 0)
            {
                g.add_(p, alpha: WeightDecay);
            }
            _buffers[i].mul_(Momentum).add_(g);
            p.add_(_buffers[i], alpha: -learningRate);
        }
    }

    public void Dispose()
    {
        foreach (var b in _buffers)
        {
            b.Dispose();
        }
    }
}
