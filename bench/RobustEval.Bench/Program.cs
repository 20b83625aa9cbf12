using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RobustEval.Bench;
using RobustEval.Data;
using RobustEval.Evaluator.Attacks;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Runtime;
using RobustEval.Geometry;
using RobustEval.ModelCards;
using RobustEval.Onnx;
using RobustEval.Trainer.Architectures;
using RobustEval.Trainer.Export;
using RobustEval.Trainer.Native;
using RobustEval.Trainer.Training;

// bench/run.sh runs this from the repository root. Each benchmark alternates RobustEval and the PyTorch reference
// (bench/reference.py) for several rounds in this one process run, and reports the median of each and their ratio.
var options = BenchOptions.Parse(args);
if (options.TimeGraph is { } graphFile)
{
    Profile.Graph(graphFile, options.Batch, options.Threads, 20);
    return 0;
}
var root = Directory.GetCurrentDirectory();
var work = Directory.CreateTempSubdirectory("robusteval-bench-").FullName;
// The torchvision nets a run selected, for their peak-memory rows.
var torchvisionMemory = new List<(string Label, string Model, string Data, float Eps, int Batch)>();
try
{
    var mnistModel = Path.Combine(root, "Models", "mnist-baseline.onnx");
    if (!File.Exists(mnistModel))
    {
        Console.Error.WriteLine($"{mnistModel} is missing: run reports/reproduce.sh mnist first");
        return 2;
    }
    var catalog = new DatasetCatalog(DataDirectories.Default());
    var test = catalog.Load("mnist-test").Data;
    var train = catalog.Load("mnist-train").Data;
    if (options.TrainImages > 0)
    {
        // More images per epoch than the npm digits hold (a GPU finishes 8,000 in milliseconds): the set, repeated.
        var source = train;
        train = source.Subset(Enumerable.Range(0, options.TrainImages).Select(i => i % source.Count).ToList());
    }
    var testFile = Path.Combine(work, "mnist-test.npz");
    var trainFile = Path.Combine(work, "mnist-train.npz");
    DatasetNpz.Save(testFile, test);
    DatasetNpz.Save(trainFile, train);
    var trainDevice = TorchRuntime.Initialize(options.Device, options.Cuda ? 0 : options.Threads);
    if (options.Cuda)
    {
        // The trainer on the GPU (the evaluator's CUDA path needs the GPU ONNX Runtime package; see bench/NOTES.md).
        return Run(
        [
            Benchmark.Training("standard epoch", "shaham-mnist", options.TrainBatch, TrainingMethod.Standard, train, test, work, mnistModel, trainFile, trainDevice),
            Benchmark.Training("robust epoch (linf)", "shaham-mnist", options.TrainBatch, TrainingMethod.Robust, train, test, work, mnistModel, trainFile, trainDevice),
        ], $"{Reference.CudaDevice()}, ");
    }
    var vggModel = Path.Combine(work, "vgg-cifar.onnx");
    TorchSharp.torch.manual_seed(1);
    using (var vgg = new Network(ArchitectureCatalog.Get(ArchitectureCatalog.VggCifar)))
    {
        vgg.eval();
        OnnxFiles.Save(OnnxExporter.Export(vgg, new ModelCard { Name = "vgg-cifar (random weights)", Architecture = ArchitectureCatalog.VggCifar }), vggModel);
    }
    var cifar = RandomImages(64, 3, 32, 32);
    var cifarFile = Path.Combine(work, "cifar-random.npz");
    DatasetNpz.Save(cifarFile, cifar);

    if (options.Profile is { } profile)
    {
        // --profile ATTACK[:NET]: the MNIST net by default (PGD-40 at ε 0.1), or a torchvision net at 32×32 (PGD-10 at ε 8/255, batch 64).
        var (profiled, net) = profile.Split(':') is [var a, var n] ? (a, n) : (profile, "shaham-mnist");
        if (net == "shaham-mnist")
        {
            var config = Attack(profiled, NormKind.Linf, 0.1f, profiled == "fgm" ? null : profiled == "pgd" ? 40 : 100, profiled == "apgd" ? false : null);
            Profile.Attack(mnistModel, test, config, 256, options.Threads, profiled == "fgm" ? 20 : 1);
        }
        else
        {
            var directory = ExportTorchvision(root, work, net, 64);
            var config = Attack(profiled, NormKind.Linf, 8 / 255f, profiled == "fgm" ? null : 10, profiled == "apgd" ? false : null);
            Profile.Attack(Path.Combine(directory, "model.onnx"), catalog.Load(Path.Combine(directory, "data.npz")).Data, config, 64, options.Threads,
                profiled == "fgm" ? 5 : 1);
        }
        return 0;
    }
    var sessions = new OrtSessions(DeviceChoice.Cpu, options.Threads);
    var mnist = ClassifierLoader.Load(mnistModel, null, sessions);
    // AutoAttack on the shipped PGD-trained net (the case it is for: most points survive the first attack), 100 digits.
    var pgdModel = Path.Combine(root, "Models", "mnist-pgd-linf.onnx");
    var pgdNet = ClassifierLoader.Load(pgdModel, null, sessions);
    var digits = catalog.Load(Path.Combine(root, "Models", "mnist-sample.npz")).Data.Take(100);
    var digitsFile = Path.Combine(work, "mnist-100.npz");
    DatasetNpz.Save(digitsFile, digits);
    var vggClassifier = ClassifierLoader.Load(vggModel, null, sessions);
    var benchmarks = new List<Benchmark>
    {
        Benchmark.Inference("forward", "shaham-mnist", 256, mnist, test, sessions, mnistModel, testFile),
        Benchmark.Attack("fgsm", "shaham-mnist", 256, mnist, test, sessions, Attack("fgm", NormKind.Linf, 0.1f), mnistModel, testFile,
            ["fgm", "--norm", "linf", "--eps", "0.1"]),
        Benchmark.Attack("fgsm", "shaham-mnist", 512, mnist, test, sessions, Attack("fgm", NormKind.Linf, 0.1f), mnistModel, testFile,
            ["fgm", "--norm", "linf", "--eps", "0.1"]),
        Benchmark.Attack("pgd-40 linf", "shaham-mnist", 256, mnist, test, sessions, Attack("pgd", NormKind.Linf, 0.1f, 40), mnistModel, testFile,
            ["pgd", "--norm", "linf", "--eps", "0.1", "--steps", "40"]),
        Benchmark.Attack("pgd-40 l1", "shaham-mnist", 256, mnist, test, sessions, Attack("pgd", NormKind.L1, 1.0f, 40), mnistModel, testFile,
            ["pgd", "--norm", "l1", "--eps", "1.0", "--steps", "40"]),
        // Every example takes all 100 iterations (no early stopping), so images/s measure the cost per iteration;
        // the reference implements the same algorithm (Croce & Hein 2020, Algorithm 1) in PyTorch.
        Benchmark.Attack("apgd-100 linf", "shaham-mnist", 256, mnist, test, sessions, Attack("apgd", NormKind.Linf, 0.1f, 100, earlyStop: false), mnistModel,
            testFile, ["apgd", "--norm", "linf", "--eps", "0.1", "--steps", "100"]),
        Benchmark.AutoAttack("mnist-pgd-linf", pgdNet, digits, sessions, 0.3f, pgdModel, digitsFile),
        Benchmark.Inference("forward", "vgg-cifar", 64, vggClassifier, cifar, sessions, vggModel, cifarFile),
        Benchmark.Attack("fgsm", "vgg-cifar", 64, vggClassifier, cifar, sessions, Attack("fgm", NormKind.Linf, 8 / 255f), vggModel, cifarFile,
            ["fgm", "--norm", "linf", "--eps", (8 / 255f).ToString(CultureInfo.InvariantCulture)]),
        Benchmark.Training("standard epoch", "shaham-mnist", options.TrainBatch, TrainingMethod.Standard, train, test, work, mnistModel, trainFile, trainDevice),
        Benchmark.Training("robust epoch (linf)", "shaham-mnist", options.TrainBatch, TrainingMethod.Robust, train, test, work, mnistModel, trainFile, trainDevice),
    };
    // The nets people attack today (issue "Any ONNX classifier"): ViT-small (DeiT-S) and ConvNeXt-small at 224×224,
    // random weights, exported by PyTorch's exporter at opset 17 from tests/Evaluator.Tests/Reference/torchvision_models.py,
    // the reference running the same torchvision module; batches 8 and 4, ε 4/255. Minutes per round on two cores, so only
    // when --only names them. torchvision's resnet18 and mobilenet_v2 with 10 classes at 32×32 (issue 18's "nets users
    // bring"): ε 8/255 at batches 64 and 256; opt-in too (--only resnet, --only mobilenet_v2). Each: forward, FGSM and
    // PGD-10 (step ε/4).
    foreach (var (net, label, batches, eps) in new[]
    {
        ("vit-small", "vit-small", new[] { 8 }, 4 / 255f),
        ("convnext-small", "convnext-small", [4], 4 / 255f),
        ("resnet", "resnet18", [64, 256], 8 / 255f),
        ("mobilenet_v2", "mobilenet_v2", [64, 256], 8 / 255f),
    })
    {
        if (options.Only?.Any(o => label.Contains(o, StringComparison.OrdinalIgnoreCase) || o.Contains(label, StringComparison.OrdinalIgnoreCase)) != true)
        {
            continue;
        }
        var directory = ExportTorchvision(root, work, net, batches.Max());
        var model = Path.Combine(directory, "model.onnx");
        var dataFile = Path.Combine(directory, "data.npz");
        var classifier = ClassifierLoader.Load(model, null, sessions);
        var images = catalog.Load(dataFile).Data;
        torchvisionMemory.Add((label, model, dataFile, eps, batches.Max()));
        var radius = eps.ToString(CultureInfo.InvariantCulture);
        foreach (var batch in batches)
        {
            // The forward pass, so that a PGD step's cost can be read as a multiple of it (bench/NOTES.md).
            benchmarks.Add(Benchmark.Inference("forward", label, batch, classifier, images, sessions, model, dataFile, ["--torchvision", net]));
            benchmarks.Add(Benchmark.Attack("fgsm", label, batch, classifier, images, sessions, Attack("fgm", NormKind.Linf, eps), model, dataFile,
                ["fgm", "--norm", "linf", "--eps", radius, "--torchvision", net]));
            benchmarks.Add(Benchmark.Attack("pgd-10 linf", label, batch, classifier, images, sessions, Attack("pgd", NormKind.Linf, eps, 10), model, dataFile,
                ["pgd", "--norm", "linf", "--eps", radius, "--steps", "10", "--torchvision", net]));
        }
    }
    return Run(benchmarks, "");

    int Run(List<Benchmark> benchmarks, string where)
    {
        var selected = benchmarks.Where(b => options.Only is null || options.Only.Any(o => b.Id.Contains(o, StringComparison.OrdinalIgnoreCase))).ToList();

        Console.WriteLine($"RobustEval vs PyTorch {Reference.TorchVersion()} on this machine ({where}{Reference.Cpu()}, {Environment.ProcessorCount} cores), {options.Threads} threads each, " +
            $"{options.Rounds} alternating rounds of about {options.Seconds:F0} s; medians in images/s");
        // A slow reference round flatters RobustEval's median ratio ("vs fastest" divides our median by PyTorch's fastest
        // round): on the EPYC VM resnet18's PGD-10 reference gave 46–102 images/s across five rounds while it page-faulted
        // its temporaries (bench/NOTES.md, "A second machine"); reference.py now keeps freed memory, and the column stays
        // as a guard.
        Console.WriteLine($"{"benchmark",-44}{"RobustEval",12}{"PyTorch",12}{"ratio",8}{"vs fastest",12}");
        var rows = new List<object>();
        foreach (var benchmark in selected)
        {
            var ours = new List<double>();
            var theirs = new List<double>();
            for (int round = 0; round < options.Rounds; round++)
            {
                ours.Add(benchmark.RunOurs(options.Seconds));
                theirs.Add(benchmark.RunReference(options));
            }
            double a = Median(ours), b = Median(theirs), fastest = theirs.Max();
            Console.WriteLine($"{benchmark.Id,-44}{Rate(a),12}{Rate(b),12}{a / b,7:F2}x{a / fastest,11:F2}x");
            rows.Add(new { benchmark = benchmark.Id, robusteval = a, pytorch = b, ratio = a / b, ratio_vs_fastest_pytorch = a / fastest, robusteval_rounds = ours, pytorch_rounds = theirs });
        }
        PerIteration(rows, "pgd-40 linf shaham-mnist (batch 256)", 42, "apgd-100 linf shaham-mnist (batch 256)", 102);
        if (!options.Cuda && (options.Only is null || options.Only.Any(o => "memory".Contains(o, StringComparison.OrdinalIgnoreCase))))
        {
            var two = Path.Combine(work, "mnist-2000.npz");
            DatasetNpz.Save(two, test.Take(2000));
            long peak = PeakMemory.OfEvaluator(root, ["attack", mnistModel, "--norm", "linf", "--data", two, "--device", "cpu"]);
            MemoryRow("evaluator attack, 2,000 MNIST images", "peak memory of evaluator attack (2,000 images)", peak);
        }
        // Peak resident memory of the command on each torchvision net the run selected: PGD-10 over all its images at its largest batch.
        foreach (var (label, model, data, eps, batch) in torchvisionMemory)
        {
            long peak = PeakMemory.OfEvaluator(root, ["attack", model, "--data", data, "--norm", "linf", "--eps", eps.ToString(CultureInfo.InvariantCulture),
                "--attack", "pgd", "--steps", "10", "--batch", batch.ToString(CultureInfo.InvariantCulture), "--device", "cpu", "--out", Path.Combine(work, label + "-memory")]);
            MemoryRow($"evaluator attack, PGD-10, {label} (batch {batch})", $"peak memory of evaluator attack, PGD-10, {label} (batch {batch})", peak);
        }
        if (options.Output is not null)
        {
            File.WriteAllText(options.Output, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
        }
        return 0;

        void MemoryRow(string label, string benchmark, long peak)
        {
            Console.WriteLine($"{label,-44}{"peak RSS " + (peak / (1024.0 * 1024)).ToString("F0", CultureInfo.InvariantCulture) + " MB",24}");
            rows.Add(new { benchmark, bytes = peak });
        }
    }
}
finally
{
    Directory.Delete(work, recursive: true);
}

// APGD must cost no more per iteration than PGD: images/s times the evaluations each image costs (the clean one, the start,
// one per iteration; PGD: the clean one, one per step, the final one) gives iterations per second.
static void PerIteration(List<object> rows, string pgd, int pgdEvaluations, string apgd, int apgdEvaluations)
{
    double Rate(string id, string side) => rows.Select(r => JsonSerializer.SerializeToElement(r))
        .Where(r => r.GetProperty("benchmark").GetString() == id).Select(r => r.GetProperty(side).GetDouble()).FirstOrDefault();
    foreach (var side in new[] { "robusteval", "pytorch" })
    {
        double a = Rate(pgd, side) * pgdEvaluations, b = Rate(apgd, side) * apgdEvaluations;
        if (a > 0 && b > 0)
        {
            Console.WriteLine($"  {side}: an {apgd.Split(' ')[0]} {apgd.Split(' ')[1]} iteration costs {a / b:F2}x a {pgd.Split(' ')[0]} step ({b:N0} vs {a:N0} image-iterations/s)");
        }
    }
}

static AttackSettings Attack(string name, NormKind norm, float eps, int? steps = null, bool? earlyStop = null) =>
    AttackRegistry.Resolve(new AttackRequest { Name = name, Norm = norm, Eps = eps, Steps = steps, EarlyStop = earlyStop });

// Images/s to about three significant figures: the 224×224 nets run at about one image a second.
static string Rate(double imagesPerSecond) => imagesPerSecond.ToString(imagesPerSecond >= 100 ? "N0" : imagesPerSecond >= 10 ? "N1" : "N2", CultureInfo.InvariantCulture);

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}

// A net of tests/Evaluator.Tests/Reference/torchvision_models.py exported at opset 17 with `images` images to attack;
// returns the folder holding model.onnx and data.npz.
static string ExportTorchvision(string root, string work, string net, int images)
{
    var directory = Path.Combine(work, net);
    Directory.CreateDirectory(directory);
    Reference.Script([Path.Combine(root, "tests", "Evaluator.Tests", "Reference", "torchvision_models.py"), net, "17", directory, "--images",
        images.ToString(CultureInfo.InvariantCulture)]);
    return directory;
}

static Dataset RandomImages(int count, int channels, int height, int width)
{
    var random = new Random(3);
    var pixels = Enumerable.Range(0, count * channels * height * width).Select(_ => (float)random.NextDouble()).ToArray();
    var labels = Enumerable.Range(0, count).Select(i => (long)(i % 10)).ToArray();
    return new Dataset(pixels, labels, channels, height, width, Enumerable.Range(0, 10).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray(), "random pixels");
}
