using Google.Protobuf;
using RobustEval.IO;
using RobustEval.ModelCards;

namespace RobustEval.Onnx;

/// <summary>Reading and writing ONNX model files, and their model cards.</summary>
internal static class OnnxFiles
{
    /// <summary>Protobuf messages cannot exceed 2 GiB; larger ONNX files keep their weights as external data.</summary>
    public const long MaxModelBytes = int.MaxValue;

    /// <summary>Nesting deeper than this (sub-graphs inside sub-graphs …) is refused rather than risking a stack overflow.</summary>
    public const int MaxNesting = 64;

    public static ModelProto Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new UserErrorException($"{path}: file not found");
        }
        var length = new FileInfo(path).Length;
        if (length > MaxModelBytes)
        {
            throw new UserErrorException($"{path}: {length:N0} bytes is larger than an ONNX protobuf can be (2 GiB)");
        }
        try
        {
            // Protobuf's recursion limit (100 nested messages) keeps absurdly nested files from overflowing the stack.
            var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
            if (model.Graph is null)
            {
                throw new UserErrorException($"{path}: not an ONNX model (no graph)");
            }
            return model;
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new UserErrorException($"{path}: not a valid ONNX file ({e.Message.TrimEnd('.')})");
        }
    }

    public static void Save(ModelProto model, string path) =>
        AtomicFile.Write(path, stream => model.WriteTo(stream));

    /// <summary>The model's metadata_props as a dictionary (later duplicates win).</summary>
    public static Dictionary<string, string> Metadata(ModelProto model)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in model.MetadataProps)
        {
            result[entry.Key] = entry.Value;
        }
        return result;
    }

    public static ModelCard? ReadCard(ModelProto model) => ModelCard.FromProperties(Metadata(model));

    /// <summary>Replaces the model's metadata with the card's pairs.</summary>
    public static void WriteCard(ModelProto model, ModelCard card)
    {
        model.MetadataProps.Clear();
        foreach (var (key, value) in card.ToProperties())
        {
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        }
    }

    /// <summary>The version of the default (ai.onnx) operator set the model imports, or 0.</summary>
    public static long DefaultOpset(ModelProto model) =>
        model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();
}
