using Microsoft.ML.OnnxRuntime;

namespace RobustEval.Evaluator.Runtime;

/// <summary>Where ONNX Runtime runs: <c>auto</c> (CUDA when it works, else CPU), <c>cpu</c>, <c>cuda</c>.</summary>
public enum DeviceChoice
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
public sealed class OrtSessions
{
    private readonly Action<string> _notice;
    private bool? _cudaWorks;

    /// <summary>The variable that sets the memory cap (MB; 0 = none), and the default cap (ONNX Runtime's arena limit is a 32-bit byte count).</summary>
    public const string MemoryVariable = "ROBUSTEVAL_ORT_MEMORY_MB";
    public const long DefaultMemoryMegabytes = 4095;

    static OrtSessions()
    {
        // ONNX Runtime would print its own multi-line errors on standard error; ours are one line each.
        OrtEnv.Instance().EnvLogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
        MemoryCapMegabytes = long.TryParse(Environment.GetEnvironmentVariable(MemoryVariable), out var megabytes) && megabytes >= 0
            ? Math.Min(megabytes, DefaultMemoryMegabytes)
            : DefaultMemoryMegabytes;
    }

    /// <summary>What ONNX Runtime may allocate on the CPU in a capped session, in MB (0: no cap).</summary>
    public static long MemoryCapMegabytes { get; }

    /// <summary>What to say when an allocation failed: in a capped session, the cap; otherwise the batch size.</summary>
    public static string AllocationHint(Exception e, bool capped) =>
        !(e.Message.Contains("allocate", StringComparison.OrdinalIgnoreCase) || e.Message.Contains("bad_alloc", StringComparison.Ordinal)) ? ""
        : capped && MemoryCapMegabytes > 0
            ? $" (a model's first run may use {MemoryCapMegabytes:N0} MB; {MemoryVariable} changes that)"
            : " (out of memory: a smaller --batch needs less)";

    /// <summary>
    /// One CPU arena with the cap, registered once and used by capped sessions only: the first run of every model
    /// (<see cref="ShapeProbe"/>, at batch sizes 1 and 2), where a model that asks for absurd tensors
    /// reveals itself. Attack sessions keep ONNX Runtime's own uncapped arena, so large models at large batches still
    /// run; their memory grows with --batch only.
    /// </summary>
    private static readonly Lazy<bool> CappedArena = new(() =>
    {
        if (MemoryCapMegabytes <= 0)
        {
            return false;
        }
        using var arena = new OrtArenaCfg((uint)(MemoryCapMegabytes << 20), -1, -1, -1);
        using var info = new OrtMemoryInfo(OrtMemoryInfo.allocatorCPU, OrtAllocatorType.ArenaAllocator, 0, OrtMemType.Default);
        OrtEnv.Instance().CreateAndRegisterAllocator(info, arena);
        return true;
    });

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

    /// <summary>
    /// A session for <paramref name="model"/>. <paramref name="capped"/>: its CPU allocations come from the capped
    /// arena, so a model asking for absurd tensors gets an allocation error instead of exhausting the machine (used
    /// for the first run of every model, <see cref="ShapeProbe"/>).
    /// </summary>
    public InferenceSession Create(byte[] model, bool capped = false) => Create(model, capped, Threads);

    /// <summary>A session like <see cref="Create(byte[], bool)"/> with its own thread count (0: ONNX Runtime's choice).</summary>
    private InferenceSession Create(byte[] model, bool capped, int threads)
    {
        var options = Options(threads);
        if (capped && CappedArena.Value)
        {
            options.AddSessionConfigEntry("session.use_env_allocators", "1");
        }
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

    private SessionOptions Options(int threads)
    {
        var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL,
        };
        if (ProfilePrefix is not null)
        {
            // The prefix first: setting EnableProfiling hands ONNX Runtime the prefix it holds at that moment.
            options.ProfileOutputPathPrefix = ProfilePrefix;
            options.EnableProfiling = true;
        }
        if (threads > 0)
        {
            options.IntraOpNumThreads = threads;
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
                    throw new UserErrorException(CudaProblem(e));
                }
                _notice("no CUDA execution provider available; running on the CPU");
            }
        }
        return options;
    }

    /// <summary>
    /// Sessions ("lanes") for one gradient graph that split each batch between them and run side by side, each on
    /// its share of the threads: <see cref="MaximumLanes"/> of them when there are at least that many threads; one on
    /// a GPU, when profiling (so a profile covers whole batches), and with a single thread. On the CPU a gradient graph
    /// runs many memory-bound and small kernels that ONNX Runtime's intra-op threads share poorly, and two
    /// one-thread sessions on half a batch each measured 17 % (the MNIST net), 7–9 % (resnet18) and 33–38 %
    /// (mobilenet_v2) less time per batch than one two-thread session (bench/NOTES.md, "Lanes"). Forward-only
    /// graphs gained nothing that way and keep one session.
    /// </summary>
    public InferenceSession[] CreateLanes(byte[] model)
    {
        int threads = Threads > 0 ? Threads : Environment.ProcessorCount;
        bool cpu = Device == DeviceChoice.Cpu || _cudaWorks == false;
        int lanes = cpu && ProfilePrefix is null ? Math.Clamp(Math.Min(threads, LanesLimit), 1, MaximumLanes) : 1;
        if (lanes == 1)
        {
            return [Create(model)];
        }
        var created = new InferenceSession[lanes];
        try
        {
            SideBySide(lanes, lane => created[lane] = Create(model, false, threads / lanes + (lane < threads % lanes ? 1 : 0)));
        }
        catch
        {
            foreach (var session in created)
            {
                session?.Dispose();
            }
            throw;
        }
        return created;
    }

    /// <summary>
    /// Runs <paramref name="body"/> for 0 … <paramref name="count"/> − 1 at the same time (one per lane), and throws
    /// the first failure as itself rather than wrapped, so callers catch what a single session would throw.
    /// </summary>
    internal static void SideBySide(int count, Action<int> body)
    {
        try
        {
            Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = count }, body);
        }
        catch (AggregateException e)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
        }
    }

    /// <summary>The most sessions a gradient graph is split between (only two were measured: the bench machine has two cores).</summary>
    public const int MaximumLanes = 2;

    /// <summary>
    /// The variable that limits the lanes (1: one session per gradient graph, as before lanes). Each lane holds its
    /// own copy of the weights: ConvNeXt-small's PGD-10 peaked at 4.8 GB with two lanes and 4.3 GB with one.
    /// </summary>
    public const string LanesVariable = "ROBUSTEVAL_ORT_LANES";

    private static readonly int LanesLimit = int.TryParse(Environment.GetEnvironmentVariable(LanesVariable), out var limit) && limit >= 1 ? limit : MaximumLanes;

    private static string FirstLine(string message) => message.Split('\n')[0].Trim();

    /// <summary>Why CUDA is unavailable, in words that say what to do: the CPU package has no CUDA entry point at all;
    /// the GPU package has one, and its provider library fails to load without a GPU driver and the CUDA libraries.</summary>
    private static string CudaProblem(Exception e) => e is EntryPointNotFoundException
        ? "--device cuda: this is the CPU build of ONNX Runtime; build the evaluator with -p:OnnxRuntimeFlavor=Gpu"
        : $"--device cuda: ONNX Runtime's CUDA provider did not load ({FirstLine(e.Message)}); it needs an NVIDIA driver and the CUDA and cuDNN libraries it was built for on the library path";
}
