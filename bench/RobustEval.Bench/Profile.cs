using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using RobustEval.Data;
using RobustEval.Evaluator.Attacks;
using RobustEval.Evaluator.Runtime;

namespace RobustEval.Bench;

/// <summary>Where the time of an attack goes inside ONNX Runtime: its per-node profile, summed by op type.</summary>
internal static class Profile
{
    public static void Attack(string model, Dataset data, AttackSettings config, int batch, int threads, int repeats)
    {
        var prefix = Path.Combine(Path.GetTempPath(), $"robusteval-profile-{Guid.NewGuid():N}");
        var sessions = new OrtSessions(DeviceChoice.Cpu, threads) { ProfilePrefix = prefix };
        var classifier = ClassifierLoader.Load(model, null, sessions);
        using var gradients = new GradientSessions(classifier, sessions);
        var attack = AttackRegistry.Create(config, gradients);
        var subset = data.Take(batch);
        for (int i = 0; i < repeats; i++)
        {
            AttackRunner.Run(attack, subset, batch);
        }
        Summarize(attack.Sessions.For(attack.Settings.Loss).EndProfiling(), $"{repeats} x {config} on {batch} images");
        // Every session of the run (the shape probe's too) wrote a profile under the prefix.
        foreach (var file in Directory.GetFiles(Path.GetDirectoryName(prefix)!, Path.GetFileName(prefix) + "*"))
        {
            File.Delete(file);
        }
    }

    /// <summary>ONNX Runtime's profile at <paramref name="path"/>, summed by op type and by node.</summary>
    private static void Summarize(string path, string what)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        var byOp = new Dictionary<string, (double Microseconds, int Calls)>();
        var byNode = new Dictionary<string, (string Op, string Shapes, double Microseconds)>();
        foreach (var e in json.RootElement.EnumerateArray())
        {
            if (e.GetProperty("cat").GetString() != "Node" || !e.GetProperty("name").GetString()!.EndsWith("_kernel_time", StringComparison.Ordinal))
            {
                continue;
            }
            var op = e.GetProperty("args").GetProperty("op_name").GetString()!;
            var (us, calls) = byOp.GetValueOrDefault(op);
            byOp[op] = (us + e.GetProperty("dur").GetDouble(), calls + 1);
            var node = e.GetProperty("name").GetString()!;
            var shapes = e.GetProperty("args").TryGetProperty("input_type_shape", out var types) ? Shapes(types) : "";
            byNode[node] = (op, shapes, byNode.GetValueOrDefault(node).Microseconds + e.GetProperty("dur").GetDouble());
        }
        double total = byOp.Values.Sum(v => v.Microseconds);
        Console.WriteLine($"ONNX Runtime kernel time for {what} ({total / 1e6:F2} s of kernels):");
        foreach (var (op, (us, calls)) in byOp.OrderByDescending(p => p.Value.Microseconds).Take(20))
        {
            Console.WriteLine($"  {op,-24}{us / 1e3,10:F1} ms {100 * us / total,6:F1} %  ({calls} calls)");
        }
        Console.WriteLine("costliest nodes:");
        foreach (var (node, (op, shapes, us)) in byNode.OrderByDescending(p => p.Value.Microseconds).Take(15))
        {
            Console.WriteLine($"  {100 * us / total,5:F1} %  {op,-18}{node[..^"_kernel_time".Length],-48} {shapes}");
        }
    }

    /// <summary>
    /// Times one ONNX graph as it stands (say, a gradient graph written by <c>evaluator gradient-graph</c> and edited by
    /// hand to try a rewrite before writing it): random inputs (dynamic axes at <paramref name="batch"/>, int64 inputs
    /// in 0…9), a few warm-up runs, then the mean of <paramref name="runs"/> timed runs — in one session on all the
    /// threads, and split between the lanes a gradient session would use (<see cref="OrtSessions.CreateLanes"/>) —
    /// and ONNX Runtime's per-op and per-node profile of as many more runs of the one session.
    /// </summary>
    public static void Graph(string file, int batch, int threads, int runs)
    {
        var model = File.ReadAllBytes(file);
        var sessions = new OrtSessions(DeviceChoice.Cpu, threads);
        using (var one = sessions.Create(model))
        {
            Console.WriteLine($"{file}, batch {batch}: one session on {threads} threads {Time([one], batch, runs):F2} ms per run");
        }
        var lanes = sessions.CreateLanes(model);
        Console.WriteLine($"  {lanes.Length} lanes, each on its share of the batch and the threads: {Time(lanes, batch, runs):F2} ms per run");
        foreach (var lane in lanes)
        {
            lane.Dispose();
        }
        var prefix = Path.Combine(Path.GetTempPath(), $"robusteval-profile-{Guid.NewGuid():N}");
        using (var profiled = new OrtSessions(DeviceChoice.Cpu, threads) { ProfilePrefix = prefix }.Create(model))
        {
            Time([profiled], batch, runs);
            Summarize(profiled.EndProfiling(), $"{runs} runs of {Path.GetFileName(file)} (and 3 warm-up runs)");
        }
        foreach (var leftover in Directory.GetFiles(Path.GetDirectoryName(prefix)!, Path.GetFileName(prefix) + "*"))
        {
            File.Delete(leftover);
        }
    }

    /// <summary>Mean milliseconds of a run of <paramref name="sessions"/> side by side on consecutive shares of one batch of random inputs, after 3 warm-up runs.</summary>
    private static double Time(InferenceSession[] sessions, int batch, int runs)
    {
        var random = new Random(1);
        var feeds = sessions.Select((session, lane) =>
        {
            int share = batch / sessions.Length + (lane < batch % sessions.Length ? 1 : 0);
            return session.InputMetadata.Select(input =>
            {
                var dims = input.Value.Dimensions.Select(d => d < 0 ? share : d).ToArray();
                int count = dims.Aggregate(1, (a, b) => a * b);
                return input.Value.ElementType == typeof(long)
                    ? NamedOnnxValue.CreateFromTensor(input.Key, new DenseTensor<long>(Enumerable.Range(0, count).Select(_ => (long)random.Next(10)).ToArray(), dims))
                    : NamedOnnxValue.CreateFromTensor(input.Key, new DenseTensor<float>(Enumerable.Range(0, count).Select(_ => (float)random.NextDouble()).ToArray(), dims));
            }).ToList();
        }).ToArray();
        void Run() => OrtSessions.SideBySide(sessions.Length, lane => sessions[lane].Run(feeds[lane]).Dispose());
        for (int i = 0; i < 3; i++)
        {
            Run();
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < runs; i++)
        {
            Run();
        }
        return clock.Elapsed.TotalMilliseconds / runs;
    }

    /// <summary>The input shapes of a profiled node, as ORT records them: [{"float": [64, 3, 32, 32]}, …].</summary>
    private static string Shapes(JsonElement types) =>
        string.Join(" ", types.EnumerateArray().SelectMany(t => t.EnumerateObject()).Select(p => "[" + string.Join(",", p.Value.EnumerateArray().Select(d => d.GetInt64())) + "]"));
}
