using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using RobustEval.Data;
using RobustEval.Evaluator.Classifiers;

namespace RobustEval.Evaluator.Runtime;

/// <summary>
/// Forward-only scores and predictions of a classifier (no gradient graph): for clean and transfer accuracy, and
/// for score-based attacks (Square), which run on models whose graph has ops without a gradient rule.
/// </summary>
public sealed class PredictionSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _run = new();
    private float[] _input = [];
    private float[] _logits = [];

    public PredictionSession(Classifier classifier, OrtSessions sessions)
    {
        Classifier = classifier;
        _session = sessions.Create(classifier.Model.ToByteArray());
    }

    public Classifier Classifier { get; }

    /// <summary>How many forward passes over a batch have run.</summary>
    public long Evaluations { get; private set; }

    /// <summary>How many images those passes covered (the padding of a fixed-batch model not counted).</summary>
    public long ImageEvaluations { get; private set; }

    /// <summary>The predicted class (model index) of each image in <paramref name="pixels"/> (NCHW, [0, 1]).</summary>
    public long[] Predict(ReadOnlySpan<float> pixels, int count, int batchSize = 256)
    {
        var logits = Logits(pixels, count, batchSize);
        var predictions = new long[count];
        for (int i = 0; i < count; i++)
        {
            predictions[i] = Scores.ArgMax(logits.AsSpan(i * Classifier.Classes, Classifier.Classes));
        }
        return predictions;
    }

    /// <summary>The scores (logits, [count, classes]) of each image in <paramref name="pixels"/> (NCHW, [0, 1]).</summary>
    public float[] Logits(ReadOnlySpan<float> pixels, int count, int batchSize = 256)
    {
        int size = Classifier.ImageSize;
        int classes = Classifier.Classes;
        int batch = Classifier.FixedBatch is { } fixedBatch ? (int)fixedBatch : Math.Max(1, Math.Min(batchSize, count));
        var result = new float[count * classes];
        if (_input.Length < batch * size)
        {
            _input = new float[batch * size];
            _logits = new float[batch * classes];
        }
        for (int start = 0; start < count; start += batch)
        {
            int n = Math.Min(batch, count - start);
            int width = Classifier.FixedBatch is null ? n : batch;
            pixels.Slice(start * size, n * size).CopyTo(_input);
            using var inputValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _input.AsMemory(0, width * size),
                [width, Classifier.Channels, Classifier.Height, Classifier.Width]);
            using var outputValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _logits.AsMemory(0, width * classes),
                [width, classes]);
            try
            {
                _session.Run(_run, [Classifier.PixelsName], [inputValue], [Classifier.LogitsName], [outputValue]);
            }
            catch (OnnxRuntimeException e)
            {
                throw new UserErrorException($"ONNX Runtime failed on {Classifier.Path}: {e.Message.Split('\n')[0]}", e);
            }
            _logits.AsSpan(0, n * classes).CopyTo(result.AsSpan(start * classes));
            Evaluations++;
            ImageEvaluations += n;
        }
        return result;
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
