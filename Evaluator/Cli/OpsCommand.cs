using System.CommandLine;
using System.Globalization;
using System.Text;
using RobustEval.Evaluator.Gradients;
using RobustEval.Evaluator.Runtime;
using RobustEval.IO;

namespace RobustEval.Evaluator.Cli;

/// <summary>
/// <c>evaluator ops</c>: every op RobustEval differentiates (and the ones it declares non-differentiable), with the
/// ONNX backend node tests each rule passes, beside the ops ONNX Runtime's training build has gradient builders for.
/// The README's op table is this command's Markdown output.
/// </summary>
internal static class OpsCommand
{
    /// <summary>
    /// The default-domain ops with a gradient builder in ONNX Runtime's training build
    /// (orttraining/core/graph/gradient_builder_registry.cc at commit cf87bac, as published), for comparison.
    /// </summary>
    public static readonly IReadOnlySet<string> OrtTraining = new HashSet<string>(StringComparer.Ordinal)
    {
        "Abs", "Add", "AveragePool", "Cast", "Clip", "Concat", "Conv", "Div", "Dropout", "Erf", "Exp", "Expand", "Flatten", "Gather",
        "GatherElements", "GatherND", "Gemm", "GlobalAveragePool", "Identity", "LayerNormalization", "Log", "LogSoftmax", "MatMul", "Max",
        "MaxPool", "Min", "Mul", "Neg", "Pad", "Pow", "ReduceL2", "ReduceLogSumExp", "ReduceMean", "ReduceSum", "Relu", "Reshape",
        "Sigmoid", "Sin", "Slice", "Softmax", "SoftmaxCrossEntropyLoss", "Split", "Sqrt", "Squeeze", "Sub", "Tanh", "Tile", "TopK",
        "Transpose", "Unsqueeze", "Where",
    };

    public static Command Create()
    {
        var nodeTests = new Option<string?>("--node-tests")
        {
            Description = $"Also run ONNX's backend node tests of every op with a rule (finite differences against the rule), from this folder (Debian's libonnx-testdata: {NodeTestConformance.DefaultRoot})",
        };
        var markdown = new Option<bool>("--markdown") { Description = "Print a Markdown table (what the README's op table is made with)" };
        var output = new Option<string?>("--out", "-o") { Description = "Write the table to this file instead of the console" };
        var command = new Command("ops", """
            List the ONNX ops RobustEval differentiates: each op's backward rule, or "no gradient" for ops declared
            non-differentiable (shapes, comparisons, rounding, random draws), with the ops ONNX Runtime's training build has
            gradient builders for beside them. With --node-tests, runs ONNX's own node tests of every op that has a rule.
            """)
        {
            nodeTests, markdown, output,
        };
        command.SetAction(parse =>
        {
            var outPath = parse.GetValue(output);
            if (outPath is not null)
            {
                OutputPaths.EnsureWritableDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!, "--out");
            }
            var results = new List<NodeTestResult>();
            if (parse.GetValue(nodeTests) is { } root)
            {
                if (!Directory.Exists(root))
                {
                    throw new UserErrorException($"--node-tests {root}: no such folder (apt-get install libonnx-testdata)");
                }
                var sessions = new OrtSessions(DeviceChoice.Cpu, threads: 1);
                var tests = NodeTestConformance.Applicable(root);
                results.AddRange(ConsoleProgress.Run("node tests", tests.Count, progress =>
                {
                    var all = new List<NodeTestResult>();
                    for (int i = 0; i < tests.Count; i++)
                    {
                        all.AddRange(NodeTestConformance.Run(tests[i], sessions));
                        progress.Report(i + 1);
                    }
                    return all;
                }));
                foreach (var failure in results.Where(r => r.Outcome != NodeTestOutcome.Passed))
                {
                    Console.Error.WriteLine($"{failure.Outcome.ToString().ToLowerInvariant()}: {failure.Test} (input {failure.Input}): {failure.Detail}");
                }
            }
            var table = Render(results, parse.GetValue(markdown), parse.GetValue(nodeTests) is not null);
            if (outPath is null)
            {
                Console.Write(table);
            }
            else
            {
                AtomicFile.WriteAllText(outPath, table);
                Console.WriteLine($"wrote {outPath}");
            }
            return 0;
        });
        return command;
    }

    private static string Render(List<NodeTestResult> results, bool markdown, bool ranTests)
    {
        var ops = BackwardRules.Supported.Concat(BackwardRules.NonDifferentiable).Concat(OrtTraining)
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var rows = ops.Select(op =>
        {
            var status = BackwardRules.Status("", op);
            var rule = status == "rule" ? BackwardRules.RuleName(op) : status;
            var mine = results.Where(r => r.OpType == op).ToList();
            var run = mine.Where(r => r.Outcome != NodeTestOutcome.Declined).ToList();
            int refused = mine.Count - run.Count;
            string tests = !ranTests || status != "rule" ? "" : mine.Count == 0 ? "none"
                : $"{run.Count(r => r.Outcome == NodeTestOutcome.Passed)}/{run.Count}" + (refused > 0 ? $" ({refused} declined)" : "");
            string opsets = mine.Count == 0 ? "" : string.Join(", ", mine.Select(r => r.Opset).Distinct().Order());
            return new[] { op, rule, tests, opsets, OrtTraining.Contains(op) ? "yes" : "" };
        }).ToList();
        string[] header = ["op", "RobustEval", "node tests passed", "their opsets", "ORT training"];
        var text = new StringBuilder();
        if (markdown)
        {
            text.AppendLine("| " + string.Join(" | ", header) + " |");
            text.AppendLine("|" + string.Concat(header.Select(_ => "---|")));
            foreach (var row in rows)
            {
                text.AppendLine("| " + string.Join(" | ", row.Select(c => c.Length == 0 ? "—" : c)) + " |");
            }
        }
        else
        {
            var widths = Enumerable.Range(0, header.Length).Select(i => Math.Max(header[i].Length, rows.Max(r => r[i].Length)) + 2).ToArray();
            text.AppendLine(string.Concat(header.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
            foreach (var row in rows)
            {
                text.AppendLine(string.Concat(row.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
            }
        }
        int rules = rows.Count(r => BackwardRules.Status("", r[0]) == "rule");
        int ort = OrtTraining.Count(op => BackwardRules.Status("", op) == "rule");
        text.AppendLine();
        text.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"{rules} ops with a backward rule, {BackwardRules.NonDifferentiable.Count} declared non-differentiable; of the {OrtTraining.Count} ops ONNX Runtime's training build differentiates, {ort} have a rule here."));
        if (ranTests)
        {
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"Node tests: {results.Count(r => r.Outcome == NodeTestOutcome.Passed)} of {results.Count(r => r.Outcome != NodeTestOutcome.Declined)} (test, float input) pairs pass (finite differences, float32, relative tolerance {NodeTestConformance.Tolerance}); {results.Count(r => r.Outcome == NodeTestOutcome.Declined)} declined by their rule before running (gradients of weights, training mode, forms without a rule)."));
        }
        return text.ToString();
    }
}
