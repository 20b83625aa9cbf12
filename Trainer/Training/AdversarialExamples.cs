using RobustEval.Trainer.Architectures;
using static TorchSharp.torch;
using static TorchSharp.torch.nn.functional;

namespace RobustEval.Trainer.Training;

/// <summary>Result of an iterative attack on a training batch.</summary>
internal sealed record PgdResult(Tensor Adversarial, Tensor Fosc, Tensor StepsTaken) : IDisposable
{
    public void Dispose()
    {
        Adversarial.Dispose();
        Fosc.Dispose();
        StepsTaken.Dispose();
    }
}

/// <summary>
/// The attacks the trainer runs on its own minibatches. The caller puts the model in evaluation mode first, so
/// BatchNorm uses its running statistics and dropout is off while the perturbation is computed (the update
/// itself then runs in training mode).
/// </summary>
internal static class AdversarialExamples
{
    /// <summary>
    /// ∇ₓ of each example's own cross-entropy loss (the summed loss, so no 1/B factor: FOSC values are per example).
    /// </summary>
    public static Tensor InputGradient(Network model, Tensor x, Tensor y)
    {
        using var scope = NewDisposeScope();
        Tensor gradient;
        if (x.device_type == TorchSharp.DeviceType.CPU && ThinFirstConvolution(model) is { } first)
        {
            gradient = ThroughFirstConvolution(model, first, x, y);
        }
        else
        {
            var input = x.detach().requires_grad_(true);
            var loss = cross_entropy(model.forward(input), y, reduction: TorchSharp.torch.nn.Reduction.Sum);
            gradient = TorchSharp.torch.autograd.grad([loss], [input])[0];
        }
        return gradient.detach().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The spec of the convolution right after the input standardisation when it has few input channels (a
    /// grey-scale or colour first layer), else null.
    /// </summary>
    private static ConvSpec? ThinFirstConvolution(Network model) =>
        model.Spec.Layers is [StandardizeSpec, ConvSpec { InChannels: < 16 } conv, ..] ? conv : null;

    /// <summary>
    /// The same input gradient with the first convolution's part written out: autograd stops at the convolution's
    /// output, and the gradient is carried back onto the image as Wᵀ·dZ folded over the kernel windows (col2im),
    /// then divided by the standardisation's std. On the CPU libtorch computes a convolution's gradient with
    /// respect to a one-channel input slowly — about 20 ms per 256 MNIST images for shaham-mnist's 5×5 kernels,
    /// more than the rest of the backward pass — where the matrix product and fold take about 7 ms (bench/NOTES.md).
    /// </summary>
    private static Tensor ThroughFirstConvolution(Network model, ConvSpec spec, Tensor x, Tensor y)
    {
        var conv = (TorchSharp.Modules.Conv2d)model.Layer(1);
        Tensor activation;
        using (no_grad())
        {
            activation = conv.forward(model.Standardization.forward(x));
        }
        activation.requires_grad_(true);
        var loss = cross_entropy(model.ForwardFrom(2, activation), y, reduction: TorchSharp.torch.nn.Reduction.Sum);
        var outputGradient = TorchSharp.torch.autograd.grad([loss], [activation])[0];
        var weight = conv.weight!.detach();
        var columns = matmul(weight.view(weight.shape[0], -1).t(), outputGradient.flatten(2));
        var standardized = fold(columns, (x.shape[2], x.shape[3]), (spec.Kernel, spec.Kernel),
            padding: (spec.Padding, spec.Padding), stride: (spec.Stride, spec.Stride));
        return standardized / model.Standardization.Std;
    }

    /// <summary>
    /// Algorithm 1's step: x + Δ with Δ the steepest ascent of eq. 11 in the ball of radius ε. With
    /// <paramref name="clip"/> the step is taken in the pixel box as the evaluator takes it (<see cref="Movable"/>).
    /// </summary>
    public static Tensor SingleStep(Network model, Tensor x, Tensor y, TensorBall ball, double eps, bool clip)
    {
        using var scope = NewDisposeScope();
        var gradient = InputGradient(model, x, y);
        var adversarial = clip ? (x + ball.SteepestAscent(Movable(x, gradient), eps)).clamp(0, 1) : x + ball.SteepestAscent(gradient, eps);
        return adversarial.detach().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The gradient without the coordinates of pixels that sit on the box's edge and would be pushed outward: the
    /// box-aware step the evaluator's FGM and PGD take (Evaluator/Attacks/Pgd.cs), so both programs agree on what a
    /// step is. The steepest-ascent budget then goes where the clip will not undo it — for ℓ1 the largest pixel that
    /// can still move, for ℓ2 a longer step on the pixels that can; for ℓ∞ nothing changes.
    /// </summary>
    public static Tensor Movable(Tensor x, Tensor gradient)
    {
        using var scope = NewDisposeScope();
        var blocked = gradient.gt(0).logical_and(x.ge(1)).logical_or(gradient.lt(0).logical_and(x.le(0)));
        return where(blocked, zeros_like(gradient), gradient).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// PGD from a uniform random start in the ball (or from <paramref name="start"/>): <paramref name="steps"/>
    /// box-aware steepest-ascent steps of size <paramref name="stepSize"/> (<see cref="Movable"/>), each followed by
    /// projection onto the ball around x and clipping to [0, 1] — the evaluator's PGD step. With a
    /// <paramref name="foscThreshold"/> (Wang et al.'s dynamic training) an example stops moving as soon as its FOSC
    /// at the current iterate is at most the threshold. The FOSC returned is at the final iterate.
    /// </summary>
    public static PgdResult Pgd(Network model, Tensor x, Tensor y, TensorBall ball, double eps, double stepSize, int steps,
        double? foscThreshold, Tensor? start = null)
    {
        using var scope = NewDisposeScope();
        var adversarial = start?.clone() ?? (x + ball.RandomStart(x, eps)).clamp(0, 1);
        var active = ones(x.shape[0], dtype: ScalarType.Bool, device: x.device);
        var taken = zeros(x.shape[0], dtype: ScalarType.Int64, device: x.device);
        var gradient = InputGradient(model, adversarial, y);
        for (int k = 0; k < steps; k++)
        {
            if (foscThreshold is { } threshold)
            {
                active = ball.Fosc(adversarial, x, gradient, eps) > threshold;
                if (!active.any().item<bool>())
                {
                    break;
                }
            }
            var moved = adversarial + ball.SteepestAscent(Movable(adversarial, gradient), stepSize);
            moved = (x + ball.Project(moved - x, eps)).clamp(0, 1);
            var mask = active.view([-1, .. Enumerable.Repeat(1L, (int)x.dim() - 1)]);
            adversarial = where(mask, moved, adversarial).detach();
            taken += active.to_type(ScalarType.Int64);
            gradient = InputGradient(model, adversarial, y);
        }
        var fosc = ball.Fosc(adversarial, x, gradient, eps);
        return new PgdResult(adversarial.MoveToOuterDisposeScope(), fosc.MoveToOuterDisposeScope(), taken.MoveToOuterDisposeScope());
    }
}
