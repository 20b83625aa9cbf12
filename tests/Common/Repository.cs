namespace RobustEval.Tests;

/// <summary>The clone the tests were built from: the folder holding RobustEval.sln above the test binaries.</summary>
internal static class Repository
{
    public static string Root { get; } = Find();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    private static string Find()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(directory.FullName, "RobustEval.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException($"no RobustEval.sln above {AppContext.BaseDirectory}");
    }
}
