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

    /// <summary>
    /// The model's sessions. A white-box attack evaluates its loss with <c>Sessions.For(Settings.Loss)</c> (the
    /// runner evaluates the clean images with it too); a score-based one (<see cref="NeedsGradients"/> false) uses
    /// the forward-only session.
    /// </summary>
    GradientSessions Sessions { get; }

    /// <summary>False for score-based attacks, which need forward passes only and so run on any model.</summary>
    bool NeedsGradients => true;

    /// <summary>
    /// Attacks every example of <paramref name="batch"/> and offers its outcome to <paramref name="results"/>[i]
    /// (<see cref="ResultSlice.Offer"/>), which keeps the worse case.
    /// </summary>
    void Run(AttackBatch batch, ResultSlice results);
}
