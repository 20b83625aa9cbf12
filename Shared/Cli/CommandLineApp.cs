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
            error.WriteLine($"error: {Unknown(parse) ?? OneLine(parse.Errors[0].Message)} (see '{root.Name} {CommandPath(parse)}--help')");
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

    /// <summary>"unknown command 'attak'; did you mean 'attack'?" for a token that is no command or option here, else null.</summary>
    private static string? Unknown(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        var token = parse.UnmatchedTokens.FirstOrDefault();
        if (token is null)
        {
            return null;
        }
        bool isOption = token.StartsWith('-');
        var known = isOption
            ? command.Options.SelectMany(o => o.Aliases.Prepend(o.Name)).Concat(command.Parents.OfType<Command>().SelectMany(p => p.Options.Where(o => o.Recursive).Select(o => o.Name))).ToList()
            : command.Subcommands.Select(c => c.Name).ToList();
        if (!isOption && command.Subcommands.Count == 0)
        {
            return null;
        }
        var what = isOption ? "option" : "command";
        var best = known.Distinct(StringComparer.Ordinal)
            .Select(name => (Name: name, Distance: Distance(token.ToLowerInvariant(), name.ToLowerInvariant())))
            .OrderBy(c => c.Distance).ThenBy(c => c.Name, StringComparer.Ordinal).FirstOrDefault();
        int allowed = Math.Max(1, token.TrimStart('-').Length / 3);
        return best.Name is not null && best.Distance <= allowed
            ? $"unknown {what} '{token}'; did you mean '{best.Name}'?"
            : isOption ? $"unknown option '{token}'" : $"unknown command '{token}' (commands: {string.Join(", ", known)})";
    }

    /// <summary>Levenshtein distance, with a transposition of neighbours counting as one edit.</summary>
    internal static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }
        for (int j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }
        return d[a.Length, b.Length];
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
