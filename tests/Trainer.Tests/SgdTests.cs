using RobustEval.Trainer.Native;
using RobustEval.Trainer.Training;
using static TorchSharp.torch;

namespace RobustEval.Trainer.Tests;

/// <summary>
/// The optimiser keeps parameters, gradients and momentum in flat tensors with the parameters as views: checked
/// against PyTorch's momentum formula computed by hand, and that gradients from backward land where it reads them.
/// </summary>
[TestClass]
public sealed class SgdTests
{
    [TestMethod]
    public void StepsFollowTheMomentumFormulaWithGradientsFromBackward()
    {
        TorchRuntime.EnsureLoadable();
        using var linear = nn.Linear(3, 2);
        using (no_grad())
        {
            linear.weight!.copy_(tensor(new float[] { 0.5f, -1f, 2f, 0.25f, 0f, -0.75f }).view(2, 3));
            linear.bias!.copy_(tensor(new float[] { 0.1f, -0.2f }));
        }
        const double momentum = 0.9, decay = 0.01, rate = 0.1;
        using var sgd = new Sgd(linear.parameters(), momentum, decay);
        float[] x = [1f, 2f, -3f];
        using var input = tensor(x, [1, 3]);

        // Reference: L = Σ (W·x + b) ⇒ ∂L/∂W[i, j] = x[j], ∂L/∂b[i] = 1; buf ← μ·buf + g + λθ; θ ← θ − lr·buf.
        double[] w = [0.5, -1, 2, 0.25, 0, -0.75], b = [0.1, -0.2];
        double[] bufferW = new double[6], bufferB = new double[2];
        for (int step = 0; step < 3; step++)
        {
            sgd.ZeroGrad();
            CollectionAssert.AreEqual(new float[6], linear.weight!.grad!.data<float>().ToArray(), "ZeroGrad clears the gradient");
            linear.forward(input).sum().backward();
            CollectionAssert.AreEqual(new[] { 1f, 2f, -3f, 1f, 2f, -3f }, linear.weight.grad!.data<float>().ToArray(), "backward fills the gradient views");
            sgd.Step(rate);
            for (int i = 0; i < 6; i++)
            {
                bufferW[i] = momentum * bufferW[i] + x[i % 3] + decay * w[i];
                w[i] -= rate * bufferW[i];
            }
            for (int i = 0; i < 2; i++)
            {
                bufferB[i] = momentum * bufferB[i] + 1 + decay * b[i];
                b[i] -= rate * bufferB[i];
            }
            AssertClose(w, linear.weight.data<float>().ToArray());
            AssertClose(b, linear.bias!.data<float>().ToArray());
            AssertClose(bufferW, sgd.Buffers[0].data<float>().ToArray());
        }
    }

    private static void AssertClose(double[] expected, float[] actual)
    {
        Assert.HasCount(expected.Length, actual);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.AreEqual(expected[i], actual[i], 1e-5, $"element {i}");
        }
    }
}
