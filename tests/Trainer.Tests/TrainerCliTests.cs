using RobustEval.Cli;
using RobustEval.Data;
using RobustEval.Tests;
using RobustEval.Trainer.Cli;

namespace RobustEval.Trainer.Tests;

/// <summary>Bad input to <c>trainer train</c>: one line on stderr, exit code 2, nothing written.</summary>
[TestClass]
public sealed class TrainerCliTests
{
    private static (int Code, string Error) Run(params string[] args)
    {
        var error = new StringWriter();
        int code = CommandLineApp.Run(TrainerCli.Create(), args, error);
        return (code, error.ToString());
    }

    private static void AssertRefused(string expected, params string[] args)
    {
        using var dir = new TempDirectory();
        var npz = dir.File("three-classes.npz");
        DatasetNpz.Save(npz, SyntheticData.Bars(6, seed: 1, classes: 3));
        DatasetNpz.Save(dir.File("ten-classes.npz"), SyntheticData.Bars(20, seed: 1));
        var resolved = args.Select(a => a.Replace("{dir}", dir.Path, StringComparison.Ordinal)).ToArray();
        var (code, error) = Run(resolved);
        Assert.AreEqual(2, code, error);
        Assert.AreEqual(1, error.Trim().Split('\n').Length, $"one line: {error}");
        StringAssert.Contains(error, expected);
        CollectionAssert.AreEquivalent(new[] { "three-classes.npz", "ten-classes.npz" }, Directory.GetFiles(dir.Path).Select(Path.GetFileName).ToArray(),
            "nothing written");
    }

    [TestMethod]
    public void AnExistingModelIsNotOverwrittenWithoutForce()
    {
        using var dir = new TempDirectory();
        var model = dir.File("trained.onnx");
        File.WriteAllText(model, "a trained model");
        File.WriteAllText(dir.File("trained.metrics.jsonl"), "its log");
        var (code, error) = Run("train", "--data", dir.File("missing.npz"), "--out", model);
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, "already exists; pass --force");
        Assert.AreEqual("a trained model", File.ReadAllText(model));
        Assert.AreEqual("its log", File.ReadAllText(dir.File("trained.metrics.jsonl")));
        // With --force the refusal is gone: the run goes on to the next problem (here the missing data).
        (code, error) = Run("train", "--data", dir.File("missing.npz"), "--out", model, "--force");
        Assert.AreEqual(2, code, error);
        Assert.DoesNotContain("already exists", error);
    }

    [TestMethod]
    public void UnknownArchitecture() => AssertRefused("unknown architecture 'resnet'", "train", "--arch", "resnet", "--out", "{dir}/m.onnx");

    [TestMethod]
    public void UnknownMethod() => AssertRefused("unknown method 'fgsm'", "train", "--method", "fgsm", "--out", "{dir}/m.onnx");

    [TestMethod]
    public void UnknownNorm() => AssertRefused("unknown norm 'l3'", "train", "--method", "robust", "--norm", "l3", "--eps", "1", "--out", "{dir}/m.onnx");

    [TestMethod]
    public void NonPositiveEps() => AssertRefused("--eps must be > 0", "train", "--method", "robust", "--eps", "0", "--out", "{dir}/m.onnx");

    [TestMethod]
    public void EpsThatIsNotANumber() => AssertRefused("--eps 8/zero: not a number or a fraction such as 8/255", "train", "--method", "robust", "--eps", "8/zero", "--out", "{dir}/m.onnx");

    [TestMethod]
    public void FractionalStepSizeMustBePositive() =>
        AssertRefused("--step-size must be > 0", "train", "--method", "pgd", "--eps", "8/255", "--step-size", "-2/255", "--out", "{dir}/m.onnx");

    [TestMethod]
    public void MissingEps() => AssertRefused("needs --eps", "train", "--method", "pgd", "--out", "{dir}/m.onnx");

    [TestMethod]
    public void TooFewSteps() => AssertRefused("--steps must be at least 1", "train", "--method", "pgd", "--eps", "0.3", "--steps", "0", "--out", "{dir}/m.onnx");

    [TestMethod]
    public void ClassCountThatDoesNotFit() =>
        AssertRefused("has 10 classes but the training data has 3", "train", "--data", "{dir}/three-classes.npz",
            "--test-data", "{dir}/three-classes.npz", "--out", "{dir}/m.onnx");

    [TestMethod]
    public void ImageShapeThatDoesNotFit() =>
        AssertRefused("takes 3x32x32 images", "train", "--arch", "vgg-cifar", "--data", "{dir}/three-classes.npz",
            "--test-data", "{dir}/three-classes.npz", "--out", "{dir}/m.onnx");

    [TestMethod]
    public void UnwritableOutput() =>
        AssertRefused("cannot write", "train", "--data", "{dir}/ten-classes.npz", "--test-data", "{dir}/ten-classes.npz",
            "--arch", "shaham-mnist", "--limit", "3", "--out", "/proc/robusteval/m.onnx");

    [TestMethod]
    public void MissingRequiredOption() => AssertRefused("--out", "train");

    [TestMethod]
    public void UnknownOption() => AssertRefused("--frobnicate", "train", "--frobnicate", "--out", "{dir}/m.onnx");
}
