using RobustEval.Geometry;
using static TorchSharp.torch;

namespace RobustEval.Trainer.Training;

/// <summary>
/// The geometry of <see cref="NormBall"/> on whole batches of tensors, so the trainer's attack steps stay on the
/// device (GPU training would otherwise copy every gradient to the host). Each example is one row: tensors of
/// shape (B, …) are treated as (B, D). Tests check every method against <see cref="NormBall"/>, the reference.
/// </summary>
internal sealed class TensorBall(NormKind kind, int coordinates = 1)
{
    public NormKind Kind { get; } = kind;

    /// <summary>Eq. 11: the steepest-ascent step of radius <paramref name="eps"/> for each row of <paramref name="g"/>.</summary>
    public Tensor SteepestAscent(Tensor g, double eps)
    {
        using var scope = NewDisposeScope();
        var rows = g.flatten(1);
        Tensor step;
        switch (Kind)
        {
            case NormKind.Linf:
                step = rows.sign() * eps;
                break;
            case NormKind.L2:
            {
                var norm = rows.norm(1, keepdim: true);
                step = where(norm > 0, rows * (eps / norm), zeros_like(rows));
                break;
            }
            case NormKind.L1:
            {
                // The ℓ1 step moves the k coordinates of largest |g| (k = 1: the single pixel) by ±ε/k.
                var magnitude = rows.abs();
                var (top, index) = magnitude.topk(coordinates, dim: 1);
                var values = rows.gather(1, index).sign() * (eps / coordinates) * (top > 0).to_type(rows.dtype);
                step = zeros_like(rows).scatter_(1, index, values);
                break;
            }
            default:
                throw Unknown();
        }
        return step.view_as(g).MoveToOuterDisposeScope();
    }

    /// <summary>Projects each row of <paramref name="delta"/> onto the ball of radius <paramref name="eps"/> (Euclidean).</summary>
    public Tensor Project(Tensor delta, double eps)
    {
        using var scope = NewDisposeScope();
        var rows = delta.flatten(1);
        Tensor projected;
        switch (Kind)
        {
            case NormKind.Linf:
                projected = rows.clamp(-eps, eps);
                break;
            case NormKind.L2:
            {
                var norm = rows.norm(1, keepdim: true);
                projected = rows * (eps / norm.clamp_min(eps));
                break;
            }
            case NormKind.L1:
            {
                // Duchi et al. (2008), batched: θ from the sorted magnitudes' running sums, then soft-thresholding.
                var magnitude = rows.abs();
                var (sorted, _) = magnitude.sort(1, descending: true);
                var cumulative = sorted.cumsum(1);
                var ranks = arange(1, rows.shape[1] + 1, dtype: rows.dtype, device: rows.device).unsqueeze(0);
                var positive = (sorted - (cumulative - eps) / ranks) > 0;
                var rho = positive.sum(1, keepdim: true).clamp_min(1);
                var theta = ((cumulative.gather(1, rho - 1) - eps) / rho.to_type(rows.dtype)).clamp_min(0);
                var inside = magnitude.sum(1, keepdim: true) <= eps;
                projected = where(inside, rows, rows.sign() * (magnitude - theta).clamp_min(0));
                break;
            }
            default:
                throw Unknown();
        }
        return projected.view_as(delta).MoveToOuterDisposeScope();
    }

    /// <summary>Points drawn uniformly from the ball, one per row, shaped like <paramref name="like"/>.</summary>
    public Tensor RandomStart(Tensor like, double eps)
    {
        using var scope = NewDisposeScope();
        var shape = like.flatten(1).shape;
        long d = shape[1];
        Tensor sample;
        switch (Kind)
        {
            case NormKind.Linf:
                sample = (rand(shape, dtype: like.dtype, device: like.device) * 2 - 1) * eps;
                break;
            case NormKind.L2:
            {
                var direction = randn(shape, dtype: like.dtype, device: like.device);
                direction /= direction.norm(1, keepdim: true).clamp_min(1e-12);
                var radius = rand(shape[0], 1, dtype: like.dtype, device: like.device).pow(1.0 / d) * eps;
                sample = direction * radius;
                break;
            }
            case NormKind.L1:
            {
                // d + 1 exponential spacings normalised by their sum: uniform in the simplex; random signs fill the ball.
                var exponential = -(1 - rand(shape[0], d + 1, dtype: like.dtype, device: like.device)).log();
                var point = exponential[.., ..(int)d] / exponential.sum(1, keepdim: true);
                var signs = randint(0, 2, shape, dtype: like.dtype, device: like.device) * 2 - 1;
                sample = point * signs * eps;
                break;
            }
            default:
                throw Unknown();
        }
        return sample.view_as(like).MoveToOuterDisposeScope();
    }

    /// <summary>The dual norm of each row (ℓ∞ → ℓ1, ℓ2 → ℓ2, ℓ1 → ℓ∞): a (B) tensor.</summary>
    public Tensor DualNorm(Tensor g)
    {
        var rows = g.flatten(1);
        return Kind switch
        {
            NormKind.Linf => rows.abs().sum(1),
            NormKind.L2 => rows.norm(1),
            NormKind.L1 => rows.abs().amax([1]),
            _ => throw Unknown(),
        };
    }

    /// <summary>Wang et al.'s FOSC per example: ε‖g‖_q − ⟨x − x⁰, g⟩.</summary>
    public Tensor Fosc(Tensor x, Tensor x0, Tensor g, double eps) =>
        DualNorm(g) * eps - ((x - x0).flatten(1) * g.flatten(1)).sum(1);

    private ArgumentOutOfRangeException Unknown() => new(nameof(Kind), Kind, "not a norm");
}
