using System.Reflection;

namespace RobustEval.Evaluator;

internal static class EvaluatorInfo
{
    public static string Version { get; } =
        typeof(EvaluatorInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";
}
