using Spectre.Console;

namespace RobustEval.Evaluator.Cli;

/// <summary>A progress bar over examples on a terminal (done, elapsed, estimated time left); silence when the output goes to a file or a pipe, as in CI.</summary>
internal static class ConsoleProgress
{
    public static T Run<T>(string description, int total, Func<IProgress<double>, T> work)
    {
        if (Console.IsOutputRedirected || Console.IsErrorRedirected || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            return work(new Progress<double>(_ => { }));
        }
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask(description, maxValue: total);
                result = work(new IO.CallbackProgress<double>(value => task.Value = value));
            });
        return result;
    }
}
