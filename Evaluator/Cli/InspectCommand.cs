using System.CommandLine;
using RobustEval.Evaluator.Runtime;
using RobustEval.Evaluator.Gradients;

namespace RobustEval.Evaluator.Cli;

/// <summary><c>evaluator inspect</c>: what is in an ONNX file and whether RobustEval can differentiate it.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "ONNX file" };
        var inputShape = new Option<string?>("--input-shape")
        {
            Description = "C,H,W: also load the model at this image size (for an input whose size is dynamic) and report whether it runs",
        };
        var command = new Command("inspect", """
            Show an ONNX model's inputs, outputs, opset, op counts with each op's gradient status (rule: has a backward rule;
            no gradient: declared non-differentiable, e.g. Shape, comparisons, Floor; missing: blocks white-box attacks when it lies
            between the input and the scores), and its model card.
            """)
        {
            model, inputShape,
        };
        command.SetAction(parse =>
        {
            var path = parse.GetValue(model)!;
            var proto = ClassifierLoader.ReadModel(path);
            var graph = proto.Graph;
            var initializers = graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
            Console.WriteLine($"file        {path} ({new FileInfo(path).Length:N0} bytes)");
            Console.WriteLine($"producer    {(proto.ProducerName.Length > 0 ? proto.ProducerName : "unknown")} {proto.ProducerVersion}".TrimEnd());
            Console.WriteLine($"ir version  {proto.IrVersion}; opsets {string.Join(", ", proto.OpsetImport.Select(o => $"{(o.Domain.Length == 0 ? "ai.onnx" : o.Domain)} {o.Version}"))}");
            var inputs = graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
            foreach (var input in inputs)
            {
                Console.WriteLine($"input       {Describe(input)}");
            }
            foreach (var output in graph.Output)
            {
                Console.WriteLine($"output      {Describe(output)}");
            }
            long parameters = graph.Initializer.Sum(t => t.Dims.Aggregate(1L, (a, b) => a * b));
            Console.WriteLine($"nodes       {graph.Node.Count:N0}; initializers {graph.Initializer.Count:N0} ({parameters:N0} values)");
            var unsupportedOnPath = inputs.Count == 1 && graph.Output.Count > 0
                ? GradientGraphBuilder.Unsupported(graph, inputs[0].Name, graph.Output[0].Name)
                : [];
            Console.WriteLine("ops (count, gradient):");
            foreach (var group in graph.Node.GroupBy(n => (n.Domain.Length == 0 ? "" : n.Domain + ".") + n.OpType).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal))
            {
                var first = group.First();
                Console.WriteLine($"  {group.Key,-24}{group.Count(),6}  {BackwardRules.Status(first.Domain, first.OpType)}");
            }
            Console.WriteLine(unsupportedOnPath.Count == 0
                ? "gradients   every op between the input and the first output has a rule"
                : $"gradients   no rule for: {string.Join(", ", unsupportedOnPath)} (white-box attacks cannot run; --attack square and autoattack --version blackbox can)");
            if (parse.GetValue(inputShape) is { } shapeText)
            {
                var size = Classifiers.InputSize.Parse(shapeText);
                var sessions = new OrtSessions(DeviceChoice.Cpu, threads: 0);
                var classifier = ClassifierLoader.Load(path, null, sessions, requireGradients: false, size: size);
                Console.WriteLine($"probe       runs at {classifier.Channels}x{classifier.Height}x{classifier.Width} ({classifier.InputLayout}), {classifier.Classes} classes");
            }
            else if (inputs.Count == 1 && inputs[0].Type?.TensorType?.Shape?.Dim is { Count: 4 } dims
                && dims.Skip(1).Any(d => d.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue || d.DimValue < 1))
            {
                Console.WriteLine("image size  dynamic: commands take it from --data, or give --input-shape C,H,W");
            }
            var card = OnnxFiles.ReadCard(proto);
            if (card is null)
            {
                Console.WriteLine("model card  none (give --input-range/--mean/--std or a MODEL.onnx.json if the model needs preprocessing)");
            }
            else
            {
                Console.WriteLine("model card:");
                foreach (var (key, value) in card.ToProperties())
                {
                    Console.WriteLine($"  {key,-28}{value}");
                }
            }
            return 0;
        });
        return command;
    }

    private static string Describe(ValueInfoProto value)
    {
        var tensor = value.Type?.TensorType;
        if (tensor is null)
        {
            return $"{value.Name}: not a tensor";
        }
        var dims = tensor.Shape?.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue.ToString(System.Globalization.CultureInfo.InvariantCulture) : d.DimParam.Length > 0 ? d.DimParam : "?");
        return $"{value.Name}: {(TensorProto.Types.DataType)tensor.ElemType} [{(dims is null ? "unknown" : string.Join(", ", dims))}]";
    }
}
