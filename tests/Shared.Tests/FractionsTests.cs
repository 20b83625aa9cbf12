using RobustEval.Cli;

namespace RobustEval.Tests;

[TestClass]
public sealed class FractionsTests
{
    [TestMethod]
    [DataRow("8/255", 8.0 / 255)]
    [DataRow("0.3", 0.3)]
    [DataRow(" 1e-3 ", 1e-3)]
    [DataRow("2/0.5", 4.0)]
    [DataRow("-1", -1.0)]
    public void ReadsNumbersAndFractions(string text, double expected) => Assert.AreEqual(expected, Fractions.TryParse(text)!.Value, 1e-15);

    [TestMethod]
    [DataRow("8/0")]
    [DataRow("a/b")]
    [DataRow("1/2/3")]
    [DataRow("")]
    [DataRow("Infinity")]
    [DataRow("NaN")]
    [DataRow("0,3")]
    public void RefusesEverythingElse(string text) => Assert.IsNull(Fractions.TryParse(text));

    [TestMethod]
    public void RadiiMustBePositive()
    {
        Assert.AreEqual(8.0 / 255, Fractions.ParsePositive("8/255", "--eps"), 1e-15);
        StringAssert.Contains(Assert.ThrowsExactly<UserErrorException>(() => Fractions.ParsePositive("0", "--eps")).Message, "--eps must be > 0");
        StringAssert.Contains(Assert.ThrowsExactly<UserErrorException>(() => Fractions.ParsePositive("x/255", "--step-size")).Message, "--step-size x/255: not a number");
    }
}
