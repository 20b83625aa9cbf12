using System.Text.RegularExpressions;

using RobustEval.Tests;

namespace RobustEval.Evaluator.Tests;

/// <summary>
/// The evaluator's layers depend one way — the command line on reports and transfer sets, those on attacks, attacks
/// on the runtime's sessions, sessions on the gradient graph, the graph on the classifier — never back.
/// </summary>
[TestClass]
public sealed partial class LayerTests
{
    /// <summary>Lowest first; a folder's code may use its own layer and those before it.</summary>
    private static readonly string[] Layers = ["Classifiers", "Gradients", "Runtime", "Attacks", "Transfer", "Reports", "Cli"];

    [GeneratedRegex(@"using RobustEval\.Evaluator\.(\w+)|(?<![\w.])(Classifiers|Gradients|Runtime|Attacks|Transfer|Reports|Cli)\.[A-Z]")]
    private static partial Regex Reference();

    [TestMethod]
    public void NoLayerReachesUp()
    {
        var root = Path.Combine(Repository.Root, "Evaluator");
        var problems = new List<string>();
        int files = 0;
        for (int level = 0; level < Layers.Length; level++)
        {
            foreach (var file in Directory.EnumerateFiles(Path.Combine(root, Layers[level]), "*.cs", SearchOption.AllDirectories))
            {
                files++;
                var lines = File.ReadAllLines(file);
                for (int n = 0; n < lines.Length; n++)
                {
                    if (lines[n].TrimStart().StartsWith("//", StringComparison.Ordinal))
                    {
                        continue;
                    }
                    foreach (Match match in Reference().Matches(lines[n]))
                    {
                        var used = match.Groups[1].Success ? match.Groups[1].Value : match.Groups[2].Value;
                        int usedLevel = Array.IndexOf(Layers, used);
                        if (usedLevel > level)
                        {
                            problems.Add($"{Path.GetRelativePath(root, file)}:{n + 1}: {Layers[level]} uses {used}");
                        }
                    }
                }
            }
        }
        Assert.IsGreaterThan(50, files, "the layers' sources were found");
        Assert.IsEmpty(problems, string.Join("\n", problems));
    }

    [TestMethod]
    public void TheCheckSeesAReferenceUpward()
    {
        Assert.IsTrue(Reference().IsMatch("        var x = Cli.AttackOptions.DefaultEps(norm);"));
        Assert.IsTrue(Reference().IsMatch("using RobustEval.Evaluator.Attacks;"));
        Assert.IsFalse(Reference().IsMatch("using Microsoft.ML.OnnxRuntime;"));
        Assert.IsFalse(Reference().IsMatch("System.Runtime.InteropServices.Marshal"));
    }
}
