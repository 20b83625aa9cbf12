namespace RobustEval.Evaluator.Gradients;

/// <summary>
/// Croce and Hein's difference of logits ratio (2020), with π the classes by decreasing logit:
/// untargeted L = (max_{i≠y} z_i − z_y) / D, D = z_π1 − z_π3 + 10⁻¹²;
/// targeted L = (z_t − z_y) / D, D = z_π1 − (z_π3 + z_π4)/2 + 10⁻¹².
/// With N the numerator, ∂L/∂z = ∂N/∂z / D − N/D² · ∂D/∂z, where ∂N/∂z and ∂D/∂z are differences of one-hot rows
/// (ties among the logits go to the class TopK or ArgMax picks, as autograd through a sort does).
/// </summary>
internal sealed class DlrObjective(bool targeted) : Objective
{
    public override string Seed(GradientContext c, GraphProto graph, string logits, long classes, object batchDim)
    {
        AddClassInputs(graph, targeted, batchDim);
        var trueLogit = Pick(c, logits, LabelsName);
        string numerator, numeratorGradient;
        if (targeted)
        {
            numerator = c.Sub(Pick(c, logits, TargetsName), trueLogit);
            numeratorGradient = c.Sub(OneHot(c, TargetsName, classes), OneHot(c, LabelsName, classes));
        }
        else
        {
            var (other, otherIndex) = MaxExcept(c, logits, LabelsName, classes);
            numerator = c.Sub(other, trueLogit);
            numeratorGradient = c.Sub(OneHot(c, otherIndex, classes), OneHot(c, LabelsName, classes));
        }
        var (value, index) = Largest(c, logits, targeted ? 4 : 3);
        string denominator, denominatorGradient;
        if (targeted)
        {
            var half = c.Scalar(0.5f);
            denominator = c.Sub(value(0), c.Mul(c.Add(value(2), value(3)), half));
            denominatorGradient = c.Sub(OneHot(c, index(0), classes), c.Mul(c.Add(OneHot(c, index(2), classes), OneHot(c, index(3), classes)), half));
        }
        else
        {
            denominator = c.Sub(value(0), value(2));
            denominatorGradient = c.Sub(OneHot(c, index(0), classes), OneHot(c, index(2), classes));
        }
        denominator = c.Add(denominator, c.Scalar(1e-12f));
        var loss = c.Div(numerator, denominator);
        EmitLoss(c, graph, loss, batchDim);
        // ∂L/∂z = (∂N/∂z − L · ∂D/∂z) / D.
        return c.Div(c.Sub(numeratorGradient, c.Mul(loss, denominatorGradient)), denominator);
    }
}
