using RobustEval.Cli;
using RobustEval.Evaluator.Cli;

namespace RobustEval.Evaluator.Tests;

/// <summary>Runs the evaluator's command line in-process, capturing what it prints (for classes that do not run in parallel).</summary>
internal static class EvaluatorRunner
{
    public static (int Code, string Output, string Error) Run(params string[] args)
    {
        var error = new StringWriter();
        var output = new StringWriter();
        var (original, originalError) = (Console.Out, Console.Error);
        Console.SetOut(output);
        // Notices (written to standard error as the program runs) land with the error lines, as in a terminal.
        Console.SetError(error);
        try
        {
            return (CommandLineApp.Run(EvaluatorCli.Create(), args, error), output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(original);
            Console.SetError(originalError);
        }
    }

    /// <summary>The error lines, without the device notice.</summary>
    public static string[] ErrorLines(string error) =>
        error.Trim().Split('\n').Where(l => l.Length > 0 && !l.StartsWith("notice:", StringComparison.Ordinal)).ToArray();
}
