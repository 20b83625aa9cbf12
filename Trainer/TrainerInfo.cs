using System.Reflection;

namespace RobustEval.Trainer;

internal static class TrainerInfo
{
    public static string Version { get; } =
        typeof(TrainerInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? "0.0.0";
}
