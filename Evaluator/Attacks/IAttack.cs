using RobustEval.Evaluator.Runtime;

namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// An attack: <c>attack.Run(batch, results)</c> on one batch, offering each example's outcome to its record. One
/// shape for every attack and wrapper (restarts, target sweeps), used alike by the command line and by library
/// users; <see cref="AttackRunner"/> runs one over a whole data set. A new attack is one class implementing this,
/// registered once in <see cref="AttackRegistry"/>.
/// </summary>
public interface IAttack
{
    AttackSettings Settings { get; }

    /// <summary>The gradient session of the loss the attack maximises (the runner evaluates the clean images with it).</summary>
    GradientSession Session { get; }

    /// <summary>
    /// Attacks every example of <paramref name="batch"/> and offers its outcome to <paramref name="results"/>[i]
    /// (<see cref="ResultSlice.Offer"/>), which keeps the worse case.
    /// </summary>
    void Run(AttackBatch batch, ResultSlice results);
}
