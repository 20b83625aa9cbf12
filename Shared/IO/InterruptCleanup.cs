using System.Runtime.InteropServices;

namespace RobustEval.IO;

/// <summary>
/// Runs a clean-up when the process is interrupted (Ctrl-C, SIGTERM) before it is disposed — for work in progress
/// that would otherwise outlive the run, such as a report's hidden building folder. The process still ends as the
/// signal asks; disposing unregisters.
/// </summary>
public sealed class InterruptCleanup : IDisposable
{
    private readonly List<PosixSignalRegistration> _registrations = [];
    private readonly Action _cleanup;
    private int _done;

    public InterruptCleanup(Action cleanup)
    {
        _cleanup = cleanup;
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
        {
            _registrations.Add(PosixSignalRegistration.Create(signal, context =>
            {
                Run();
                context.Cancel = false;
            }));
        }
    }

    private void Run()
    {
        if (Interlocked.Exchange(ref _done, 1) == 0)
        {
            try
            {
                _cleanup();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process is ending anyway; a clean-up that cannot finish must not hide the signal.
            }
        }
    }

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }
        _registrations.Clear();
    }
}
