using System.Runtime.InteropServices;

namespace RobustEval.Data;

/// <summary>The element types RobustEval reads and writes in .npy files (little-endian, C order).</summary>
public enum NpyType
{
    Float32,
    Float64,
    UInt8,
    Int8,
    Int16,
    Int32,
    Int64,
    Bool,
}

/// <summary>An n-dimensional array as numpy stores it: an element type, a shape and little-endian C-order bytes.</summary>
public sealed class NpyArray
{
    public NpyArray(NpyType type, long[] shape, byte[] bytes)
    {
        long count = 1;
        foreach (long d in shape)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(d);
            count *= d;
        }
        if (count * ItemSize(type) != bytes.LongLength)
        {
            throw new ArgumentException($"{bytes.LongLength} bytes do not hold shape ({string.Join(", ", shape)}) of {type}");
        }
        Type = type;
        Shape = shape;
        Bytes = bytes;
    }

    public NpyType Type { get; }

    public long[] Shape { get; }

    public byte[] Bytes { get; }

    public long Count => Bytes.LongLength / ItemSize(Type);

    public static NpyArray Of(float[] values, params long[] shape) => new(NpyType.Float32, shape, ToBytes<float>(values));

    public static NpyArray Of(long[] values, params long[] shape) => new(NpyType.Int64, shape, ToBytes<long>(values));

    public static NpyArray Of(int[] values, params long[] shape) => new(NpyType.Int32, shape, ToBytes<int>(values));

    public static NpyArray Of(byte[] values, params long[] shape) => new(NpyType.UInt8, shape, (byte[])values.Clone());

    public static int ItemSize(NpyType type) => type switch
    {
        NpyType.Float64 or NpyType.Int64 => 8,
        NpyType.Float32 or NpyType.Int32 => 4,
        NpyType.Int16 => 2,
        _ => 1,
    };

    /// <summary>numpy's dtype string for the type, e.g. <c>&lt;f4</c>.</summary>
    public static string Descriptor(NpyType type) => type switch
    {
        NpyType.Float32 => "<f4",
        NpyType.Float64 => "<f8",
        NpyType.UInt8 => "|u1",
        NpyType.Int8 => "|i1",
        NpyType.Int16 => "<i2",
        NpyType.Int32 => "<i4",
        NpyType.Int64 => "<i8",
        NpyType.Bool => "|b1",
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    public bool IsInteger => Type is NpyType.UInt8 or NpyType.Int8 or NpyType.Int16 or NpyType.Int32 or NpyType.Int64 or NpyType.Bool;

    /// <summary>The values as float32 (converting from any numeric type).</summary>
    public float[] ToFloat32() => Type switch
    {
        NpyType.Float32 => MemoryMarshal.Cast<byte, float>(Bytes).ToArray(),
        NpyType.Float64 => Array.ConvertAll(MemoryMarshal.Cast<byte, double>(Bytes).ToArray(), v => (float)v),
        _ => Array.ConvertAll(ToInt64(), v => (float)v),
    };

    /// <summary>The values as int64; only for integer types (a float label array is a mistake worth reporting).</summary>
    public long[] ToInt64() => Type switch
    {
        NpyType.Int64 => MemoryMarshal.Cast<byte, long>(Bytes).ToArray(),
        NpyType.Int32 => Array.ConvertAll(MemoryMarshal.Cast<byte, int>(Bytes).ToArray(), v => (long)v),
        NpyType.Int16 => Array.ConvertAll(MemoryMarshal.Cast<byte, short>(Bytes).ToArray(), v => (long)v),
        NpyType.Int8 => Array.ConvertAll(MemoryMarshal.Cast<byte, sbyte>(Bytes).ToArray(), v => (long)v),
        NpyType.UInt8 or NpyType.Bool => Array.ConvertAll(Bytes, v => (long)v),
        _ => throw new InvalidOperationException($"{Type} values are not integers"),
    };

    private static byte[] ToBytes<T>(T[] values) where T : unmanaged =>
        MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
}
