using System.CommandLine;
using System.Globalization;
using RobustEval.Cli;
using RobustEval.Data;
using RobustEval.Geometry;
using RobustEval.Trainer.Architectures;
using RobustEval.Trainer.Native;
using RobustEval.Trainer.Training;

namespace RobustEval.Trainer.Cli;

/// <summary><c>trainer train</c>: one network, one method, one ONNX file.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var arch = new Option<string>("--arch")
        {
            Description = $"Network: {string.Join(", ", ArchitectureCatalog.Names)}",
            DefaultValueFactory = _ => ArchitectureCatalog.ShahamMnist,
        };
        var data = new Option<string>("--data")
        {
            Description = "Training data: mnist, fashion-mnist, cifar10 (their train/test splits), or an .npz of training images (then give --test-data)",
            DefaultValueFactory = _ => KnownDatasets.Mnist,
        };
        var testData = new Option<string?>("--test-data") { Description = "Test data .npz (with an .npz --data)" };
        var method = new Option<string>("--method")
        {
            Description = "standard | robust (Shaham et al. Algorithm 1) | mix (Goodfellow et al. eq. 3) | pgd (Madry et al.) | dynamic (Wang et al., FOSC)",
            DefaultValueFactory = _ => "standard",
        };
        var norm = new Option<string>("--norm")
        {
            Description = "Ball of the perturbation: l1 (single pixel), l2, linf",
            DefaultValueFactory = _ => "linf",
        };
        var eps = new Option<string?>("--eps") { Description = "Radius of the ball in [0,1] pixel units, a number or a fraction such as 8/255 (required by adversarial methods)" };
        var clip = new Option<bool>("--clip")
        {
            Description = "robust/mix: keep perturbed inputs in [0,1], with the evaluator's box-aware step (off by default, as in the paper's scripts)",
        };
        var pixels = new Option<int>("--pixels") { Description = "l1 steps change this many coordinates", DefaultValueFactory = _ => 1 };
        var alpha = new Option<double>("--alpha") { Description = "mix: weight of the clean loss", DefaultValueFactory = _ => 0.5 };
        var steps = new Option<int>("--steps") { Description = "pgd/dynamic: PGD steps per batch", DefaultValueFactory = _ => 10 };
        var stepSize = new Option<string?>("--step-size") { Description = "pgd/dynamic: step size, e.g. 0.075 or 2/255 (default eps/4, as Wang et al.)" };
        var cMax = new Option<double>("--c-max") { Description = "dynamic: FOSC threshold at epoch 0", DefaultValueFactory = _ => 0.5 };
        var ramp = new Option<double?>("--ramp-epochs") { Description = "dynamic: epoch T' at which the threshold reaches 0 (default 5/6 of --epochs)" };
        var epochs = new Option<int?>("--epochs") { Description = "Epochs (default: the architecture's recipe; shaham-mnist 40, small-cnn 40, vgg-cifar 300)" };
        var batch = new Option<int?>("--batch") { Description = "Minibatch size (default: shaham-mnist 100, small-cnn 128, vgg-cifar 128)" };
        var lr = new Option<double?>("--lr") { Description = "Learning rate (default: shaham-mnist 0.01, small-cnn 0.01, vgg-cifar 0.1)" };
        var momentum = new Option<double?>("--momentum") { Description = "SGD momentum (default 0.9)" };
        var weightDecay = new Option<double?>("--weight-decay") { Description = "Weight decay (default: shaham-mnist 1e-3, small-cnn 1e-4, vgg-cifar 5e-4)" };
        var schedule = new Option<string?>("--lr-schedule")
        {
            Description = "constant | step:EVERY:GAMMA | multistep:E1,E2:GAMMA (default: vgg-cifar step:25:0.5, others constant)",
        };
        var limit = new Option<int?>("--limit") { Description = "Use only the first N training images (quick runs)" };
        var seed = new Option<int>("--seed") { Description = "Seed of initialisation, shuffling and random starts", DefaultValueFactory = _ => 1 };
        var threads = new Option<int>("--threads") { Description = "CPU threads for libtorch (0: libtorch's default)", DefaultValueFactory = _ => 0 };
        var device = new Option<string>("--device") { Description = "auto | cpu | cuda", DefaultValueFactory = _ => "auto" };
        device.AcceptOnlyFromAmong("auto", "cpu", "cuda");
        var output = new Option<string>("--out", "-o") { Description = "Output .onnx; the metrics log and checkpoint go beside it", Required = true };
        var resume = new Option<bool>("--resume") { Description = "Continue an interrupted run from its last complete epoch" };
        var force = new Option<bool>("--force") { Description = "Replace an existing OUT.onnx and its metrics log (refused otherwise)" };
        var name = new Option<string?>("--name") { Description = "Model name for the card (default: the file name)" };

        var command = new Command("train", """
            Train a network and export it to ONNX with a model card. Writes OUT.onnx when training finishes (never
            half-written), OUT.metrics.jsonl after every epoch, and OUT.ckpt (deleted at the end) so that --resume can
            continue a killed run with the same result.
            """)
        {
            arch, data, testData, method, norm, eps, clip, pixels, alpha, steps, stepSize, cMax, ramp, epochs, batch, lr, momentum,
            weightDecay, schedule, limit, seed, threads, device, output, resume, force, name,
        };
        command.SetAction(parse =>
        {
            var spec = ArchitectureCatalog.Get(parse.GetValue(arch)!);
            var defaults = spec.Defaults;
            var chosenMethod = TrainingMethods.Parse(parse.GetValue(method)!);
            var chosenNorm = NormKinds.TryParse(parse.GetValue(norm)!)
                ?? throw new UserErrorException($"unknown norm '{parse.GetValue(norm)}' (use l1, l2 or linf)");
            double radius = parse.GetValue(eps) is { } epsText ? Fractions.ParsePositive(epsText, "--eps") : 0;
            if (chosenMethod.IsAdversarial() && parse.GetValue(eps) is null)
            {
                throw new UserErrorException($"--method {chosenMethod.Name()} needs --eps");
            }
            var paths = new TrainingPaths(parse.GetValue(output)!);
            paths.EnsureWritable();
            if (File.Exists(paths.Model) && !parse.GetValue(force))
            {
                throw new UserErrorException($"--out {paths.Model} already exists; pass --force to replace it (and its metrics log), or write elsewhere");
            }
            var (trainSet, testSet, dataName) = LoadData(parse.GetValue(data)!, parse.GetValue(testData), parse.GetValue(limit));
            var options = new TrainingOptions
            {
                Architecture = spec.Name,
                Method = chosenMethod,
                Norm = chosenNorm,
                Eps = radius,
                Clip = parse.GetValue(clip),
                Pixels = parse.GetValue(pixels),
                Alpha = parse.GetValue(alpha),
                Steps = parse.GetValue(steps),
                StepSize = parse.GetValue(stepSize) is { } stepText ? Fractions.ParsePositive(stepText, "--step-size") : radius / 4,
                CMax = parse.GetValue(cMax),
                RampEpochs = parse.GetValue(ramp) ?? 0,
                Epochs = parse.GetValue(epochs) ?? defaults.Epochs,
                BatchSize = parse.GetValue(batch) ?? defaults.BatchSize,
                LearningRate = parse.GetValue(lr) ?? defaults.LearningRate,
                Momentum = parse.GetValue(momentum) ?? defaults.Momentum,
                WeightDecay = parse.GetValue(weightDecay) ?? defaults.WeightDecay,
                Schedule = parse.GetValue(schedule) ?? defaults.Schedule,
                Seed = parse.GetValue(seed),
                Data = dataName,
            };
            options.Validate(spec, trainSet, testSet);
            var torchDevice = TorchRuntime.Initialize(parse.GetValue(device)!, parse.GetValue(threads));
            Console.WriteLine($"training {spec.Name} ({options.Method.Name()}{Describe(options)}) on {trainSet.Count:N0} images " +
                $"({trainSet.Source}), testing on {testSet.Count:N0}, device {torchDevice.type.ToString().ToLowerInvariant()}");
            var result = ConsoleTrainingProgress.Run(progress => new TrainingRun(options, trainSet, testSet, torchDevice, paths, progress,
                parse.GetValue(name)).Run(parse.GetValue(resume)));
            Console.WriteLine($"wrote {paths.Model} (clean test accuracy {result.TestAccuracy:P2}) and {paths.Metrics}");
            return 0;
        });
        return command;
    }

    private static string Describe(TrainingOptions o) => o.Method switch
    {
        TrainingMethod.Standard => "",
        TrainingMethod.Robust or TrainingMethod.Mix => $", {o.Norm.Symbol()} eps {o.Eps.ToString(CultureInfo.InvariantCulture)}{(o.Clip ? ", clipped" : "")}",
        _ => $", {o.Norm.Symbol()} eps {o.Eps.ToString(CultureInfo.InvariantCulture)}, {o.Steps} steps of {o.StepSize.ToString(CultureInfo.InvariantCulture)}",
    };

    /// <summary>The train and test splits for a data option: a known name, or an .npz pair.</summary>
    public static (Dataset Train, Dataset Test, string Name) LoadData(string data, string? testData, int? limit)
    {
        var catalog = new DatasetCatalog(DataDirectories.Default());
        Dataset train, test;
        string name;
        if (KnownDatasets.Names.Contains(data))
        {
            train = catalog.Load($"{data}-train").Data;
            test = catalog.Load($"{data}-test").Data;
            name = data;
        }
        else
        {
            if (testData is null)
            {
                throw new UserErrorException($"--data {data} is a file: give the test images with --test-data");
            }
            train = catalog.Load(data).Data;
            test = catalog.Load(testData, classNames: train.ClassNames).Data;
            name = Path.GetFileName(data);
        }
        if (limit is { } n)
        {
            if (n < 1)
            {
                throw new UserErrorException($"--limit must be at least 1 (got {n})");
            }
            train = train.Take(n);
        }
        return (train, test, name);
    }
}
