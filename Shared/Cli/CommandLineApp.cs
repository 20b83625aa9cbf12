using System.CommandLine;

namespace RobustEval.Cli;

/// <summary>
/// How both programs run a command line: usage errors and <see cref="UserErrorException"/>s become one line on
/// standard error and exit code 2; anything else is a bug, reported in one line (with the stack trace under
/// <c>--verbose</c>) and exit code 1.
/// </summary>
public static class CommandLineApp
{
    public const int UsageError = 2;
    public const int InternalError = 1;

    /// <summary>Shows stack traces for unexpected errors; on every command.</summary>
    public static readonly Option<bool> Verbose = new("--verbose")
    {
        Description = "Print stack traces and extra diagnostics",
        Recursive = true,
    };

    public static int Run(RootCommand root, string[] args, TextWriter? error = null)
    {
        error ??= Console.Error;
        if (!root.Options.Contains(Verbose))
        {
            root.Options.Add(Verbose);
        }
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0 && !args.Contains("--help") && !args.Contains("-h"))
        {
            error.WriteLine($"error: {OneLine(parse.Errors[0].Message)} (see '{root.Name} {CommandPath(parse)}--help')");
            return UsageError;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (Unwrap(e) is UserErrorException user)
        {
            error.WriteLine($"error: {OneLine(user.Message)}");
            if (parse.GetValue(Verbose))
            {
                error.WriteLine(user);
            }
            return UsageError;
        }
        catch (Exception e) when (Unwrap(e) is OperationCanceledException)
        {
            error.WriteLine("error: cancelled");
            return UsageError;
        }
        catch (Exception e)
        {
            var inner = Unwrap(e);
            error.WriteLine($"error: internal error: {inner.GetType().Name}: {OneLine(inner.Message)}" +
                (parse.GetValue(Verbose) ? "" : " (run with --verbose for details)"));
            if (parse.GetValue(Verbose))
            {
                error.WriteLine(inner);
            }
            return InternalError;
        }
    }

    private static string CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var result = parse.CommandResult; result is not null && result.Parent is not null; result = result.Parent as System.CommandLine.Parsing.CommandResult)
        {
            names.Insert(0, result.Command.Name);
        }
        return names.Count == 0 ? "" : string.Join(" ", names) + " ";
    }

    private static Exception Unwrap(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } or System.Reflection.TargetInvocationException && e.InnerException is not null)
        {
            e = e.InnerException!;
        }
        return e;
    }

    private static string OneLine(string message) =>
        string.Join(' ', message.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
