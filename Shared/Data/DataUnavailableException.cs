namespace RobustEval.Data;

/// <summary>A data set that is neither cached nor available offline nor downloadable; the message says what to do.</summary>
public sealed class DataUnavailableException(string message) : UserErrorException(message);
