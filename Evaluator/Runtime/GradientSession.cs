using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Gradients;

namespace RobustEval.Evaluator.Runtime;

/// <summary>
/// One ONNX Runtime session over a classifier's gradient graph for one <see cref="Gradients.Loss"/>, reused for
/// every batch: pixels, labels (and targets, for a targeted loss) in; logits, per-example loss and d(loss)/d(pixels)
/// out, through buffers allocated once and handed to ONNX Runtime without copies. Any number of examples up to the
/// buffers' capacity can be evaluated, so attacks that stop early evaluate only the examples still running.
/// </summary>
public sealed class GradientSession : IDisposable
{
    private readonly InferenceSession[] _lanes;
    private readonly RunOptions _run = new();
    private readonly string[] _inputNames;
    private static readonly string[] OutputNames = [GradientGraphBuilder.LogitsName, Objective.LossName, GradientGraphBuilder.GradientName];
    private Buffers? _buffers;

    /// <summary>Builds the gradient graph of <paramref name="classifier"/> for <paramref name="loss"/> (cross-entropy by default) and a session for it.</summary>
    public GradientSession(Classifier classifier, OrtSessions sessions, Loss? loss = null)
    {
        Classifier = classifier;
        Loss = loss ?? Loss.CrossEntropy;
        Loss.CheckClasses(classifier.Classes, classifier.Path);
        Model = GradientGraphBuilder.Build(classifier, Loss);
        // A model with a fixed batch size takes whole batches only, so it cannot be split between lanes.
        _lanes = classifier.FixedBatch is null ? sessions.CreateLanes(Model.ToByteArray()) : [sessions.Create(Model.ToByteArray())];
        _inputNames = Loss.Targeted ? [Classifier.PixelsName, Objective.LabelsName, Objective.TargetsName] : [Classifier.PixelsName, Objective.LabelsName];
    }

    public Classifier Classifier { get; }

    /// <summary>The loss whose value and gradient this session computes.</summary>
    public Loss Loss { get; }

    /// <summary>The gradient graph this session runs.</summary>
    internal ModelProto Model { get; }

    /// <summary>How many sessions each batch is split between (<see cref="OrtSessions.CreateLanes"/>).</summary>
    internal int Lanes => _lanes.Length;

    /// <summary>How many model evaluations (forward + backward passes over a batch) have run.</summary>
    public long Evaluations { get; private set; }

    /// <summary>How many images those evaluations covered (the padding of a fixed-batch model not counted).</summary>
    public long ImageEvaluations { get; private set; }

    /// <summary>
    /// Input and output arrays for up to <see cref="Capacity"/> examples, example i at offset i · (image size,
    /// classes, 1): fill the first n examples' pixels, labels (and targets), then <see cref="Evaluate"/>(buffers, n).
    /// </summary>
    public sealed class Buffers
    {
        internal Buffers(int capacity, Classifier c, bool targeted)
        {
            Capacity = capacity;
            Pixels = new float[capacity * c.ImageSize];
            Labels = new long[capacity];
            Targets = targeted ? new long[capacity] : null;
            Logits = new float[capacity * c.Classes];
            Loss = new float[capacity];
            Gradient = new float[capacity * c.ImageSize];
        }

        public int Capacity { get; }

        public float[] Pixels { get; }

        /// <summary>The model's class index of each example's true label.</summary>
        public long[] Labels { get; }

        /// <summary>The target class of each example (null for an untargeted loss).</summary>
        public long[]? Targets { get; }

        public float[] Logits { get; }

        public float[] Loss { get; }

        public float[] Gradient { get; }
    }

    /// <summary>Buffers with room for at least <paramref name="count"/> examples (one set per session, grown when needed).</summary>
    public Buffers For(int count)
    {
        int capacity = Math.Max(count, (int)(Classifier.FixedBatch ?? 1));
        if (_buffers is null || _buffers.Capacity < capacity)
        {
            _buffers = new Buffers(capacity, Classifier, Loss.Targeted);
        }
        return _buffers;
    }

    /// <summary>
    /// Runs the graph on the first <paramref name="count"/> examples of the buffers, filling their logits, loss and
    /// gradient. A model with a fixed batch size gets a full batch: the rest is padded with the first example.
    /// With several lanes (<see cref="OrtSessions.CreateLanes"/>) each runs on its own consecutive share of the
    /// examples at the same time; every example's results are its own, however the batch is split.
    /// </summary>
    public void Evaluate(Buffers buffers, int count) => Evaluate(buffers, count, counted: true);

    /// <summary>Evaluates without counting the work as the attack's (<see cref="AutoBatch"/>'s probes).</summary>
    internal void Evaluate(Buffers buffers, int count, bool counted)
    {
        var c = Classifier;
        int width = (int)(c.FixedBatch ?? count);
        if (count < 1 || count > width || width > buffers.Capacity)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"between 1 and {Math.Min(width, buffers.Capacity)}");
        }
        for (int pad = count; pad < width; pad++)
        {
            buffers.Pixels.AsSpan(0, c.ImageSize).CopyTo(buffers.Pixels.AsSpan(pad * c.ImageSize, c.ImageSize));
            buffers.Labels[pad] = buffers.Labels[0];
            if (buffers.Targets is { } targets)
            {
                targets[pad] = targets[0];
            }
        }
        int lanes = Math.Min(_lanes.Length, width);
        try
        {
            // Consecutive shares, the first ones an example longer when the batch does not divide evenly.
            OrtSessions.SideBySide(lanes, lane =>
            {
                int share = width / lanes, extra = width % lanes;
                int start = lane * share + Math.Min(lane, extra);
                Run(_lanes[lane], buffers, start, share + (lane < extra ? 1 : 0));
            });
        }
        catch (OnnxRuntimeException e)
        {
            throw new UserErrorException($"ONNX Runtime failed on the gradient graph: {e.Message.Split('\n')[0]}{OrtSessions.AllocationHint(e, capped: false)}", e);
        }
        if (counted)
        {
            Evaluations++;
            ImageEvaluations += count;
        }
    }

    /// <summary>Runs <paramref name="session"/> on examples <paramref name="start"/> … <paramref name="start"/> + <paramref name="count"/> − 1 of the buffers, in place.</summary>
    private void Run(InferenceSession session, Buffers buffers, int start, int count)
    {
        var c = Classifier;
        long[] imageShape = [count, c.Channels, c.Height, c.Width];
        var memory = OrtMemoryInfo.DefaultInstance;
        var values = new List<OrtValue>(6);
        try
        {
            values.Add(OrtValue.CreateTensorValueFromMemory(memory, buffers.Pixels.AsMemory(start * c.ImageSize, count * c.ImageSize), imageShape));
            values.Add(OrtValue.CreateTensorValueFromMemory(memory, buffers.Labels.AsMemory(start, count), [count]));
            if (Loss.Targeted)
            {
                values.Add(OrtValue.CreateTensorValueFromMemory(memory, buffers.Targets.AsMemory(start, count), [count]));
            }
            int inputs = values.Count;
            values.Add(OrtValue.CreateTensorValueFromMemory(memory, buffers.Logits.AsMemory(start * c.Classes, count * c.Classes), [count, c.Classes]));
            values.Add(OrtValue.CreateTensorValueFromMemory(memory, buffers.Loss.AsMemory(start, count), [count]));
            values.Add(OrtValue.CreateTensorValueFromMemory(memory, buffers.Gradient.AsMemory(start * c.ImageSize, count * c.ImageSize), imageShape));
            session.Run(_run, _inputNames, values.Take(inputs).ToArray(), OutputNames, values.Skip(inputs).ToArray());
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
    }

    /// <summary>Ends ONNX Runtime profiling (when the sessions were created with a profile prefix) and returns the profile's path.</summary>
    public string EndProfiling() => _lanes[0].EndProfiling();

    public void Dispose()
    {
        foreach (var lane in _lanes)
        {
            lane.Dispose();
        }
        _run.Dispose();
    }
}
