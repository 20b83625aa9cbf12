using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using RobustEval.Data;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Runtime;
using RobustEval.Onnx;
using RobustEval.Tests;
using static RobustEval.Onnx.GraphBuilder;

namespace RobustEval.Evaluator.Tests;

/// <summary>Third-party shapes of classifier: old opsets, softmax outputs, channels-last and [0, 255] inputs, fixed batches.</summary>
[TestClass]
public sealed class ClassifierLoaderTests
{
    private static float[] Values(int seed, int count, double scale = 0.5)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();
    }

    /// <summary>A classifier in the style of an old exporter: opset 9, attribute forms, Dropout and a Softmax output.</summary>
    internal static ModelProto Opset9Classifier(object batch)
    {
        var graph = new GraphProto { Name = "old" };
        graph.Input.Add(TensorValue("image", TensorProto.Types.DataType.Float, batch, 1, 8, 8));
        var b = new GraphBuilder(graph);
        var conv = b.Add("Conv", ["image", b.Initializer("w", Values(1, 4 * 9), 4, 1, 3, 3), b.Initializer("cb", Values(2, 4), 4)], "conv",
            Attr("kernel_shape", [3L, 3]));
        var bn = b.Add("BatchNormalization", [conv, b.Initializer("s", Values(3, 4, 1), 4), b.Initializer("bb", Values(4, 4), 4),
            b.Initializer("m", Values(5, 4), 4), b.Initializer("v", [0.5f, 1f, 1.5f, 2f], 4)], "bn", Attr("epsilon", 1e-3f));
        var clip = b.Add("Clip", [bn], "clip", Attr("min", 0f), Attr("max", 0.8f));
        var pad = b.Add("Pad", [clip], "pad", Attr("pads", [0L, 0, 1, 0, 0, 0, 0, 1]), Attr("value", 0f), Attr("mode", "constant"));
        var slice = b.Add("Slice", [pad], "slice", Attr("starts", [1L]), Attr("ends", [6L]), Attr("axes", [2L]));
        var unsqueezed = b.Add("Unsqueeze", [slice], "unsq", Attr("axes", [0L]));
        var squeezed = b.Add("Squeeze", [unsqueezed], "sq", Attr("axes", [0L]));
        var pooled = b.Add("MaxPool", [squeezed], "pool", Attr("kernel_shape", [2L, 2]), Attr("strides", [2L, 2]));
        var flat = b.Add("Flatten", [pooled], "flat");
        var dense = b.Add("Gemm", [flat, b.Initializer("fw", Values(6, 3 * 4 * 2 * 3), 3, 4 * 2 * 3), b.Initializer("fb", Values(7, 3), 3)], "dense",
            Attr("transB", 1L));
        var dropped = b.AddMulti("Dropout", [dense], ["dropped", "mask"], Attr("ratio", 0.5f))[0];
        b.Add("Softmax", [dropped], "probabilities", Attr("axis", 1L));
        graph.Output.Add(TensorValue("probabilities", TensorProto.Types.DataType.Float, batch, 3));
        var model = new ModelProto { IrVersion = 4, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 9 });
        return model;
    }

    private static float[] RunOriginal(ModelProto model, string input, float[] x, long[] dims)
    {
        using var session = new InferenceSession(model.ToByteArray());
        using var value = OrtValue.CreateTensorValueFromMemory(x, dims);
        using var run = new RunOptions();
        using var outputs = session.Run(run, [input], [value], [session.OutputNames[0]]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static float[] Softmax(float[] logits, int classes)
    {
        var result = new float[logits.Length];
        for (int n = 0; n < logits.Length / classes; n++)
        {
            var row = logits.AsSpan(n * classes, classes);
            float max = 0;
            foreach (var v in row)
            {
                max = Math.Max(max, v);
            }
            double sum = 0;
            foreach (var v in row)
            {
                sum += Math.Exp(v - max);
            }
            for (int k = 0; k < classes; k++)
            {
                result[n * classes + k] = (float)(Math.Exp(row[k] - max) / sum);
            }
        }
        return result;
    }

    [TestMethod]
    public void Opset9ModelIsRaisedWithoutChangingItsOutputs()
    {
        using var dir = new TempDirectory();
        var path = dir.File("old.onnx");
        OnnxFiles.Save(Opset9Classifier("N"), path);
        var classifier = ClassifierLoader.Load(path, null, GradientChecker.Sessions);

        Assert.AreEqual("Softmax", classifier.StrippedOutputOp);
        Assert.AreEqual(9, classifier.OriginalOpset);
        Assert.AreEqual(17, OnnxFiles.DefaultOpset(classifier.Model));
        Assert.IsTrue(classifier.Notes.Any(n => n.Contains("raised the opset from 9 to 17", StringComparison.Ordinal)));
        Assert.AreEqual((1, 8, 8, 3), (classifier.Channels, classifier.Height, classifier.Width, classifier.Classes));

        var x = Enumerable.Range(0, 3 * 64).Select(i => (float)((i * 37 % 101) / 101.0)).ToArray();
        var expected = RunOriginal(Opset9Classifier("N"), "image", x, [3, 1, 8, 8]);
        using var session = new GradientSession(classifier, GradientChecker.Sessions);
        var buffers = session.For(3);
        x.CopyTo(buffers.Pixels);
        session.Evaluate(buffers, buffers.Capacity);
        WholeModelGradientTests.AssertClose(expected, Softmax(buffers.Logits, 3), 1e-5, "softmax of the raised model's logits");
        FiniteDifferences.CheckLoss(session, x, [0, 1, 2]);
    }

    [TestMethod]
    public void Opset11SoftmaxOverSeveralAxesKeepsItsCoercedMeaning()
    {
        var graph = new GraphProto { Name = "coerced" };
        graph.Input.Add(TensorValue("x", TensorProto.Types.DataType.Float, "N", 1, 4, 4));
        var b = new GraphBuilder(graph);
        var reshaped = b.Add("Reshape", ["x", b.Ints("shape", 0, 4, 4)], "r");
        var soft = b.Add("Softmax", [reshaped], "soft", Attr("axis", 1L));
        var summed = b.Add("ReduceSum", [soft], "summed", Attr("axes", [2L]), Attr("keepdims", 0L));
        var parts = b.AddMulti("Split", [summed], ["p0", "p1"], Attr("axis", 1L), Attr("split", [1L, 3]));
        b.Add("Concat", [parts[1], parts[0]], "logits", Attr("axis", 1L));
        graph.Output.Add(TensorValue("logits", TensorProto.Types.DataType.Float, "N", 4));
        var model = new ModelProto { IrVersion = 6, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 11 });

        using var dir = new TempDirectory();
        var path = dir.File("coerced.onnx");
        OnnxFiles.Save(model, path);
        var classifier = ClassifierLoader.Load(path, null, GradientChecker.Sessions);
        Assert.IsNull(classifier.StrippedOutputOp);
        var x = Enumerable.Range(0, 2 * 16).Select(i => (float)((i * 13 % 17) / 17.0)).ToArray();
        var expected = RunOriginal(model, "x", x, [2, 1, 4, 4]);
        using var session = new GradientSession(classifier, GradientChecker.Sessions);
        var buffers = session.For(2);
        x.CopyTo(buffers.Pixels);
        session.Evaluate(buffers, buffers.Capacity);
        WholeModelGradientTests.AssertClose(expected, buffers.Logits, 1e-6, "logits of the raised model");
        FiniteDifferences.CheckLoss(session, x, [1, 3]);
    }

    [TestMethod]
    public void ChannelsLastModelInTheZeroTo255RangeWithMeanAndStd()
    {
        // A "Keras-style" model: NHWC input of raw 0–255 values that it normalises itself; we give it
        // preprocessing options, and the attack space stays NCHW [0, 1].
        var graph = new GraphProto { Name = "nhwc" };
        graph.Input.Add(TensorValue("input_1", TensorProto.Types.DataType.Float, "N", 6, 5, 3));
        var b = new GraphBuilder(graph);
        var nchw = b.Add("Transpose", ["input_1"], "nchw", Attr("perm", [0L, 3, 1, 2]));
        var conv = b.Add("Conv", [nchw, b.Initializer("w", Values(8, 2 * 3 * 9, 0.01), 2, 3, 3, 3)], "conv", Attr("pads", [1L, 1, 1, 1]));
        var pooled = b.Add("GlobalAveragePool", [b.Add("Relu", [conv], "relu")], "gap");
        b.Add("Flatten", [pooled], "scores");
        graph.Output.Add(TensorValue("scores", TensorProto.Types.DataType.Float, "N", 2));
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });

        using var dir = new TempDirectory();
        var path = dir.File("keras.onnx");
        OnnxFiles.Save(model, path);
        var preprocessing = Preprocessing.FromOptions("0,255", "120,110,100", "60,50,40", null, null);
        var classifier = ClassifierLoader.Load(path, preprocessing, GradientChecker.Sessions);
        Assert.AreEqual(ImageLayout.Nhwc, classifier.InputLayout, "layout guessed from the input shape");
        Assert.AreEqual((3, 6, 5), (classifier.Channels, classifier.Height, classifier.Width));

        var pixels = Enumerable.Range(0, 2 * 90).Select(i => (float)((i * 29 % 31) / 31.0)).ToArray();
        var nhwc = Layouts.ToNhwc(pixels, 2, 3, 6, 5);
        float[] mean = [120, 110, 100];
        float[] std = [60, 50, 40];
        var raw = nhwc.Select((v, i) => (v * 255 - mean[i % 3]) / std[i % 3]).ToArray();
        var expected = RunOriginal(model, "input_1", raw, [2, 6, 5, 3]);
        using var session = new GradientSession(classifier, GradientChecker.Sessions);
        var buffers = session.For(2);
        pixels.CopyTo(buffers.Pixels);
        session.Evaluate(buffers, buffers.Capacity);
        WholeModelGradientTests.AssertClose(expected, buffers.Logits, 1e-5, "logits through the preprocessing");
        FiniteDifferences.CheckLoss(session, pixels, [0, 1]);
    }

    [TestMethod]
    public void FixedBatchModelsAreProbedAtTheirBatchSize()
    {
        using var dir = new TempDirectory();
        var path = dir.File("fixed.onnx");
        OnnxFiles.Save(Opset9Classifier(4L), path);
        var classifier = ClassifierLoader.Load(path, null, GradientChecker.Sessions);
        Assert.AreEqual(4L, classifier.FixedBatch);
        using var session = new GradientSession(classifier, GradientChecker.Sessions);
        // Fewer examples than the fixed batch are padded to it; their results are what a full batch gives them.
        var buffers = session.For(3);
        Assert.AreEqual(4, buffers.Capacity);
        var x = Enumerable.Range(0, 4 * 64).Select(i => (float)((i * 29 % 97) / 97.0)).ToArray();
        x.AsSpan(0, 3 * 64).CopyTo(buffers.Pixels);
        session.Evaluate(buffers, 3);
        var three = buffers.Loss.Take(3).ToArray();
        Assert.IsTrue(three.All(float.IsFinite));
        x.CopyTo(buffers.Pixels, 0);
        session.Evaluate(buffers, 4);
        CollectionAssert.AreEqual(three, buffers.Loss.Take(3).ToArray());
        Assert.AreEqual(7, session.ImageEvaluations, "padding is not counted as work");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => session.Evaluate(buffers, 5));
    }
}
