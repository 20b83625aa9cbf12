using RobustEval.Trainer.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace RobustEval.Trainer.Tests;

/// <summary>Proof that libtorch loads on this machine (Debian 12's libstdc++ included) and computes real gradients.</summary>
[TestClass]
public sealed class TorchSharpLoadsTests
{
    [TestMethod]
    public void SmallModuleForwardAndBackwardGiveTheAnalyticGradient()
    {
        TorchRuntime.EnsureLoadable();
        var linear = nn.Linear(3, 1);
        using (no_grad())
        {
            linear.weight!.copy_(tensor(new float[] { 0.5f, -1f, 2f }).view(1, 3));
            linear.bias!.copy_(tensor(new float[] { 0.25f }));
        }
        var x = tensor(new float[] { 1f, 2f, 3f, -1f, 0f, 1f }, [2, 3], requires_grad: true);
        // L = Σ (w·x + b)²  ⇒  ∂L/∂x = 2 (w·x + b) w
        var output = linear.forward(x);
        var loss = output.pow(2).sum();
        loss.backward();
        var gradient = x.grad!.data<float>().ToArray();
        float first = 0.5f * 1 - 1f * 2 + 2f * 3 + 0.25f;   // 4.75
        float second = 0.5f * -1 + 0 + 2f * 1 + 0.25f;     // 1.75
        float[] expected = [2 * first * 0.5f, 2 * first * -1f, 2 * first * 2f, 2 * second * 0.5f, 2 * second * -1f, 2 * second * 2f];
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.AreEqual(expected[i], gradient[i], 1e-5f, $"∂L/∂x[{i}]");
        }
        Assert.AreEqual(first * first + second * second, loss.item<float>(), 1e-4f);
    }

    [TestMethod]
    public void BuildOutputNeedsNoPatchAnyMore()
    {
        var system = GlibcxxVersionPatcher.FindSystemLibStdCxx();
        var library = Directory.GetFiles(AppContext.BaseDirectory, "libLibTorchSharp.so", SearchOption.AllDirectories).FirstOrDefault();
        if (system is null || library is null)
        {
            Assert.Inconclusive("not a Linux build with TorchSharp's native library");
        }
        Assert.IsFalse(GlibcxxVersionPatcher.NeedsPatch(library, system),
            $"{library} still names a libstdc++ version {system} lacks: the build's patch step did not run");
        StringAssert.StartsWith(GlibcxxVersionPatcher.Patch(library, system), "nothing to patch", "the patch is idempotent");
    }

    [TestMethod]
    public void ElfHashMatchesKnownValues()
    {
        // The vd_hash values Debian 12's libstdc++.so.6 stores in its .gnu.version_d entries.
        Assert.AreEqual(0x08922974u, GlibcxxVersionPatcher.ElfHash("GLIBCXX_3.4"));
        Assert.AreEqual(0x0297f840u, GlibcxxVersionPatcher.ElfHash("GLIBCXX_3.4.30"));
        Assert.AreEqual(0x056bafd3u, GlibcxxVersionPatcher.ElfHash("CXXABI_1.3"));
    }
}
