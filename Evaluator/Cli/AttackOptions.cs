using System.CommandLine;
using RobustEval.Evaluator.Attacks;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Cli;

/// <summary>The options that define an attack, shared by <c>attack</c> and <c>sweep</c>.</summary>
internal sealed class AttackOptions
{
    /// <summary>Default radii: those of the project's MNIST transfer set (pixel units).</summary>
    public static float DefaultEps(NormKind norm) => norm switch
    {
        NormKind.L1 => 1.0f,
        NormKind.L2 => 1.5f,
        _ => 0.1f,
    };

    public Option<string> Norm { get; } = new("--norm")
    {
        Description = "Ball of the perturbation: l1 (single pixel for fgm), l2, linf",
        Required = true,
    };

    public Option<string> Attack { get; } = new("--attack")
    {
        Description = "fgm: one steepest-ascent step of size eps (Shaham et al. eq. 11; FGSM for linf) | pgd: random start, --steps projected steps, --restarts",
        DefaultValueFactory = _ => "fgm",
    };

    public Option<int> Steps { get; } = new("--steps") { Description = "pgd: steps", DefaultValueFactory = _ => 40 };

    public Option<float?> StepSize { get; } = new("--step-size") { Description = "pgd: step size (default eps/4)" };

    public Option<int> Restarts { get; } = new("--restarts") { Description = "pgd: random restarts; each example keeps its worst case", DefaultValueFactory = _ => 1 };

    public Option<int> Pixels { get; } = new("--pixels") { Description = "l1: coordinates changed per step (1: the single-pixel attack)", DefaultValueFactory = _ => 1 };

    public Option<int> Seed { get; } = new("--seed") { Description = "Seed of the random starts", DefaultValueFactory = _ => 1 };

    public Option<int> Batch { get; } = new("--batch") { Description = "Images per model evaluation", DefaultValueFactory = _ => 256 };

    public void AddTo(Command command)
    {
        Norm.AcceptOnlyFromAmong("l1", "l2", "linf");
        Attack.AcceptOnlyFromAmong("fgm", "pgd");
        foreach (var option in new Option[] { Norm, Attack, Steps, StepSize, Restarts, Pixels, Seed, Batch })
        {
            command.Options.Add(option);
        }
    }

    public NormKind ChosenNorm(ParseResult parse) => NormKinds.Parse(parse.GetValue(Norm)!);

    /// <summary>The attack for radius <paramref name="eps"/>, checked.</summary>
    public AttackConfig Config(ParseResult parse, float eps)
    {
        var norm = ChosenNorm(parse);
        if (parse.GetValue(Batch) < 1)
        {
            throw new UserErrorException($"--batch must be at least 1 (got {parse.GetValue(Batch)})");
        }
        var config = parse.GetValue(Attack) == "pgd"
            ? Pgd.Config(norm, eps, parse.GetValue(Steps), parse.GetValue(StepSize) ?? eps / 4, parse.GetValue(Restarts), parse.GetValue(Pixels), parse.GetValue(Seed))
            : Fgm.Config(norm, eps, parse.GetValue(Pixels));
        config.Validate();
        return config;
    }
}
