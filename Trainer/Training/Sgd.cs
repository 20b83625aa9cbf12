using static TorchSharp.torch;

namespace RobustEval.Trainer.Training;

/// <summary>
/// SGD with momentum and weight decay, as PyTorch defines it (buf ← μ·buf + g + λθ; θ ← θ − lr·buf). Written
/// here rather than taken from TorchSharp so its state — the momentum buffers — goes into our checkpoints, and a
/// resumed run continues bit for bit.
/// The parameters, their gradients and the momentum buffers each live in one flat tensor, every parameter (and
/// gradient, and buffer) being a view of its slice: zeroing the gradients is one kernel and the update three for
/// the whole net, instead of one and four per parameter. The arithmetic is the same element by element; what it
/// saves is kernel launches, which is what a small net on a GPU waits for (bench/NOTES.md).
/// </summary>
internal sealed class Sgd : IDisposable
{
    private readonly Tensor[] _buffers;
    private readonly Tensor? _flatParameters;
    private readonly Tensor? _flatGradients;
    private readonly Tensor? _flatBuffers;

    public Sgd(IEnumerable<TorchSharp.Modules.Parameter> parameters, double momentum, double weightDecay)
    {
        var list = parameters.ToList();
        Momentum = momentum;
        WeightDecay = weightDecay;
        _buffers = new Tensor[list.Count];
        if (list.Count == 0)
        {
            return;
        }
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        _flatParameters = cat(list.Select(p => p.detach().flatten()).ToList()).DetachFromDisposeScope();
        _flatGradients = zeros_like(_flatParameters).DetachFromDisposeScope();
        _flatBuffers = zeros_like(_flatParameters).DetachFromDisposeScope();
        long offset = 0;
        for (int i = 0; i < list.Count; i++)
        {
            var p = list[i];
            long n = p.numel();
            p.set_(_flatParameters.narrow(0, offset, n).view(p.shape));
            p.grad = _flatGradients.narrow(0, offset, n).view(p.shape).DetachFromDisposeScope();
            _buffers[i] = _flatBuffers.narrow(0, offset, n).view(p.shape).DetachFromDisposeScope();
            offset += n;
        }
    }

    public double Momentum { get; }

    public double WeightDecay { get; }

    /// <summary>The momentum buffers, one per parameter, in parameter order.</summary>
    public IReadOnlyList<Tensor> Buffers => _buffers;

    public void ZeroGrad() => _flatGradients?.zero_();

    public void Step(double learningRate)
    {
        if (_flatParameters is null || _flatGradients is null || _flatBuffers is null)
        {
            return;
        }
        using var _ = no_grad();
        if (WeightDecay != 0)
        {
            _flatGradients.add_(_flatParameters, alpha: WeightDecay);
        }
        _flatBuffers.mul_(Momentum).add_(_flatGradients);
        _flatParameters.add_(_flatBuffers, alpha: -learningRate);
    }

    public void Dispose()
    {
        foreach (var b in _buffers)
        {
            b?.Dispose();
        }
        _flatBuffers?.Dispose();
        _flatGradients?.Dispose();
        _flatParameters?.Dispose();
    }
}
