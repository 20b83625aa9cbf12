using RobustEval.Trainer.Training;
using Spectre.Console;

namespace RobustEval.Trainer.Cli;

/// <summary>
/// Training progress on the console: a live bar per epoch (loss, accuracy, images/s, time left) on a terminal,
/// and one line per epoch when the output is redirected to a file or a pipe.
/// </summary>
internal sealed class ConsoleTrainingProgress : ITrainingProgress
{
    private ProgressContext? _context;
    private ProgressTask? _task;
    private int _epochs;
    private int _batches;

    public static TrainingResult Run(Func<ITrainingProgress, TrainingResult> run)
    {
        var progress = new ConsoleTrainingProgress();
        if (Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            return run(progress);
        }
        TrainingResult? result = null;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new RemainingTimeColumn())
            .Start(context =>
            {
                progress._context = context;
                result = run(progress);
            });
        return result!;
    }

    public void RunStarted(int firstEpoch, int epochs, int batchesPerEpoch)
    {
        _epochs = epochs;
        _batches = batchesPerEpoch;
        if (firstEpoch > 0)
        {
            Console.WriteLine($"resuming after epoch {firstEpoch}");
        }
    }

    public void BatchDone(int epoch, int batch, double meanLoss, double accuracy, double imagesPerSecond)
    {
        if (_context is null)
        {
            return;
        }
        if (batch == 0 || _task is null)
        {
            _task = _context.AddTask($"epoch {epoch + 1}/{_epochs}", maxValue: _batches);
        }
        _task.Description = $"epoch {epoch + 1}/{_epochs}  loss {meanLoss:F4}  acc {accuracy:P1}  {imagesPerSecond:N0} img/s";
        _task.Value = batch + 1;
    }

    public void EpochDone(EpochMetrics m)
    {
        var line = $"epoch {m.Epoch}/{_epochs}: lr {m.LearningRate:G4}  train loss {m.TrainLoss:F4}  train acc {m.TrainAccuracy:P2}  " +
            $"test acc {m.TestAccuracy:P2}  {m.ImagesPerSecond:N0} img/s  {m.Seconds:F1} s";
        if (m.MeanFosc is { } fosc)
        {
            line += $"  mean FOSC {fosc:G4}  mean steps {m.MeanSteps:F2}";
        }
        if (m.FoscThreshold is { } threshold)
        {
            line += $"  threshold {threshold:G4}";
        }
        if (_task is not null)
        {
            _task.Description = line;
            _task.StopTask();
            _task = null;
        }
        else
        {
            Console.WriteLine(line);
        }
    }
}
