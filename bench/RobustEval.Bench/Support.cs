using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace RobustEval.Bench;

internal sealed record BenchOptions(int Threads, int Rounds, double Seconds, IReadOnlyList<string>? Only, string? Output, string? Profile,
    string Device, int TrainBatch, int TrainImages, string? TimeGraph, int Batch)
{
    public bool Cuda => Device == "cuda";

    public static BenchOptions Parse(string[] args)
    {
        int threads = 2, rounds = 3, trainBatch = 256, trainImages = 0;
        double seconds = 3;
        List<string>? only = null;
        string? output = null;
        string? profile = null, timeGraph = null;
        int batch = 256;
        string device = "cpu";
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--threads": threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--rounds": rounds = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--seconds": seconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--only": only = [.. Next().Split(',')]; break;
                case "--out": output = Next(); break;
                case "--profile": profile = Next(); break;
                case "--device": device = Next(); break;
                case "--train-batch": trainBatch = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--train-images": trainImages = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--time-graph": timeGraph = Next(); break;
                case "--batch": batch = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                default:
                    throw new ArgumentException($"unknown option {args[i]} (--threads, --rounds, --seconds, --only a,b, --out FILE.json, --profile fgm|pgd|apgd[:resnet18|mobilenet_v2|…], " +
                        "--device cpu|cuda, --train-batch N, --train-images N, --time-graph FILE.onnx [--batch N])");
            }
        }
        if (device is not ("cpu" or "cuda"))
        {
            throw new ArgumentException($"--device {device}: cpu or cuda");
        }
        return new BenchOptions(threads, rounds, seconds, only, output, profile, device, trainBatch, trainImages, timeGraph, batch);
    }
}

/// <summary>Runs bench/reference.py: with Debian's PyTorch, or the Python that ROBUSTEVAL_PYTHON names.</summary>
internal static class Reference
{
    private static readonly string Python = Environment.GetEnvironmentVariable("ROBUSTEVAL_PYTHON") is { Length: > 0 } python ? python : "/usr/bin/python3";

    public static double Run(string[] arguments, BenchOptions options)
    {
        var output = Execute(["bench/reference.py", .. arguments, "--threads", options.Threads.ToString(CultureInfo.InvariantCulture),
            "--seconds", options.Seconds.ToString(CultureInfo.InvariantCulture), "--device", options.Device]);
        using var json = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
        return json.RootElement.GetProperty("images_per_second").GetDouble();
    }

    /// <summary>Runs a Python script (with its arguments) to its end, failing on a non-zero exit.</summary>
    public static void Script(string[] arguments) => Execute(arguments);

    /// <summary>PyTorch's version and the OpenBLAS kernels reference.py has it use ("1.13.0a0, OpenBLAS core SkylakeX").</summary>
    public static string TorchVersion()
    {
        var line = Execute(["-c", "import os, sys; sys.path.insert(0, 'bench'); import reference, torch; print(torch.__version__, os.environ.get('OPENBLAS_CORETYPE', ''))"])
            .Trim().Split(' ');
        return line.Length > 1 && line[1].Length > 0 ? $"{line[0]} (OpenBLAS core {line[1]})" : line[0];
    }

    /// <summary>The CPU as /proc/cpuinfo names it, with its widest vector extension: "AMD EPYC, AVX-512".</summary>
    public static string Cpu()
    {
        if (!File.Exists("/proc/cpuinfo"))
        {
            return "unknown CPU";
        }
        var lines = File.ReadLines("/proc/cpuinfo").ToList();
        string Field(string name) => lines.FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "";
        var flags = Field("flags").Split(' ');
        var vector = flags.Contains("avx512f") ? "AVX-512" : flags.Contains("avx2") ? "AVX2" : "no AVX2";
        return $"{(Field("model name") is { Length: > 0 } model ? model : "unknown CPU")}, {vector}";
    }

    public static string CudaDevice() => Execute(["-c", "import torch; print(torch.cuda.get_device_name(0))"]).Trim();

    private static string Execute(string[] arguments)
    {
        var start = new ProcessStartInfo(Python, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Python} {string.Join(' ', arguments)} failed: {error.Result}");
        }
        return output.Result;
    }
}

/// <summary>The peak resident memory (VmHWM) of a child evaluator process.</summary>
internal static class PeakMemory
{
    public static long OfEvaluator(string root, string[] arguments)
    {
        var evaluator = Path.Combine(root, "Evaluator", "bin", "Release", "net10.0", "evaluator.dll");
        var start = new ProcessStartInfo("dotnet", [evaluator, .. arguments]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        long peak = 0;
        while (!process.HasExited)
        {
            try
            {
                var line = File.ReadLines($"/proc/{process.Id}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
                if (line is not null)
                {
                    peak = Math.Max(peak, long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024);
                }
            }
            catch (IOException)
            {
            }
            Thread.Sleep(20);
        }
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"evaluator {string.Join(' ', arguments)} exited with {process.ExitCode}");
        }
        return peak;
    }
}
