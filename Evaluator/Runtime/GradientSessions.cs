using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Gradients;


namespace RobustEval.Evaluator.Runtime;

/// <summary>
/// The sessions of one classifier: a gradient session per loss, created when an attack first asks for its loss and
/// then shared (a report or an ensemble that runs several attacks builds each gradient graph once), and one
/// forward-only session for score-based attacks.
/// </summary>
public sealed class GradientSessions(Classifier classifier, OrtSessions sessions) : IDisposable
{
    private readonly Dictionary<Loss, GradientSession> _sessions = [];
    private PredictionSession? _forward;
    private IReadOnlyList<string>? _blockers;

    public Classifier Classifier { get; } = classifier;

    /// <summary>The ONNX Runtime settings (device, threads) its sessions are made with.</summary>
    public OrtSessions Sessions { get; } = sessions;

    /// <summary>The forward-only session (no gradient graph needed).</summary>
    public PredictionSession Forward => _forward ??= new PredictionSession(Classifier, Sessions);

    /// <summary>
    /// The nodes between the input and the scores that have no gradient rule ("Op (node)"): when any, only
    /// score-based attacks can run on this model.
    /// </summary>
    public IReadOnlyList<string> GradientBlockers => _blockers ??= GradientGraphBuilder.Unsupported(Classifier.Model.Graph, Classifier.PixelsName, Classifier.LogitsName);

    /// <summary>Images evaluated with a gradient (forward and backward) by all of this model's gradient sessions.</summary>
    public long GradientImageEvaluations => _sessions.Values.Sum(s => s.ImageEvaluations);

    /// <summary>Images evaluated forward only.</summary>
    public long ForwardImageEvaluations => _forward?.ImageEvaluations ?? 0;

    /// <summary>The session computing <paramref name="loss"/> (checked against the classifier's class count first).</summary>
    public GradientSession For(Loss loss)
    {
        if (!_sessions.TryGetValue(loss, out var session))
        {
            if (GradientBlockers.Count > 0)
            {
                throw new GradientException(
                    $"{Classifier.Path}: no gradient rule for {string.Join(", ", GradientBlockers)}, so no white-box attack is possible; --attack square (score-based, forward passes only) runs on this model");
            }
            session = new GradientSession(Classifier, Sessions, loss);
            _sessions[loss] = session;
        }
        return session;
    }

    public void Dispose()
    {
        foreach (var session in _sessions.Values)
        {
            session.Dispose();
        }
        _sessions.Clear();
        _forward?.Dispose();
        _forward = null;
    }
}
