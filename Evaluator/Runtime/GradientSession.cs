using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Gradients;

namespace RobustEval.Evaluator.Runtime;

/// <summary>
/// One ONNX Runtime session over a classifier's gradient graph, reused for every batch: pixels and labels in,
/// logits, per-example loss and d(loss)/d(pixels) out, through input and output buffers that are allocated once
/// per batch size and handed to ONNX Runtime without copies.
/// </summary>
internal sealed class GradientSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _run = new();
    private readonly Dictionary<int, Buffers> _buffers = [];
    private static readonly string[] InputNames = [Classifier.PixelsName, CrossEntropyObjective.LabelsName];
    private static readonly string[] OutputNames = [GradientGraphBuilder.LogitsName, CrossEntropyObjective.LossName, GradientGraphBuilder.GradientName];

    public GradientSession(Classifier classifier, OrtSessions sessions)
    {
        Classifier = classifier;
        Model = GradientGraphBuilder.Build(classifier);
        _session = sessions.Create(Model.ToByteArray());
    }

    public Classifier Classifier { get; }

    /// <summary>The gradient graph this session runs.</summary>
    public ModelProto Model { get; }

    /// <summary>How many model evaluations (forward + backward passes over a batch) have run.</summary>
    public long Evaluations { get; private set; }

    /// <summary>The buffers of one batch size: fill <see cref="Buffers.Pixels"/> and <see cref="Buffers.Labels"/>, then <see cref="Evaluate"/>.</summary>
    public sealed class Buffers : IDisposable
    {
        internal Buffers(int batch, Classifier c)
        {
            Batch = batch;
            Pixels = new float[batch * c.ImageSize];
            Labels = new long[batch];
            Logits = new float[batch * c.Classes];
            Loss = new float[batch];
            Gradient = new float[batch * c.ImageSize];
            long[] imageShape = [batch, c.Channels, c.Height, c.Width];
            Inputs = [OrtValue.CreateTensorValueFromMemory(Pixels, imageShape), OrtValue.CreateTensorValueFromMemory(Labels, [batch])];
            Outputs =
            [
                OrtValue.CreateTensorValueFromMemory(Logits, [batch, c.Classes]),
                OrtValue.CreateTensorValueFromMemory(Loss, [batch]),
                OrtValue.CreateTensorValueFromMemory(Gradient, imageShape),
            ];
        }

        public int Batch { get; }

        public float[] Pixels { get; }

        public long[] Labels { get; }

        public float[] Logits { get; }

        public float[] Loss { get; }

        public float[] Gradient { get; }

        internal OrtValue[] Inputs { get; }

        internal OrtValue[] Outputs { get; }

        public void Dispose()
        {
            foreach (var value in Inputs.Concat(Outputs))
            {
                value.Dispose();
            }
        }
    }

    /// <summary>The buffers for <paramref name="batch"/> examples (created on first use).</summary>
    public Buffers For(int batch)
    {
        if (Classifier.FixedBatch is { } fixedBatch && batch != fixedBatch)
        {
            throw new InvalidOperationException($"the model takes batches of exactly {fixedBatch}");
        }
        if (!_buffers.TryGetValue(batch, out var buffers))
        {
            buffers = new Buffers(batch, Classifier);
            _buffers[batch] = buffers;
        }
        return buffers;
    }

    /// <summary>Runs the graph on the buffers' pixels and labels, filling logits, loss and gradient.</summary>
    public void Evaluate(Buffers buffers)
    {
        try
        {
            _session.Run(_run, InputNames, buffers.Inputs, OutputNames, buffers.Outputs);
        }
        catch (OnnxRuntimeException e)
        {
            throw new UserErrorException($"ONNX Runtime failed on the gradient graph: {e.Message.Split('\n')[0]}{OrtSessions.AllocationHint(e, capped: false)}", e);
        }
        Evaluations++;
    }

    /// <summary>Ends ONNX Runtime profiling (when the sessions were created with a profile prefix) and returns the profile's path.</summary>
    public string EndProfiling() => _session.EndProfiling();

    public void Dispose()
    {
        foreach (var buffers in _buffers.Values)
        {
            buffers.Dispose();
        }
        _session.Dispose();
        _run.Dispose();
    }
}
