using RobustEval.Cli;
using RobustEval.Evaluator.Cli;

return CommandLineApp.Run(EvaluatorCli.Create(), args);
