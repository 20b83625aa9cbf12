using RobustEval.Cli;
using RobustEval.Trainer.Cli;

return CommandLineApp.Run(TrainerCli.Create(), args);
