using System.Text;
using System.Text.Json;
using RobustEval.Data;
using RobustEval.Trainer.Architectures;
using static TorchSharp.torch;

namespace RobustEval.Trainer.Training;

/// <summary>
/// The state of a run after a complete epoch: weights and buffers, the optimiser's momentum, the epoch count, the
/// run's fingerprint and its metrics so far. Stored as an .npz (numpy can read it), written atomically, so a kill
/// at any moment leaves either the previous checkpoint or the new one.
/// </summary>
internal sealed record Checkpoint(int EpochsDone, string Fingerprint, IReadOnlyList<EpochMetrics> History)
{
    private const string StateKey = "state.json";
    private const string ParameterPrefix = "model/";
    private const string MomentumPrefix = "momentum/";

    public static void Save(string path, Network model, Sgd optimizer, Checkpoint state)
    {
        var arrays = new List<KeyValuePair<string, NpyArray>>();
        foreach (var (name, tensor) in model.state_dict())
        {
            arrays.Add(new(ParameterPrefix + name, ToArray(tensor)));
        }
        for (int i = 0; i < optimizer.Buffers.Count; i++)
        {
            arrays.Add(new($"{MomentumPrefix}{i}", ToArray(optimizer.Buffers[i])));
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(state, TrainingOptions.JsonOptions);
        arrays.Add(new(StateKey, NpyArray.Of(json, json.Length)));
        Npz.Write(path, arrays);
    }

    /// <summary>Restores weights and momentum into <paramref name="model"/> and <paramref name="optimizer"/>.</summary>
    public static Checkpoint Load(string path, Network model, Sgd optimizer)
    {
        var arrays = Npz.Read(path);
        var state = JsonSerializer.Deserialize<Checkpoint>(Encoding.UTF8.GetString(arrays.Require(path, StateKey).Bytes), TrainingOptions.JsonOptions)
            ?? throw new DataFormatException(path, "holds no training state");
        using var _ = no_grad();
        foreach (var (name, tensor) in model.state_dict())
        {
            Restore(path, arrays.Require(path, ParameterPrefix + name), tensor);
        }
        for (int i = 0; i < optimizer.Buffers.Count; i++)
        {
            Restore(path, arrays.Require(path, $"{MomentumPrefix}{i}"), optimizer.Buffers[i]);
        }
        return state;
    }

    /// <summary>Only the run's fingerprint and progress, without touching any model.</summary>
    public static Checkpoint Peek(string path)
    {
        var arrays = Npz.Read(path);
        return JsonSerializer.Deserialize<Checkpoint>(Encoding.UTF8.GetString(arrays.Require(path, StateKey).Bytes), TrainingOptions.JsonOptions)
            ?? throw new DataFormatException(path, "holds no training state");
    }

    private static NpyArray ToArray(Tensor tensor)
    {
        using var cpu = tensor.detach().cpu().contiguous();
        var shape = cpu.shape;
        return cpu.dtype switch
        {
            ScalarType.Float32 => NpyArray.Of(cpu.data<float>().ToArray(), shape),
            ScalarType.Int64 => NpyArray.Of(cpu.data<long>().ToArray(), shape),
            _ => throw new InvalidOperationException($"cannot checkpoint a {cpu.dtype} tensor"),
        };
    }

    private static void Restore(string path, NpyArray array, Tensor target)
    {
        if (!array.Shape.SequenceEqual(target.shape))
        {
            throw new DataFormatException(path, $"a saved tensor has shape ({string.Join(", ", array.Shape)}), the model needs ({string.Join(", ", target.shape)})");
        }
        using var source = target.dtype == ScalarType.Int64
            ? tensor(array.ToInt64(), target.shape)
            : tensor(array.ToFloat32(), target.shape);
        target.copy_(source);
    }
}
