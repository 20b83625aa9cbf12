using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using RobustEval.Data;
using RobustEval.Evaluator.Classifiers;

namespace RobustEval.Evaluator.Runtime;

/// <summary>Forward-only predictions of a classifier (no gradient graph): for clean and transfer accuracy.</summary>
public sealed class PredictionSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _run = new();

    public PredictionSession(Classifier classifier, OrtSessions sessions)
    {
        Classifier = classifier;
        _session = sessions.Create(classifier.Model.ToByteArray());
    }

    public Classifier Classifier { get; }

    /// <summary>The predicted class (model index) of each image in <paramref name="pixels"/> (NCHW, [0, 1]).</summary>
    public long[] Predict(ReadOnlySpan<float> pixels, int count, int batchSize = 256)
    {
        int size = Classifier.ImageSize;
        int batch = Classifier.FixedBatch is { } fixedBatch ? (int)fixedBatch : Math.Max(1, Math.Min(batchSize, count));
        var predictions = new long[count];
        var input = new float[batch * size];
        var logits = new float[batch * Classifier.Classes];
        for (int start = 0; start < count; start += batch)
        {
            int n = Math.Min(batch, count - start);
            int width = Classifier.FixedBatch is null ? n : batch;
            pixels.Slice(start * size, n * size).CopyTo(input);
            using var inputValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, input.AsMemory(0, width * size),
                [width, Classifier.Channels, Classifier.Height, Classifier.Width]);
            using var outputValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, logits.AsMemory(0, width * Classifier.Classes),
                [width, Classifier.Classes]);
            try
            {
                _session.Run(_run, [Classifier.PixelsName], [inputValue], [Classifier.LogitsName], [outputValue]);
            }
            catch (OnnxRuntimeException e)
            {
                throw new UserErrorException($"ONNX Runtime failed on {Classifier.Path}: {e.Message.Split('\n')[0]}", e);
            }
            for (int i = 0; i < n; i++)
            {
                predictions[start + i] = Scores.ArgMax(logits.AsSpan(i * Classifier.Classes, Classifier.Classes));
            }
        }
        return predictions;
    }

    /// <summary>Share of <paramref name="data"/> classified correctly (labels through the label map).</summary>
    public double Accuracy(Dataset data)
    {
        Classifier.CheckData(data);
        var predictions = Predict(data.Pixels, data.Count);
        int correct = 0;
        for (int i = 0; i < data.Count; i++)
        {
            correct += predictions[i] == Classifier.ModelLabel(data.Label(i)) ? 1 : 0;
        }
        return (double)correct / data.Count;
    }

    public void Dispose()
    {
        _session.Dispose();
        _run.Dispose();
    }
}
