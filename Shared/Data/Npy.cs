using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using RobustEval.IO;

namespace RobustEval.Data;

/// <summary>
/// The .npy format (versions 1–3): the magic <c>\x93NUMPY</c>, a version, a header length, then a Python
/// dict literal with <c>descr</c>, <c>fortran_order</c> and <c>shape</c>, padded to 64 bytes, then the data.
/// Only plain numeric arrays are accepted: object arrays would need Python's pickle, which can run code, so
/// they are refused outright.
/// </summary>
public static class Npy
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    private const int MaxHeaderLength = 1 << 16;

    /// <summary>Reads one array; <paramref name="name"/> names it in errors, <paramref name="maxBytes"/> caps its data.</summary>
    public static NpyArray Read(Stream stream, string name, long maxBytes)
    {
        Span<byte> preamble = stackalloc byte[8];
        if (!BinaryFiles.TryReadExactly(stream, preamble) || !preamble[..6].SequenceEqual(Magic))
        {
            throw new DataFormatException(name, "not a .npy array (wrong magic)");
        }
        byte major = preamble[6];
        int headerLength;
        if (major == 1)
        {
            Span<byte> length = stackalloc byte[2];
            if (!BinaryFiles.TryReadExactly(stream, length))
            {
                throw new DataFormatException(name, "truncated .npy header");
            }
            headerLength = BinaryPrimitives.ReadUInt16LittleEndian(length);
        }
        else if (major is 2 or 3)
        {
            Span<byte> length = stackalloc byte[4];
            if (!BinaryFiles.TryReadExactly(stream, length))
            {
                throw new DataFormatException(name, "truncated .npy header");
            }
            uint declared = BinaryPrimitives.ReadUInt32LittleEndian(length);
            if (declared > MaxHeaderLength)
            {
                throw new DataFormatException(name, $".npy header of {declared} bytes is implausibly long");
            }
            headerLength = (int)declared;
        }
        else
        {
            throw new DataFormatException(name, $".npy format version {major} is not supported");
        }
        var headerBytes = new byte[headerLength];
        if (!BinaryFiles.TryReadExactly(stream, headerBytes))
        {
            throw new DataFormatException(name, "truncated .npy header");
        }
        var (type, fortranOrder, shape) = ParseHeader(Encoding.UTF8.GetString(headerBytes), name);
        if (fortranOrder)
        {
            throw new DataFormatException(name, "Fortran-ordered arrays are not supported; save np.ascontiguousarray(a)");
        }
        long count = 1;
        foreach (long d in shape)
        {
            count *= d;
            if (count * NpyArray.ItemSize(type) > maxBytes)
            {
                throw new DataFormatException(name,
                    $"shape ({string.Join(", ", shape)}) needs more than the {maxBytes:N0} bytes allowed");
            }
        }
        var data = new byte[count * NpyArray.ItemSize(type)];
        if (!BinaryFiles.TryReadExactly(stream, data))
        {
            throw new DataFormatException(name, $"truncated: shape ({string.Join(", ", shape)}) needs {data.Length:N0} bytes of data");
        }
        if (!BinaryFiles.AtEnd(stream))
        {
            throw new DataFormatException(name, "has data after the array its header declares");
        }
        return new NpyArray(type, shape, data);
    }

    public static void Write(Stream stream, NpyArray array)
    {
        var shape = array.Shape.Length == 1
            ? $"({array.Shape[0]},)"
            : $"({string.Join(", ", array.Shape)})";
        var dict = $"{{'descr': '{NpyArray.Descriptor(array.Type)}', 'fortran_order': False, 'shape': {shape}, }}";
        // Version 1.0: 10 bytes of preamble; the header is padded with spaces so the data starts on a 64-byte boundary.
        int unpadded = 10 + dict.Length + 1;
        int padding = (64 - unpadded % 64) % 64;
        var header = dict + new string(' ', padding) + "\n";
        stream.Write(Magic);
        stream.WriteByte(1);
        stream.WriteByte(0);
        Span<byte> length = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(length, checked((ushort)header.Length));
        stream.Write(length);
        stream.Write(Encoding.ASCII.GetBytes(header));
        stream.Write(array.Bytes);
    }

    private static (NpyType Type, bool FortranOrder, long[] Shape) ParseHeader(string header, string name)
    {
        var parser = new HeaderParser(header, name);
        var entries = parser.ParseDict();
        if (!entries.TryGetValue("descr", out var descrValue) || descrValue is not string descr)
        {
            throw new DataFormatException(name, "the .npy header has no dtype ('descr'): structured arrays are not supported");
        }
        if (!entries.TryGetValue("fortran_order", out var fortranValue) || fortranValue is not bool fortran)
        {
            throw new DataFormatException(name, "the .npy header has no 'fortran_order'");
        }
        if (!entries.TryGetValue("shape", out var shapeValue) || shapeValue is not long[] shape)
        {
            throw new DataFormatException(name, "the .npy header has no 'shape'");
        }
        return (ParseDescriptor(descr, name), fortran, shape);
    }

    private static NpyType ParseDescriptor(string descr, string name)
    {
        if (descr.Length >= 2 && descr[1] == 'O')
        {
            throw new DataFormatException(name, "object arrays (Python pickles) are refused: they can run code when loaded");
        }
        if (descr.StartsWith('>') && !descr.EndsWith("1", StringComparison.Ordinal))
        {
            throw new DataFormatException(name, $"big-endian dtype '{descr}' is not supported; save little-endian arrays");
        }
        return descr.TrimStart('<', '|', '=') switch
        {
            "f4" => NpyType.Float32,
            "f8" => NpyType.Float64,
            "u1" => NpyType.UInt8,
            "i1" => NpyType.Int8,
            "i2" => NpyType.Int16,
            "i4" => NpyType.Int32,
            "i8" => NpyType.Int64,
            "b1" => NpyType.Bool,
            _ => throw new DataFormatException(name, $"dtype '{descr}' is not supported (float32/64, int8–64, uint8, bool)"),
        };
    }

    /// <summary>The small subset of Python literal syntax a .npy header uses: a dict of strings, booleans and int tuples.</summary>
    private ref struct HeaderParser(string text, string name)
    {
        private int _position;

        public Dictionary<string, object> ParseDict()
        {
            var result = new Dictionary<string, object>(StringComparer.Ordinal);
            Expect('{');
            while (true)
            {
                SkipSpace();
                if (Peek() == '}')
                {
                    _position++;
                    return result;
                }
                string key = ParseString();
                Expect(':');
                SkipSpace();
                result[key] = ParseValue();
                SkipSpace();
                if (Peek() == ',')
                {
                    _position++;
                }
                else if (Peek() != '}')
                {
                    throw Fail("expected ',' or '}'");
                }
            }
        }

        private object ParseValue()
        {
            char c = Peek();
            if (c is '\'' or '"')
            {
                return ParseString();
            }
            if (c == '(')
            {
                return ParseTuple();
            }
            if (text.AsSpan(_position).StartsWith("True"))
            {
                _position += 4;
                return true;
            }
            if (text.AsSpan(_position).StartsWith("False"))
            {
                _position += 5;
                return false;
            }
            if (c == '[')
            {
                throw new DataFormatException(name, "structured dtypes are not supported");
            }
            throw Fail($"unexpected '{c}'");
        }

        private long[] ParseTuple()
        {
            Expect('(');
            var dims = new List<long>();
            while (true)
            {
                SkipSpace();
                if (Peek() == ')')
                {
                    _position++;
                    return [.. dims];
                }
                int start = _position;
                while (_position < text.Length && char.IsAsciiDigit(text[_position]))
                {
                    _position++;
                }
                if (start == _position || !long.TryParse(text.AsSpan(start, _position - start), NumberStyles.None, CultureInfo.InvariantCulture, out long d))
                {
                    throw Fail("a shape dimension is not a non-negative integer");
                }
                dims.Add(d);
                SkipSpace();
                if (Peek() == ',')
                {
                    _position++;
                }
                else if (Peek() != ')')
                {
                    throw Fail("expected ',' or ')' in the shape");
                }
            }
        }

        private string ParseString()
        {
            SkipSpace();
            char quote = Peek();
            if (quote is not ('\'' or '"'))
            {
                throw Fail("expected a quoted string");
            }
            int end = text.IndexOf(quote, _position + 1);
            if (end < 0)
            {
                throw Fail("unterminated string");
            }
            var value = text.Substring(_position + 1, end - _position - 1);
            _position = end + 1;
            return value;
        }

        private void Expect(char c)
        {
            SkipSpace();
            if (Peek() != c)
            {
                throw Fail($"expected '{c}'");
            }
            _position++;
        }

        private readonly char Peek() => _position < text.Length ? text[_position] : '\0';

        private void SkipSpace()
        {
            while (_position < text.Length && char.IsWhiteSpace(text[_position]))
            {
                _position++;
            }
        }

        private readonly DataFormatException Fail(string what) =>
            new(name, $"malformed .npy header at character {_position}: {what}");
    }
}
