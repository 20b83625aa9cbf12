namespace RobustEval;

/// <summary>
/// A problem with what the user gave us — a file, an option, a model — rather than a bug. Command lines print
/// its message as one line and exit with code 2.
/// </summary>
public class UserErrorException(string message, Exception? inner = null) : Exception(message, inner);
