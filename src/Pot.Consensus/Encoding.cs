using System.Buffers.Binary;

namespace Pot.Consensus;

/// <summary>Thrown when consensus bytes do not decode to exactly one well-formed message.</summary>
public sealed class ConsensusEncodingException : Exception
{
    /// <summary>Creates the exception with a message naming what was wrong and what was expected.</summary>
    /// <param name="message">What was wrong and what was expected.</param>
    public ConsensusEncodingException(string message) : base(message) { }
}

/// <summary>
/// Canonical writer: little-endian fixed-width integers, length-prefixed byte strings and
/// count-prefixed lists. One value has exactly one encoding, so signatures over it are stable.
/// </summary>
internal sealed class CanonicalWriter
{
    private byte[] _buffer = new byte[256];
    private int _length;

    public int Length => _length;

    private Span<byte> Grow(int count)
    {
        if (_length + count > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + count));
        }
        var span = _buffer.AsSpan(_length, count);
        _length += count;
        return span;
    }

    public void U8(byte value) => Grow(1)[0] = value;

    public void I32(int value) => BinaryPrimitives.WriteInt32LittleEndian(Grow(4), value);

    public void I64(long value) => BinaryPrimitives.WriteInt64LittleEndian(Grow(8), value);

    public void Bytes(ReadOnlySpan<byte> value, int maxLength)
    {
        if (value.Length > maxLength)
        {
            throw new ConsensusEncodingException($"byte string of {value.Length} bytes exceeds the limit of {maxLength}");
        }
        I32(value.Length);
        value.CopyTo(Grow(value.Length));
    }

    public void Raw(ReadOnlySpan<byte> value) => value.CopyTo(Grow(value.Length));

    public void Count(int count, int maxCount)
    {
        if (count > maxCount)
        {
            throw new ConsensusEncodingException($"list of {count} items exceeds the limit of {maxCount}");
        }
        I32(count);
    }

    public byte[] ToArray() => _buffer.AsSpan(0, _length).ToArray();
}

/// <summary>Canonical reader: the inverse of <see cref="CanonicalWriter"/>, rejecting anything out of bounds.</summary>
internal ref struct CanonicalReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _position;

    public CanonicalReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _position = 0;
    }

    private ReadOnlySpan<byte> Take(int count, string what)
    {
        if (count < 0 || _data.Length - _position < count)
        {
            throw new ConsensusEncodingException($"truncated input: {what} needs {count} bytes at offset {_position}, only {_data.Length - _position} remain");
        }
        var span = _data.Slice(_position, count);
        _position += count;
        return span;
    }

    public byte U8(string what) => Take(1, what)[0];

    public int I32(string what) => BinaryPrimitives.ReadInt32LittleEndian(Take(4, what));

    public long I64(string what) => BinaryPrimitives.ReadInt64LittleEndian(Take(8, what));

    public long NonNegative(string what)
    {
        long value = I64(what);
        if (value < 0)
        {
            throw new ConsensusEncodingException($"{what} is {value}, expected a non-negative number");
        }
        return value;
    }

    public byte[] Bytes(string what, int maxLength)
    {
        int length = I32(what + " length");
        if (length < 0 || length > maxLength)
        {
            throw new ConsensusEncodingException($"{what} length {length} is outside [0, {maxLength}]");
        }
        return Take(length, what).ToArray();
    }

    public byte[] Fixed(string what, int length) => Take(length, what).ToArray();

    public int Count(string what, int maxCount)
    {
        int count = I32(what + " count");
        if (count < 0 || count > maxCount)
        {
            throw new ConsensusEncodingException($"{what} count {count} is outside [0, {maxCount}]");
        }
        return count;
    }

    public void End()
    {
        if (_position != _data.Length)
        {
            throw new ConsensusEncodingException($"{_data.Length - _position} trailing bytes after the message at offset {_position}, expected none");
        }
    }
}
