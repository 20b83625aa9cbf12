using System.Security.Cryptography;
using RobustEval.Data;
using RobustEval.Evaluator.Attacks;
using RobustEval.Evaluator.Runtime;
using RobustEval.IO;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Transfer;

/// <summary>
/// Builds a transfer set as Shaham et al. built 𝒜_mnist: from the test points the source model classifies
/// correctly, the examples of an attack (by default their single step of eq. 11, FGM, one run per norm, clipped to
/// the pixel box) that the source then misclassifies. Deterministic: the same model, data and attack give the same set.
/// </summary>
internal static class TransferSetBuilder
{
    public static TransferSet Build(GradientSessions source, Dataset data, string dataSpec, IReadOnlyList<AttackSettings> attacks, int batch,
        IProgress<(NormKind Norm, double Done)>? progress = null)
    {
        var adversarial = new List<float[]>();
        var originals = new List<float[]>();
        var labels = new List<long>();
        var indices = new List<long>();
        var norms = new List<long>();
        var eps = new List<float>();
        var counts = new List<TransferNormCount>();
        foreach (var attack in attacks)
        {
            var (norm, radius) = (attack.Norm, attack.Eps);
            var run = AttackRunner.Run(AttackRegistry.Create(attack, source), data, batch,
                progress is null ? null : new CallbackProgress<double>(done => progress.Report((norm, done))));
            int tried = 0, found = 0;
            for (int i = 0; i < run.Count; i++)
            {
                if (!run[i].CleanCorrect)
                {
                    continue;
                }
                tried++;
                if (run[i].Prediction == run[i].Label)
                {
                    continue;
                }
                found++;
                adversarial.Add(run.Adversarial(i).ToArray());
                originals.Add(data.Image(i).ToArray());
                labels.Add(data.Label(i));
                indices.Add(i);
                norms.Add((long)norm);
                eps.Add(radius);
            }
            counts.Add(new TransferNormCount(norm.Name(), radius, tried, found));
        }
        return new TransferSet
        {
            Adversarial = adversarial.SelectMany(a => a).ToArray(),
            Originals = originals.SelectMany(a => a).ToArray(),
            Labels = [.. labels],
            SourceIndex = [.. indices],
            Norms = [.. norms],
            Eps = [.. eps],
            Channels = data.Channels,
            Height = data.Height,
            Width = data.Width,
            Manifest = new TransferManifest
            {
                SourceModel = source.Classifier.Path,
                SourceSha256 = Sha256(source.Classifier.Path),
                Data = dataSpec,
                DataSource = data.Source,
                DataExamples = data.Count,
                ClassNames = data.ClassNames,
                Attack = attacks[0].Name == "fgm"
                    ? "fgm (Shaham et al. eq. 11, one steepest-ascent step, clipped to [0,1])"
                    : string.Join("; ", attacks.Select(a => a.ToString())),
                Pixels = attacks.FirstOrDefault(a => a.Norm == NormKind.L1)?.Pixels ?? 1,
                Norms = counts,
                Examples = labels.Count,
                EvaluatorVersion = EvaluatorInfo.Version,
            },
        };
    }

    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
