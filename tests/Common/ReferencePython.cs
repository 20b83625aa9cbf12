using System.Diagnostics;

namespace RobustEval.Tests;

/// <summary>
/// Debian's system Python (/usr/bin/python3 with python3-numpy, python3-torch, python3-onnx, installed by
/// .ci/run) as an independent reference: what numpy reads, what PyTorch computes.
/// </summary>
internal static class ReferencePython
{
    public const string Executable = "/usr/bin/python3";

    /// <summary>Skips the calling test when the module is not importable.</summary>
    public static void Require(string module)
    {
        if (!File.Exists(Executable))
        {
            Assert.Inconclusive($"{Executable} is not installed");
        }
        var (code, _, _) = RunRaw($"import {module}", TimeSpan.FromSeconds(60));
        if (code != 0)
        {
            Assert.Inconclusive($"Python module {module} is not installed (apt-get install python3-{module})");
        }
    }

    /// <summary>Runs a script, failing the test on a non-zero exit; returns its standard output.</summary>
    public static string Run(string script, TimeSpan? timeout = null)
    {
        var (code, output, error) = RunRaw(script, timeout ?? TimeSpan.FromMinutes(5));
        Assert.AreEqual(0, code, $"python failed:\n{error}");
        return output;
    }

    private static (int Code, string Output, string Error) RunRaw(string script, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(Executable, ["-c", script])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        start.Environment["OMP_NUM_THREADS"] = "1";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"python did not finish within {timeout}");
        }
        return (process.ExitCode, output.Result, error.Result);
    }
}
