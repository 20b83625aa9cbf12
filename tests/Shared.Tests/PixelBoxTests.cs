using RobustEval.Geometry;

namespace RobustEval.Tests;

[TestClass]
public sealed class PixelBoxTests
{
    [TestMethod]
    public void MaskedL1StepPicksTheLargestPixelThatCanMove()
    {
        float[] x = [1f, 0.5f, 0f];
        float[] g = [0.9f, 0.2f, -0.8f]; // the two largest push pixels that already sit on the box's edge
        var masked = new float[3];
        PixelBox.Unit.MaskImmovable(x, g, masked);
        CollectionAssert.AreEqual(new[] { 0f, 0.2f, 0f }, masked);
        var delta = new float[3];
        new L1Ball().SteepestAscent(masked, 0.6f, delta);
        CollectionAssert.AreEqual(new[] { 0f, 0.6f, 0f }, delta);
    }

    [TestMethod]
    public void ClipsIntoTheBox()
    {
        float[] x = [-0.5f, 0.25f, 3f];
        PixelBox.Unit.Clip(x);
        CollectionAssert.AreEqual(new[] { 0f, 0.25f, 1f }, x);
    }
}
