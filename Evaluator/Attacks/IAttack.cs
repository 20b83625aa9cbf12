namespace RobustEval.Evaluator.Attacks;

/// <summary>
/// An attack: <c>result = attack.Run(images, labels)</c> on one batch of NCHW pixels in [0, 1] with the model's
/// label indices. One shape for every attack, whether used from the command line or as a library.
/// </summary>
internal interface IAttack
{
    AttackConfig Config { get; }

    AttackResult Run(ReadOnlySpan<float> images, ReadOnlySpan<long> labels, int batchIndex);
}
