using System.CommandLine;
using RobustEval.Cli;

namespace RobustEval.Evaluator.Cli;

/// <summary>The evaluator's command line; Program.cs only runs it.</summary>
internal static class EvaluatorCli
{
    public static RootCommand Create() => new("""
        RobustEval evaluator: white-box adversarial attacks on any ONNX image classifier, and AutoAttack (autoattack) for
        a robustness number to report. The gradient of the loss is computed by a gradient graph built from the model's
        own ONNX graph (standard ops only), run by ONNX Runtime; Square needs forward passes only.
        """)
    {
        AttackCommand.Create(),
        AutoAttackCommand.Create(),
        MergeCommand.Create(),
        SweepCommand.Create(),
        TransferCommands.CreateBuild(),
        TransferCommands.CreateEval(),
        ReportCommand.Create(),
        GradientGraphCommand.Create(),
        InspectCommand.Create(),
        OpsCommand.Create(),
        DataCommands.Create(),
    };
}
