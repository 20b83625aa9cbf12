namespace RobustEval.IO;

/// <summary>
/// An <see cref="IProgress{T}"/> that calls back on the reporting thread, at once. (<see cref="Progress{T}"/> posts
/// to the thread pool, so its reports can arrive late or out of order.)
/// </summary>
public sealed class CallbackProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
