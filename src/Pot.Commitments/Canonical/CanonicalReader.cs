using System.Buffers.Binary;

namespace Pot.Commitments.Canonical;

/// <summary>
/// Reads the canonical encoding written by <see cref="CanonicalWriter"/> and rejects every other form:
/// truncated input, non-minimal or overlong varints, values above the caller's limit, booleans other
/// than 0/1, invalid UTF-8, and (via <see cref="EnsureEnd"/>) trailing bytes.
/// </summary>
/// <remarks>Every failure is a <see cref="PotFormatException"/> naming the field and the offset.</remarks>
public ref struct CanonicalReader
{
    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private readonly ReadOnlySpan<byte> _data;
    private readonly string _context;
    private int _offset;

    /// <summary>Creates a reader over the given bytes.</summary>
    /// <param name="data">The encoded bytes.</param>
    /// <param name="context">Name of the object being decoded, used as the prefix of error messages.</param>
    public CanonicalReader(ReadOnlySpan<byte> data, string context)
    {
        _data = data;
        _context = context;
        _offset = 0;
    }

    /// <summary>Offset of the next unread byte.</summary>
    public readonly int Offset => _offset;

    /// <summary>Number of unread bytes.</summary>
    public readonly int Remaining => _data.Length - _offset;

    /// <summary>Creates the exception for a malformation at the current offset.</summary>
    /// <param name="message">What was wrong and what was expected.</param>
    /// <returns>The exception (the caller throws it).</returns>
    public readonly PotFormatException Error(string message) => new($"{_context} at byte {_offset}: {message}");

    private ReadOnlySpan<byte> Take(int count, string field)
    {
        if (count < 0 || count > Remaining)
        {
            throw Error($"{field}: truncated, needs {count} bytes but only {Remaining} remain");
        }
        ReadOnlySpan<byte> slice = _data.Slice(_offset, count);
        _offset += count;
        return slice;
    }

    /// <summary>Reads one byte.</summary>
    /// <param name="field">Field name for errors.</param>
    /// <returns>The byte.</returns>
    public byte ReadByte(string field) => Take(1, field)[0];

    /// <summary>Reads a byte that must equal <paramref name="expected"/> (magic numbers, versions, tags).</summary>
    /// <param name="expected">The only accepted value.</param>
    /// <param name="field">Field name for errors.</param>
    public void ExpectByte(byte expected, string field)
    {
        byte actual = ReadByte(field);
        if (actual != expected)
        {
            _offset--;
            throw Error($"{field} is 0x{actual:x2}; expected 0x{expected:x2}");
        }
    }

    /// <summary>Reads a boolean encoded as exactly 0x00 or 0x01.</summary>
    /// <param name="field">Field name for errors.</param>
    /// <returns>The value.</returns>
    public bool ReadBool(string field)
    {
        byte b = ReadByte(field);
        if (b > 1)
        {
            _offset--;
            throw Error($"{field} is 0x{b:x2}; expected a boolean 0x00 or 0x01");
        }
        return b == 1;
    }

    /// <summary>Reads a minimal unsigned LEB128 varint and checks it against an inclusive maximum.</summary>
    /// <param name="max">Largest accepted value.</param>
    /// <param name="field">Field name for errors.</param>
    /// <returns>The value.</returns>
    public ulong ReadVarUInt64(ulong max, string field)
    {
        int start = _offset;
        ulong value = 0;
        for (int i = 0; ; i++)
        {
            if (i == 10)
            {
                _offset = start;
                throw Error($"{field}: varint longer than 10 bytes");
            }
            byte b = ReadByte(field);
            ulong payload = (ulong)(b & 0x7F);
            // The tenth byte may carry only the top bit of a 64-bit value.
            if (i == 9 && payload > 1)
            {
                _offset = start;
                throw Error($"{field}: varint overflows 64 bits");
            }
            value |= payload << (7 * i);
            if ((b & 0x80) == 0)
            {
                // A final zero byte after the first one adds nothing: that is a second encoding of a
                // shorter varint, which a canonical format must refuse.
                if (b == 0 && i > 0)
                {
                    _offset = start;
                    throw Error($"{field}: non-minimal varint (trailing zero group)");
                }
                break;
            }
        }
        if (value > max)
        {
            _offset = start;
            throw Error($"{field} is {value}; the limit is {max}");
        }
        return value;
    }

    /// <summary>Reads a varint that must fit in a non-negative <see cref="int"/> no larger than <paramref name="max"/>.</summary>
    /// <param name="max">Largest accepted value.</param>
    /// <param name="field">Field name for errors.</param>
    /// <returns>The value.</returns>
    public int ReadVarInt32(int max, string field) => (int)ReadVarUInt64((ulong)Math.Max(0, max), field);

    /// <summary>Reads 4 bytes little-endian.</summary>
    /// <param name="field">Field name for errors.</param>
    /// <returns>The value.</returns>
    public uint ReadUInt32LittleEndian(string field) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, field));

    /// <summary>Reads 8 bytes little-endian.</summary>
    /// <param name="field">Field name for errors.</param>
    /// <returns>The value.</returns>
    public ulong ReadUInt64LittleEndian(string field) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, field));

    /// <summary>Reads a field of a size the format fixes (e.g. a 32-byte hash).</summary>
    /// <param name="length">The size in bytes.</param>
    /// <param name="field">Field name for errors.</param>
    /// <returns>A view of the bytes (valid while the input is).</returns>
    public ReadOnlySpan<byte> ReadFixed(int length, string field) => Take(length, field);

    /// <summary>Reads a varint length (at most <paramref name="maxLength"/>) and that many bytes.</summary>
    /// <param name="maxLength">Largest accepted length.</param>
    /// <param name="field">Field name for errors.</param>
    /// <returns>A view of the bytes.</returns>
    public ReadOnlySpan<byte> ReadBytes(int maxLength, string field)
    {
        int length = ReadVarInt32(maxLength, field + " length");
        return Take(length, field);
    }

    /// <summary>Reads a length-prefixed strict UTF-8 string of at most <paramref name="maxBytes"/> bytes.</summary>
    /// <param name="maxBytes">Largest accepted length in bytes.</param>
    /// <param name="field">Field name for errors.</param>
    /// <returns>The string.</returns>
    public string ReadString(int maxBytes, string field)
    {
        ReadOnlySpan<byte> bytes = ReadBytes(maxBytes, field);
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (ArgumentException)
        {
            throw Error($"{field}: not valid UTF-8");
        }
    }

    /// <summary>Fails unless every byte has been consumed: trailing bytes would be a second encoding.</summary>
    public readonly void EnsureEnd()
    {
        if (Remaining != 0)
        {
            throw Error($"{Remaining} trailing bytes after the end of the object; expected none");
        }
    }
}
