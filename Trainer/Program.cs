using System.CommandLine;
using RobustEval.Cli;
using RobustEval.Trainer.Cli;

var root = new RootCommand("""
    RobustEval trainer: the baseline and adversarially robust nets of Shaham et al. ("Understanding Adversarial
    Training", Algorithm 1) and Wang et al. (FOSC-controlled dynamic training), trained with TorchSharp and exported
    to ONNX with a model card.
    """)
{
    TrainCommand.Create(),
    DataCommands.Create(),
};
return CommandLineApp.Run(root, args);
