using System.Runtime.InteropServices;
using Google.Protobuf;

namespace RobustEval.Onnx;

/// <summary>Conversions between managed arrays and ONNX <see cref="TensorProto"/> initializers.</summary>
internal static class OnnxTensors
{
    public static TensorProto Float(string name, ReadOnlySpan<float> values, params long[] dims)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.AddRange(dims);
        tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values));
        return tensor;
    }

    public static TensorProto Int64(string name, ReadOnlySpan<long> values, params long[] dims)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        tensor.Dims.AddRange(dims);
        tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values));
        return tensor;
    }

    /// <summary>The number of elements the tensor's dims declare (1 for a scalar).</summary>
    public static long ElementCount(TensorProto tensor)
    {
        long count = 1;
        foreach (long d in tensor.Dims)
        {
            if (d < 0)
            {
                throw new InvalidDataException($"tensor '{tensor.Name}' has a negative dimension {d}");
            }
            count = checked(count * d);
        }
        return count;
    }

    /// <summary>A float tensor's values, from raw_data or float_data (external data must be resolved first).</summary>
    public static float[] ToFloats(TensorProto tensor)
    {
        long count = ElementCount(tensor);
        switch ((TensorProto.Types.DataType)tensor.DataType)
        {
            case TensorProto.Types.DataType.Float:
                if (!tensor.RawData.IsEmpty)
                {
                    RequireLength(tensor, tensor.RawData.Length, count * 4);
                    return MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray();
                }
                RequireLength(tensor, tensor.FloatData.Count, count);
                return [.. tensor.FloatData];
            case TensorProto.Types.DataType.Double:
                if (!tensor.RawData.IsEmpty)
                {
                    RequireLength(tensor, tensor.RawData.Length, count * 8);
                    return Array.ConvertAll(MemoryMarshal.Cast<byte, double>(tensor.RawData.Span).ToArray(), v => (float)v);
                }
                RequireLength(tensor, tensor.DoubleData.Count, count);
                return tensor.DoubleData.Select(v => (float)v).ToArray();
            default:
                throw new InvalidDataException($"tensor '{tensor.Name}' has element type {tensor.DataType}, not float");
        }
    }

    /// <summary>An integer tensor's values as int64 (int64, int32 and the smaller integer types).</summary>
    public static long[] ToInt64s(TensorProto tensor)
    {
        long count = ElementCount(tensor);
        var type = (TensorProto.Types.DataType)tensor.DataType;
        var raw = tensor.RawData;
        switch (type)
        {
            case TensorProto.Types.DataType.Int64:
                if (!raw.IsEmpty)
                {
                    RequireLength(tensor, raw.Length, count * 8);
                    return MemoryMarshal.Cast<byte, long>(raw.Span).ToArray();
                }
                RequireLength(tensor, tensor.Int64Data.Count, count);
                return [.. tensor.Int64Data];
            case TensorProto.Types.DataType.Bool:
                if (!raw.IsEmpty)
                {
                    RequireLength(tensor, raw.Length, count);
                    return raw.Span.ToArray().Select(v => v != 0 ? 1L : 0L).ToArray();
                }
                RequireLength(tensor, tensor.Int32Data.Count, count);
                return tensor.Int32Data.Select(v => v != 0 ? 1L : 0L).ToArray();
            case TensorProto.Types.DataType.Int32:
                if (!raw.IsEmpty)
                {
                    RequireLength(tensor, raw.Length, count * 4);
                    return Array.ConvertAll(MemoryMarshal.Cast<byte, int>(raw.Span).ToArray(), v => (long)v);
                }
                RequireLength(tensor, tensor.Int32Data.Count, count);
                return tensor.Int32Data.Select(v => (long)v).ToArray();
            case TensorProto.Types.DataType.Int8 or TensorProto.Types.DataType.Uint8 or TensorProto.Types.DataType.Bool
                or TensorProto.Types.DataType.Int16 or TensorProto.Types.DataType.Uint16:
                if (!raw.IsEmpty)
                {
                    int size = type is TensorProto.Types.DataType.Int16 or TensorProto.Types.DataType.Uint16 ? 2 : 1;
                    RequireLength(tensor, raw.Length, count * size);
                    var result = new long[count];
                    for (int i = 0; i < count; i++)
                    {
                        result[i] = type switch
                        {
                            TensorProto.Types.DataType.Int8 => (sbyte)raw.Span[i],
                            TensorProto.Types.DataType.Int16 => BitConverter.ToInt16(raw.Span.Slice(2 * i, 2)),
                            TensorProto.Types.DataType.Uint16 => BitConverter.ToUInt16(raw.Span.Slice(2 * i, 2)),
                            _ => raw.Span[i],
                        };
                    }
                    return result;
                }
                RequireLength(tensor, tensor.Int32Data.Count, count);
                return tensor.Int32Data.Select(v => (long)v).ToArray();
            default:
                throw new InvalidDataException($"tensor '{tensor.Name}' has element type {tensor.DataType}, not an integer type");
        }
    }

    private static void RequireLength(TensorProto tensor, long actual, long expected)
    {
        if (actual != expected)
        {
            throw new InvalidDataException(
                $"tensor '{tensor.Name}' declares dims [{string.Join(", ", tensor.Dims)}] but holds {actual} values/bytes where {expected} are needed");
        }
    }
}
