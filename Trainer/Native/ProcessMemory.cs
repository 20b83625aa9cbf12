using System.Runtime.InteropServices;

namespace RobustEval.Trainer.Native;

/// <summary>How the C allocator treats freed memory, for the whole process.</summary>
internal static class ProcessMemory
{
    private static int _done;

    /// <summary>
    /// libtorch allocates its CPU tensors with the C allocator, and glibc hands freed blocks above its trim and mmap
    /// thresholds back to the system, so every large temporary of every training step was page-faulted in afresh: on
    /// the project's 2-core EPYC VM a standard MNIST epoch ran at a quarter of its speed (bench/NOTES.md, as the PyTorch
    /// reference did before it kept its freed memory too). Freed memory stays in the process instead: no trimming, no
    /// mmap for large blocks; resident memory then stays near its peak until the process ends. Called when training
    /// starts, not by the evaluator: ONNX Runtime keeps its own arena, and its attacks measured 4–10 % slower with
    /// these settings. Without glibc (musl, other systems) nothing changes.
    /// </summary>
    public static void KeepFreedMemory()
    {
        if (Interlocked.Exchange(ref _done, 1) == 1 || !RuntimeInformation.IsOSPlatform(OSPlatform.Linux))
        {
            return;
        }
        try
        {
            const int trimThreshold = -1, mmapMax = -4;
            _ = Mallopt(trimThreshold, int.MaxValue);
            _ = Mallopt(mmapMax, 0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc: its allocator has no such switches.
        }
    }

    [DllImport("libc.so.6", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);
}
