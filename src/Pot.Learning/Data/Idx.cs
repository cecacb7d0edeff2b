using System.Buffers.Binary;
using System.IO.Compression;

namespace Pot.Learning.Data;

/// <summary>An unsigned-byte IDX array: its dimensions and its data in row-major order.</summary>
/// <param name="Shape">The dimensions, outermost first.</param>
/// <param name="Data">The values, <c>product(Shape)</c> bytes.</param>
public sealed record IdxArray(int[] Shape, byte[] Data);

/// <summary>
/// A strict reader for the IDX format of MNIST-style data sets: a 4-byte magic
/// <c>00 00 08 rank</c> (type 0x08 = unsigned byte), <c>rank</c> big-endian 32-bit dimensions, then
/// exactly <c>product(dimensions)</c> bytes and nothing after them.
/// </summary>
public static class Idx
{
    /// <summary>The IDX type code of unsigned bytes.</summary>
    public const byte UnsignedByteType = 0x08;

    /// <summary>The largest payload accepted by default: 256 MiB.</summary>
    public const long DefaultMaxBytes = 256L << 20;

    /// <summary>The largest single dimension accepted.</summary>
    public const int MaxDimension = 100_000_000;

    /// <summary>Reads one unsigned-byte IDX array from a (decompressed) stream.</summary>
    /// <param name="stream">The stream, positioned at the magic number; read to its end.</param>
    /// <param name="expectedRank">The number of dimensions the caller requires (1 … 8).</param>
    /// <param name="what">What the array is, for error messages (e.g. a file name).</param>
    /// <param name="maxBytes">The largest payload accepted.</param>
    /// <returns>The array.</returns>
    /// <exception cref="DataFormatException">The data is not a well-formed IDX array of that rank.</exception>
    public static IdxArray Read(Stream stream, int expectedRank, string what, long maxBytes = DefaultMaxBytes)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(what);
        if (expectedRank < 1 || expectedRank > 8)
        {
            throw new ArgumentOutOfRangeException(nameof(expectedRank), expectedRank, "IDX rank must be in 1 … 8");
        }

        try
        {
            Span<byte> magic = stackalloc byte[4];
            ReadExactly(stream, magic, what, "the 4-byte magic number");
            if (magic[0] != 0 || magic[1] != 0)
            {
                throw new DataFormatException($"{what}: magic number {Convert.ToHexString(magic)} does not start with 0000; not an IDX file");
            }

            if (magic[2] != UnsignedByteType)
            {
                throw new DataFormatException($"{what}: IDX type code 0x{magic[2]:X2}, expected 0x08 (unsigned byte)");
            }

            if (magic[3] != expectedRank)
            {
                throw new DataFormatException($"{what}: IDX array has {magic[3]} dimensions, expected {expectedRank}");
            }

            var shape = new int[expectedRank];
            Span<byte> dim = stackalloc byte[4];
            long total = 1;
            for (int i = 0; i < expectedRank; i++)
            {
                ReadExactly(stream, dim, what, $"dimension {i}");
                uint d = BinaryPrimitives.ReadUInt32BigEndian(dim);
                if (d == 0 || d > MaxDimension)
                {
                    throw new DataFormatException($"{what}: dimension {i} is {d}, expected 1 … {MaxDimension}");
                }

                shape[i] = (int)d;
                total *= d;
                if (total > maxBytes)
                {
                    throw new DataFormatException($"{what}: IDX array of more than {maxBytes} bytes exceeds the limit");
                }
            }

            var data = new byte[total];
            ReadExactly(stream, data, what, $"{total} data bytes");
            Span<byte> extra = stackalloc byte[1];
            if (stream.Read(extra) != 0)
            {
                throw new DataFormatException($"{what}: trailing bytes after the {total} data bytes of the IDX array");
            }

            return new IdxArray(shape, data);
        }
        catch (InvalidDataException e)
        {
            throw new DataFormatException($"{what}: corrupt compressed data ({e.Message})", e);
        }
    }

    /// <summary>Reads a gzip-compressed unsigned-byte IDX file.</summary>
    /// <param name="path">The .gz file.</param>
    /// <param name="expectedRank">The number of dimensions the caller requires.</param>
    /// <param name="maxBytes">The largest payload accepted.</param>
    /// <returns>The array.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="DataFormatException">The file is not a well-formed gzip IDX array.</exception>
    public static IdxArray ReadGzipFile(string path, int expectedRank, long maxBytes = DefaultMaxBytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = File.OpenRead(path);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        return Read(gzip, expectedRank, path, maxBytes);
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer, string what, string part)
    {
        int read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        if (read != buffer.Length)
        {
            throw new DataFormatException($"{what}: truncated while reading {part} (got {read} of {buffer.Length} bytes)");
        }
    }
}
