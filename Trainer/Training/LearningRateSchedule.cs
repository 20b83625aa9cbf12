using System.Globalization;

namespace RobustEval.Trainer.Training;

/// <summary>
/// The learning rate per epoch: <c>constant</c>, <c>step:EVERY:GAMMA</c> (multiply by GAMMA every EVERY epochs —
/// the paper's CIFAR recipe halves it every 25) or <c>multistep:E1,E2,…:GAMMA</c> (at the listed epochs).
/// </summary>
internal sealed record LearningRateSchedule(string Text, double BaseRate, Func<int, double> RateAt)
{
    public static LearningRateSchedule Parse(string text, double baseRate)
    {
        var parts = text.Trim().ToLowerInvariant().Split(':');
        try
        {
            switch (parts[0])
            {
                case "constant" when parts.Length == 1:
                    return new(text, baseRate, _ => baseRate);
                case "step" when parts.Length == 3:
                {
                    int every = int.Parse(parts[1], CultureInfo.InvariantCulture);
                    double gamma = double.Parse(parts[2], CultureInfo.InvariantCulture);
                    if (every < 1 || gamma <= 0)
                    {
                        break;
                    }
                    return new(text, baseRate, epoch => baseRate * Math.Pow(gamma, epoch / every));
                }
                case "multistep" when parts.Length == 3:
                {
                    var milestones = parts[1].Split(',').Select(m => int.Parse(m, CultureInfo.InvariantCulture)).ToArray();
                    double gamma = double.Parse(parts[2], CultureInfo.InvariantCulture);
                    if (gamma <= 0)
                    {
                        break;
                    }
                    return new(text, baseRate, epoch => baseRate * Math.Pow(gamma, milestones.Count(m => epoch >= m)));
                }
            }
        }
        catch (FormatException)
        {
        }
        throw new UserErrorException($"learning-rate schedule '{text}' is not constant, step:EVERY:GAMMA or multistep:E1,E2:GAMMA");
    }
}
