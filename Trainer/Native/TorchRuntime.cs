using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace RobustEval.Trainer.Native;

/// <summary>Loading libtorch and choosing where tensors live.</summary>
internal static class TorchRuntime
{
    private static readonly Lock Gate = new();
    private static bool _checked;

    /// <summary>
    /// Makes sure TorchSharp's native library loads on this machine: a copy installed without our build (a .NET
    /// tool, say) may still name a libstdc++ version the system lacks; it is patched in place, once.
    /// </summary>
    public static void EnsureLoadable()
    {
        lock (Gate)
        {
            if (_checked || !RuntimeInformation.IsOSPlatform(OSPlatform.Linux))
            {
                _checked = true;
                return;
            }
            _checked = true;
            var system = GlibcxxVersionPatcher.FindSystemLibStdCxx();
            if (system is null)
            {
                return;
            }
            var baseDirectory = AppContext.BaseDirectory;
            var candidates = new[]
            {
                Path.Combine(baseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", "libLibTorchSharp.so"),
                Path.Combine(baseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"),
                Path.Combine(baseDirectory, "libLibTorchSharp.so"),
            };
            foreach (var library in candidates.Where(File.Exists).Distinct())
            {
                try
                {
                    if (GlibcxxVersionPatcher.NeedsPatch(library, system))
                    {
                        GlibcxxVersionPatcher.Patch(library, system);
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
                {
                    throw new UserErrorException(
                        $"TorchSharp's {library} needs a newer libstdc++ than {system} and could not be patched ({e.Message}); " +
                        "rebuild with `dotnet build` (which patches it) or see the README's troubleshooting section");
                }
            }
        }
    }

    /// <summary>Loads libtorch, sets the CPU thread count (0 keeps libtorch's default) and picks the device.</summary>
    public static Device Initialize(string device, int threads)
    {
        EnsureLoadable();
        if (threads > 0)
        {
            set_num_threads(threads);
        }
        return device switch
        {
            "cpu" => CPU,
            "cuda" => cuda.is_available() ? CUDA : throw new UserErrorException(
                "--device cuda: no CUDA device is available to libtorch (this build bundles the CPU libtorch unless built with -p:LibTorchFlavor=Cuda or System)"),
            "auto" => cuda.is_available() ? CUDA : CPU,
            _ => throw new UserErrorException($"unknown device '{device}' (auto, cpu, cuda)"),
        };
    }
}
