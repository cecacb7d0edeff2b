using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using ZstdSharp;

namespace Pot.Commitments.Diffs;

/// <summary>
/// Binary diff between two fp32 model versions of equal length: the XOR of their bit patterns
/// (mostly zero bits where the update is small), compressed with zstd, behind a header that binds the
/// diff to its base and its result.
/// </summary>
/// <remarks>
/// <para>Layout: bytes 0–3 ASCII "POTD"; byte 4 format version (1); bytes 5–7 zero; bytes 8–15 float
/// count n (uint64 LE); bytes 16–47 SHA-256 of the base as fp32 LE bytes; bytes 48–79 SHA-256 of the
/// result as fp32 LE bytes; bytes 80.. one zstd frame whose content is the n·4 bytes of
/// (base bits XOR result bits), each word little-endian.</para>
/// <para>Applying checks, in order: header fields; n against the caller's limit (before allocating);
/// the base's hash (a wrong base is reported as such, not as corrupted data); that the frame
/// decompresses to exactly n·4 bytes; and the result's hash.</para>
/// </remarks>
public static class ModelDiff
{
    /// <summary>Header size in bytes.</summary>
    public const int HeaderBytes = 80;

    /// <summary>Current format version.</summary>
    public const byte FormatVersion = 1;

    /// <summary>Default largest float count <see cref="Apply"/> accepts (1 GiB of fp32).</summary>
    public const long DefaultMaxFloats = 1L << 28;

    /// <summary>zstd level used by <see cref="Create"/>: level 3 is zstd's default speed/ratio balance.</summary>
    public const int CompressionLevel = 3;

    private static ReadOnlySpan<byte> Magic => "POTD"u8;

    /// <summary>SHA-256 of floats as fp32 little-endian bytes.</summary>
    /// <param name="values">The floats.</param>
    /// <returns>The 32-byte digest.</returns>
    public static byte[] HashFloats(ReadOnlySpan<float> values)
    {
        if (BitConverter.IsLittleEndian)
        {
            return SHA256.HashData(MemoryMarshal.AsBytes(values));
        }
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> buffer = stackalloc byte[4];
        foreach (float v in values)
        {
            BinaryPrimitives.WriteSingleLittleEndian(buffer, v);
            hash.AppendData(buffer);
        }
        return hash.GetHashAndReset();
    }

    /// <summary>Creates the diff that turns <paramref name="baseModel"/> into <paramref name="result"/>.</summary>
    /// <param name="baseModel">The older version.</param>
    /// <param name="result">The newer version (same length).</param>
    /// <returns>The diff.</returns>
    /// <exception cref="ArgumentException">The versions differ in length.</exception>
    public static byte[] Create(ReadOnlySpan<float> baseModel, ReadOnlySpan<float> result)
    {
        if (baseModel.Length != result.Length)
        {
            throw new ArgumentException($"a diff needs versions of equal length; base has {baseModel.Length} floats, result {result.Length}", nameof(result));
        }
        int byteCount = checked(baseModel.Length * sizeof(float));
        byte[] xor = ArrayPool<byte>.Shared.Rent(Math.Max(1, byteCount));
        try
        {
            Span<uint> words = MemoryMarshal.Cast<byte, uint>(xor.AsSpan(0, byteCount));
            ReadOnlySpan<uint> a = MemoryMarshal.Cast<float, uint>(baseModel);
            ReadOnlySpan<uint> b = MemoryMarshal.Cast<float, uint>(result);
            Xor(a, b, words);
            if (!BitConverter.IsLittleEndian)
            {
                BinaryPrimitives.ReverseEndianness(words, words);
            }
            using var compressor = new Compressor(CompressionLevel);
            compressor.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_contentSizeFlag, 1);
            Span<byte> frame = compressor.Wrap(xor.AsSpan(0, byteCount));
            var diff = new byte[HeaderBytes + frame.Length];
            Magic.CopyTo(diff);
            diff[4] = FormatVersion;
            BinaryPrimitives.WriteUInt64LittleEndian(diff.AsSpan(8), (ulong)baseModel.Length);
            HashFloats(baseModel).CopyTo(diff.AsSpan(16));
            HashFloats(result).CopyTo(diff.AsSpan(48));
            frame.CopyTo(diff.AsSpan(HeaderBytes));
            return diff;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(xor);
        }
    }

    /// <summary>destination[i] = a[i] ^ b[i], vectorised; destination may alias either input.</summary>
    private static void Xor(ReadOnlySpan<uint> a, ReadOnlySpan<uint> b, Span<uint> destination)
    {
        int i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            int width = System.Numerics.Vector<uint>.Count;
            for (; i <= a.Length - width; i += width)
            {
                (new System.Numerics.Vector<uint>(a[i..]) ^ new System.Numerics.Vector<uint>(b[i..])).CopyTo(destination[i..]);
            }
        }
        for (; i < a.Length; i++)
        {
            destination[i] = a[i] ^ b[i];
        }
    }

    /// <summary>Reads the float count a diff declares, checking the header only.</summary>
    /// <param name="diff">The diff.</param>
    /// <param name="maxFloats">Largest accepted count.</param>
    /// <returns>The count.</returns>
    /// <exception cref="PotFormatException">The header is malformed or the count exceeds the limit.</exception>
    public static long ReadFloatCount(ReadOnlySpan<byte> diff, long maxFloats = DefaultMaxFloats)
    {
        if (diff.Length < HeaderBytes)
        {
            throw new PotFormatException($"model diff: {diff.Length} bytes is shorter than the {HeaderBytes}-byte header");
        }
        if (!diff[..4].SequenceEqual(Magic))
        {
            throw new PotFormatException($"model diff: magic is {Hex.Encode(diff[..4])}; expected \"POTD\" (504f5444)");
        }
        if (diff[4] != FormatVersion)
        {
            throw new PotFormatException($"model diff: format version {diff[4]}; this build reads version {FormatVersion}");
        }
        if (diff[5] != 0 || diff[6] != 0 || diff[7] != 0)
        {
            throw new PotFormatException("model diff: reserved header bytes 5-7 must be zero");
        }
        ulong declared = BinaryPrimitives.ReadUInt64LittleEndian(diff[8..]);
        if (declared > (ulong)Math.Min(maxFloats, int.MaxValue / sizeof(float)))
        {
            throw new PotFormatException($"model diff: declares {declared} floats; the limit is {Math.Min(maxFloats, int.MaxValue / sizeof(float))}");
        }
        return (long)declared;
    }

    /// <summary>Applies a diff to its base, producing the result bit for bit.</summary>
    /// <param name="diff">The diff.</param>
    /// <param name="baseModel">The base version the diff was made from.</param>
    /// <param name="maxFloats">Largest float count accepted (checked before allocating).</param>
    /// <returns>The result version.</returns>
    /// <exception cref="PotFormatException">Malformed diff, wrong base, decompression failure or size mismatch, or a result that does not match its recorded hash.</exception>
    public static float[] Apply(ReadOnlySpan<byte> diff, ReadOnlySpan<float> baseModel, long maxFloats = DefaultMaxFloats)
    {
        long count = ReadFloatCount(diff, maxFloats);
        if (count != baseModel.Length)
        {
            throw new PotFormatException($"model diff: made for a model of {count} floats; the base given has {baseModel.Length}");
        }
        ReadOnlySpan<byte> expectedBase = diff.Slice(16, 32);
        byte[] actualBase = HashFloats(baseModel);
        if (!expectedBase.SequenceEqual(actualBase))
        {
            throw new PotFormatException($"model diff: wrong base model; the diff expects base {Hex.Encode(expectedBase)} but the given base hashes to {Hex.Encode(actualBase)}");
        }
        var result = new float[count];
        Span<byte> resultBytes = MemoryMarshal.AsBytes(result.AsSpan());
        int written;
        try
        {
            using var decompressor = new Decompressor();
            // The output buffer is exactly the declared size, so a frame that inflates to more (a zip
            // bomb or a lie in the header) fails inside zstd instead of growing memory.
            if (!decompressor.TryUnwrap(diff[HeaderBytes..], resultBytes, out written))
            {
                throw new PotFormatException($"model diff: compressed data inflates beyond the declared {count * 4} bytes");
            }
        }
        catch (ZstdException ex)
        {
            throw new PotFormatException($"model diff: compressed data is corrupt ({ex.Message})", ex);
        }
        if (written != resultBytes.Length)
        {
            throw new PotFormatException($"model diff: compressed data inflates to {written} bytes; the header declares {resultBytes.Length}");
        }
        Span<uint> words = MemoryMarshal.Cast<float, uint>(result.AsSpan());
        if (!BitConverter.IsLittleEndian)
        {
            BinaryPrimitives.ReverseEndianness(words, words);
        }
        Xor(words, MemoryMarshal.Cast<float, uint>(baseModel), words);
        byte[] actualResult = HashFloats(result);
        if (!diff.Slice(48, 32).SequenceEqual(actualResult))
        {
            throw new PotFormatException($"model diff: the result hashes to {Hex.Encode(actualResult)} but the diff promises {Hex.Encode(diff.Slice(48, 32))}; the diff is corrupt");
        }
        return result;
    }
}
