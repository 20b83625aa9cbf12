using System.CommandLine;
using RobustEval.Cli;

namespace RobustEval.Trainer.Cli;

/// <summary>The trainer's command line; Program.cs only runs it.</summary>
internal static class TrainerCli
{
    public static RootCommand Create() => new("""
        RobustEval trainer: the baseline and adversarially robust nets of Shaham et al. ("Understanding Adversarial
        Training", Algorithm 1) and Wang et al. (FOSC-controlled dynamic training), trained with TorchSharp and exported
        to ONNX with a model card.
        """)
    {
        TrainCommand.Create(),
        DataCommands.Create(),
    };
}
