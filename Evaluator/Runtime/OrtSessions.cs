using Microsoft.ML.OnnxRuntime;

namespace RobustEval.Evaluator.Runtime;

/// <summary>Where ONNX Runtime runs: <c>auto</c> (CUDA when it works, else CPU), <c>cpu</c>, <c>cuda</c>.</summary>
internal enum DeviceChoice
{
    Auto,
    Cpu,
    Cuda,
}

/// <summary>
/// Creates ONNX Runtime sessions with one set of options: graph optimisation, thread count and the execution
/// provider. The CPU package has no CUDA entry point (it throws EntryPointNotFoundException) and a GPU package
/// on a machine without a GPU fails to append the provider; either way <c>auto</c> falls back to the CPU with a
/// one-line notice and <c>cuda</c> is an error.
/// </summary>
internal sealed class OrtSessions
{
    private readonly Action<string> _notice;
    private bool? _cudaWorks;

    static OrtSessions()
    {
        // ONNX Runtime would print its own multi-line errors on standard error; ours are one line each.
        OrtEnv.Instance().EnvLogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
    }

    public OrtSessions(DeviceChoice device = DeviceChoice.Auto, int threads = 0, Action<string>? notice = null)
    {
        Device = device;
        Threads = threads;
        _notice = notice ?? (_ => { });
    }

    public DeviceChoice Device { get; }

    public int Threads { get; }

    /// <summary>When set, sessions write ONNX Runtime's per-node profile (JSON) to files starting with this prefix.</summary>
    public string? ProfilePrefix { get; init; }

    /// <summary>"cuda" or "cpu": what the sessions actually use (known after the first session).</summary>
    public string ActiveProvider => _cudaWorks == true ? "cuda" : "cpu";

    public static DeviceChoice ParseDevice(string text) => text.ToLowerInvariant() switch
    {
        "auto" => DeviceChoice.Auto,
        "cpu" => DeviceChoice.Cpu,
        "cuda" or "gpu" => DeviceChoice.Cuda,
        _ => throw new UserErrorException($"unknown device '{text}' (auto, cpu, cuda)"),
    };

    public InferenceSession Create(byte[] model)
    {
        var options = Options();
        try
        {
            return new InferenceSession(model, options);
        }
        catch (OnnxRuntimeException e)
        {
            options.Dispose();
            throw new UserErrorException($"ONNX Runtime cannot load the model: {FirstLine(e.Message)}", e);
        }
    }

    private SessionOptions Options()
    {
        var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL,
        };
        if (ProfilePrefix is not null)
        {
            options.EnableProfiling = true;
            options.ProfileOutputPathPrefix = ProfilePrefix;
        }
        if (Threads > 0)
        {
            options.IntraOpNumThreads = Threads;
            options.InterOpNumThreads = 1;
        }
        if (Device != DeviceChoice.Cpu && _cudaWorks != false)
        {
            try
            {
                options.AppendExecutionProvider_CUDA(0);
                _cudaWorks = true;
            }
            catch (Exception e) when (e is EntryPointNotFoundException or OnnxRuntimeException or DllNotFoundException)
            {
                _cudaWorks = false;
                if (Device == DeviceChoice.Cuda)
                {
                    options.Dispose();
                    throw new UserErrorException(
                        "--device cuda: this ONNX Runtime has no working CUDA execution provider (build with -p:OnnxRuntimeFlavor=Gpu on a machine with an NVIDIA GPU)");
                }
                _notice("no CUDA execution provider available; running on the CPU");
            }
        }
        return options;
    }

    private static string FirstLine(string message) => message.Split('\n')[0].Trim();
}
