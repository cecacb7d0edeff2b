using System.Buffers;
using System.Buffers.Binary;

namespace Pot.Commitments.Canonical;

/// <summary>
/// Writes the project's canonical binary encoding: unsigned LEB128 varints in their minimal form for
/// counts, lengths and integers; fixed-width little-endian for fixed-size numbers; raw bytes for
/// fixed-size fields such as hashes; a varint length before variable-size byte fields.
/// </summary>
/// <remarks>
/// Every value has exactly one encoding, so the encoded bytes of an object can be hashed and signed.
/// The matching <see cref="CanonicalReader"/> rejects anything this writer would not produce.
/// </remarks>
public sealed class CanonicalWriter
{
    private readonly ArrayBufferWriter<byte> _buffer;

    /// <summary>Creates a writer with a small initial buffer that grows as needed.</summary>
    /// <param name="initialCapacity">Initial capacity in bytes.</param>
    public CanonicalWriter(int initialCapacity = 256) => _buffer = new ArrayBufferWriter<byte>(Math.Max(1, initialCapacity));

    /// <summary>Number of bytes written so far.</summary>
    public int Length => _buffer.WrittenCount;

    /// <summary>The bytes written so far (valid until the next write).</summary>
    public ReadOnlySpan<byte> WrittenSpan => _buffer.WrittenSpan;

    /// <summary>Copies the bytes written so far into a new array.</summary>
    /// <returns>The encoding.</returns>
    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();

    /// <summary>Writes one byte.</summary>
    /// <param name="value">The byte.</param>
    public void WriteByte(byte value)
    {
        _buffer.GetSpan(1)[0] = value;
        _buffer.Advance(1);
    }

    /// <summary>Writes a boolean as exactly 0x00 or 0x01.</summary>
    /// <param name="value">The value.</param>
    public void WriteBool(bool value) => WriteByte(value ? (byte)1 : (byte)0);

    /// <summary>Writes an unsigned integer as a minimal unsigned LEB128 varint (1 to 10 bytes).</summary>
    /// <param name="value">The value.</param>
    public void WriteVarUInt64(ulong value)
    {
        Span<byte> span = _buffer.GetSpan(10);
        int n = 0;
        while (value >= 0x80)
        {
            span[n++] = (byte)(value | 0x80);
            value >>= 7;
        }
        span[n++] = (byte)value;
        _buffer.Advance(n);
    }

    /// <summary>Writes a 32-bit unsigned integer as 4 bytes little-endian.</summary>
    /// <param name="value">The value.</param>
    public void WriteUInt32LittleEndian(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.GetSpan(4), value);
        _buffer.Advance(4);
    }

    /// <summary>Writes a 64-bit unsigned integer as 8 bytes little-endian.</summary>
    /// <param name="value">The value.</param>
    public void WriteUInt64LittleEndian(ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_buffer.GetSpan(8), value);
        _buffer.Advance(8);
    }

    /// <summary>Writes bytes without a length prefix (for fields whose size the format fixes, e.g. hashes).</summary>
    /// <param name="bytes">The bytes.</param>
    public void WriteFixed(ReadOnlySpan<byte> bytes) => _buffer.Write(bytes);

    /// <summary>Writes a varint length followed by the bytes.</summary>
    /// <param name="bytes">The bytes.</param>
    public void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        WriteVarUInt64((ulong)bytes.Length);
        _buffer.Write(bytes);
    }

    /// <summary>Writes a string as its UTF-8 bytes with a varint length prefix.</summary>
    /// <param name="text">The text.</param>
    public void WriteString(string text) => WriteBytes(System.Text.Encoding.UTF8.GetBytes(text));
}
