namespace RobustEval.Trainer.Training;

/// <summary>Progress reports nobody reads: for runs driven by code (tests, benchmarks) rather than a person.</summary>
internal sealed class SilentTrainingProgress : ITrainingProgress
{
    public static readonly SilentTrainingProgress Instance = new();

    public void RunStarted(int firstEpoch, int epochs, int batchesPerEpoch)
    {
    }

    public void BatchDone(int epoch, int batch, double meanLoss, double accuracy, double imagesPerSecond)
    {
    }

    public void EpochDone(EpochMetrics metrics)
    {
    }
}
