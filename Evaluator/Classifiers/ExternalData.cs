using Google.Protobuf;
using RobustEval.Onnx;

namespace RobustEval.Evaluator.Classifiers;

/// <summary>
/// Loads initializers an ONNX file keeps in separate files (<c>data_location = EXTERNAL</c>) into the model, so
/// what we hand ONNX Runtime is self-contained. A model may only read files inside its own directory: absolute
/// paths, <c>..</c> and symbolic links that lead out are refused, so a hostile model cannot make us read
/// <c>/etc/passwd</c> into a tensor.
/// </summary>
internal static class ExternalData
{
    public static void Resolve(ModelProto model, string modelPath)
    {
        var directory = Path.GetFullPath(Path.GetDirectoryName(Path.GetFullPath(modelPath))!);
        var realDirectory = RealPath(directory);
        foreach (var tensor in AllTensors(model.Graph, depth: 0))
        {
            if (tensor.DataLocation != TensorProto.Types.DataLocation.External)
            {
                continue;
            }
            var entries = tensor.ExternalData.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
            if (!entries.TryGetValue("location", out var location) || string.IsNullOrWhiteSpace(location))
            {
                throw Refuse(modelPath, tensor, "has external data without a location");
            }
            if (Path.IsPathRooted(location) || location.Split('/', '\\').Contains(".."))
            {
                throw Refuse(modelPath, tensor, $"points outside the model's directory ('{location}')");
            }
            var file = Path.GetFullPath(Path.Combine(directory, location));
            if (!File.Exists(file))
            {
                throw Refuse(modelPath, tensor, $"needs external data file '{location}', which is missing");
            }
            var real = RealPath(file);
            if (!real.StartsWith(realDirectory + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                throw Refuse(modelPath, tensor, $"'{location}' leads outside the model's directory (a symbolic link to {real})");
            }
            long offset = entries.TryGetValue("offset", out var o) && long.TryParse(o, out var parsedOffset) ? parsedOffset : 0;
            long fileLength = new FileInfo(real).Length;
            long length = entries.TryGetValue("length", out var l) && long.TryParse(l, out var parsedLength) ? parsedLength : fileLength - offset;
            int elementSize = OnnxGraphChecker.ElementSize((TensorProto.Types.DataType)tensor.DataType);
            long expected;
            try
            {
                expected = OnnxTensors.ElementCount(tensor) * elementSize;
            }
            catch (Exception e) when (e is InvalidDataException or OverflowException)
            {
                throw Refuse(modelPath, tensor, e.Message);
            }
            if (offset < 0 || length < 0 || offset + length > fileLength || (elementSize > 0 && length != expected) || length > OnnxFiles.MaxModelBytes)
            {
                throw Refuse(modelPath, tensor, $"external data (offset {offset}, length {length}) does not fit '{location}' ({fileLength} bytes) or its dims");
            }
            var bytes = new byte[length];
            using (var stream = File.OpenRead(real))
            {
                stream.Position = offset;
                stream.ReadExactly(bytes);
            }
            tensor.RawData = ByteString.CopyFrom(bytes);
            tensor.ExternalData.Clear();
            tensor.DataLocation = TensorProto.Types.DataLocation.Default;
        }
    }

    private static IEnumerable<TensorProto> AllTensors(GraphProto graph, int depth)
    {
        if (depth > OnnxFiles.MaxNesting)
        {
            yield break;
        }
        foreach (var tensor in graph.Initializer)
        {
            yield return tensor;
        }
        foreach (var node in graph.Node)
        {
            foreach (var attribute in node.Attribute)
            {
                if (attribute.T is not null)
                {
                    yield return attribute.T;
                }
                foreach (var t in attribute.Tensors)
                {
                    yield return t;
                }
                var subgraphs = attribute.G is null ? attribute.Graphs : attribute.Graphs.Append(attribute.G);
                foreach (var sub in subgraphs)
                {
                    foreach (var t in AllTensors(sub, depth + 1))
                    {
                        yield return t;
                    }
                }
            }
        }
    }

    /// <summary>The path with every symbolic link along it resolved.</summary>
    private static string RealPath(string path)
    {
        var full = Path.GetFullPath(path);
        var root = Path.GetPathRoot(full)!;
        var current = root;
        foreach (var part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            current = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
            if (info.LinkTarget is not null)
            {
                var target = info.ResolveLinkTarget(returnFinalTarget: true);
                if (target is not null)
                {
                    current = RealPath(target.FullName);
                }
            }
        }
        return current;
    }

    private static UserErrorException Refuse(string modelPath, TensorProto tensor, string problem) =>
        new($"{modelPath}: initializer '{tensor.Name}' {problem}");
}
