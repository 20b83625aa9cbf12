using System.Text.Json;
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
        var path = attack.Sessions.For(attack.Settings.Loss).EndProfiling();
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
        Console.WriteLine($"ONNX Runtime kernel time for {repeats} x {config} on {batch} images ({total / 1e6:F2} s of kernels):");
        foreach (var (op, (us, calls)) in byOp.OrderByDescending(p => p.Value.Microseconds).Take(20))
        {
            Console.WriteLine($"  {op,-24}{us / 1e3,10:F1} ms {100 * us / total,6:F1} %  ({calls} calls)");
        }
        Console.WriteLine("costliest nodes:");
        foreach (var (node, (op, shapes, us)) in byNode.OrderByDescending(p => p.Value.Microseconds).Take(15))
        {
            Console.WriteLine($"  {100 * us / total,5:F1} %  {op,-18}{node[..^"_kernel_time".Length],-48} {shapes}");
        }
        // Every session of the run (the shape probe's too) wrote a profile under the prefix.
        foreach (var file in Directory.GetFiles(Path.GetDirectoryName(prefix)!, Path.GetFileName(prefix) + "*"))
        {
            File.Delete(file);
        }
    }

    /// <summary>The input shapes of a profiled node, as ORT records them: [{"float": [64, 3, 32, 32]}, …].</summary>
    private static string Shapes(JsonElement types) =>
        string.Join(" ", types.EnumerateArray().SelectMany(t => t.EnumerateObject()).Select(p => "[" + string.Join(",", p.Value.EnumerateArray().Select(d => d.GetInt64())) + "]"));
}
