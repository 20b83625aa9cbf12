namespace RobustEval.Data;

/// <summary>
/// A data file that cannot be used as it is. The message always starts with the file's path, so a command
/// line can print it as its one-line error.
/// </summary>
public sealed class DataFormatException : UserErrorException
{
    public DataFormatException(string path, string problem)
        : base($"{path}: {problem}")
    {
        FilePath = path;
        Problem = problem;
    }

    public string FilePath { get; }

    public string Problem { get; }
}
