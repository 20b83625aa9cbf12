using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Gradients;

namespace RobustEval.Evaluator.Runtime;

/// <summary>
/// The gradient sessions of one classifier, one per loss, created when an attack first asks for its loss and then
/// shared: a report or an ensemble that runs several attacks builds each gradient graph once.
/// </summary>
public sealed class GradientSessions(Classifier classifier, OrtSessions sessions) : IDisposable
{
    private readonly Dictionary<Loss, GradientSession> _sessions = [];

    public Classifier Classifier { get; } = classifier;

    /// <summary>The session computing <paramref name="loss"/> (checked against the classifier's class count first).</summary>
    public GradientSession For(Loss loss)
    {
        if (!_sessions.TryGetValue(loss, out var session))
        {
            session = new GradientSession(Classifier, sessions, loss);
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
    }
}
