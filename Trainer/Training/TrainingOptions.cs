using System.Text.Json;
using System.Text.Json.Serialization;
using RobustEval.Data;
using RobustEval.Geometry;
using RobustEval.Trainer.Architectures;

namespace RobustEval.Trainer.Training;

/// <summary>Everything that determines a training run's result (the device and thread count aside).</summary>
internal sealed record TrainingOptions
{
    public required string Architecture { get; init; }

    public TrainingMethod Method { get; init; } = TrainingMethod.Standard;

    public NormKind Norm { get; init; } = NormKind.Linf;

    public double Eps { get; init; }

    /// <summary>Algorithm 1 / mix: keep perturbed inputs inside [0, 1]. Off by default, as in the paper's scripts.</summary>
    public bool Clip { get; init; }

    /// <summary>ℓ1 steps change this many coordinates (1: the single-pixel step).</summary>
    public int Pixels { get; init; } = 1;

    public double Alpha { get; init; } = 0.5;

    public int Steps { get; init; } = 10;

    public double StepSize { get; init; }

    public double CMax { get; init; } = 0.5;

    /// <summary>T′: the epoch at which the FOSC threshold reaches zero.</summary>
    public double RampEpochs { get; init; }

    public int Epochs { get; init; }

    public int BatchSize { get; init; }

    public double LearningRate { get; init; }

    public double Momentum { get; init; }

    public double WeightDecay { get; init; }

    public string Schedule { get; init; } = "constant";

    public int Seed { get; init; } = 1;

    /// <summary>The data, in words (the fingerprint must change when the data does).</summary>
    public string Data { get; init; } = "";

    [JsonIgnore]
    public LearningRateSchedule LearningRates => LearningRateSchedule.Parse(Schedule, LearningRate);

    [JsonIgnore]
    public TensorBall Ball => new(Norm, Pixels);

    /// <summary>A stable description of the run: a checkpoint resumes only a run with the same one.</summary>
    public string Fingerprint() => JsonSerializer.Serialize(this, JsonOptions);

    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    /// <summary>Refuses settings that cannot train, with the one-line reason.</summary>
    public void Validate(NetworkSpec spec, Dataset train, Dataset test)
    {
        if (Epochs < 1)
        {
            throw new UserErrorException($"--epochs must be at least 1 (got {Epochs})");
        }
        if (BatchSize < 1)
        {
            throw new UserErrorException($"--batch must be at least 1 (got {BatchSize})");
        }
        if (LearningRate <= 0 || Momentum < 0 || Momentum >= 1 || WeightDecay < 0)
        {
            throw new UserErrorException("--lr must be > 0, --momentum in [0, 1) and --weight-decay ≥ 0");
        }
        _ = LearningRates;
        if (Method.IsAdversarial() && !(Eps > 0))
        {
            throw new UserErrorException($"--eps must be > 0 for --method {Method.Name()} (got {Eps})");
        }
        if (Method.IsIterative() && Steps < 1)
        {
            throw new UserErrorException($"--steps must be at least 1 (got {Steps})");
        }
        if (Method.IsIterative() && !(StepSize > 0))
        {
            throw new UserErrorException($"--step-size must be > 0 (got {StepSize})");
        }
        if (Method == TrainingMethod.Mix && Alpha is < 0 or > 1)
        {
            throw new UserErrorException($"--alpha must be in [0, 1] (got {Alpha})");
        }
        if (Pixels < 1)
        {
            throw new UserErrorException($"--pixels must be at least 1 (got {Pixels})");
        }
        foreach (var (data, role) in new[] { (train, "training"), (test, "test") })
        {
            if ((data.Channels, data.Height, data.Width) != (spec.Channels, spec.Height, spec.Width))
            {
                throw new UserErrorException(
                    $"{spec.Name} takes {spec.Channels}x{spec.Height}x{spec.Width} images but the {role} data ({data.Source}) has {data.Channels}x{data.Height}x{data.Width}");
            }
            if (data.ClassCount != spec.Classes)
            {
                throw new UserErrorException($"{spec.Name} has {spec.Classes} classes but the {role} data has {data.ClassCount}");
            }
        }
    }
}
