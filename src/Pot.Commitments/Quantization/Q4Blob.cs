using System.Buffers.Binary;

namespace Pot.Commitments.Quantization;

/// <summary>
/// A self-describing container for a Q4_0-quantized vector of any length: a 16-byte header followed by
/// the GGML-compatible blocks.
/// </summary>
/// <remarks>
/// Layout: bytes 0–3 ASCII "POTQ"; byte 4 format version (1); bytes 5–7 zero; bytes 8–15 the float
/// count n as uint64 little-endian; then ⌈n/32⌉ blocks of 18 bytes. When n is not a multiple of 32 the
/// last block is quantized from the real values only and its padding codes are 8 (the code of zero);
/// the decoder requires exactly that, finite scales, and the exact total length, so every vector has a
/// single blob encoding. Blocks start at byte 16, so a Merkle tree over the block bytes alone (leaves of
/// 576 bytes = 32 blocks = one model leaf of 1024 floats) lines up with the model commitment.
/// </remarks>
public static class Q4Blob
{
    /// <summary>Header size in bytes.</summary>
    public const int HeaderBytes = 16;

    /// <summary>Current format version.</summary>
    public const byte FormatVersion = 1;

    /// <summary>Bytes of Q4 blocks covering one model-commitment leaf of 1024 floats (32 blocks).</summary>
    public const int BlocksBytesPerModelLeaf = ModelCommitment.LeafFloats / Q4Codec.BlockFloats * Q4Codec.BlockBytes;

    private static ReadOnlySpan<byte> Magic => "POTQ"u8;

    /// <summary>Size of the blob for <paramref name="floatCount"/> values.</summary>
    /// <param name="floatCount">Number of floats.</param>
    /// <returns>Header plus blocks, in bytes.</returns>
    public static long EncodedLength(long floatCount) => HeaderBytes + Q4Codec.BlockCount(floatCount) * Q4Codec.BlockBytes;

    /// <summary>Quantizes a vector into a blob.</summary>
    /// <param name="values">Finite floats.</param>
    /// <returns>The blob.</returns>
    /// <exception cref="ArgumentException">A value is NaN/∞ or a block's scale overflows fp16.</exception>
    public static byte[] Encode(ReadOnlySpan<float> values)
    {
        long blocks = Q4Codec.BlockCount(values.Length);
        var blob = new byte[checked((int)EncodedLength(values.Length))];
        Magic.CopyTo(blob);
        blob[4] = FormatVersion;
        BinaryPrimitives.WriteUInt64LittleEndian(blob.AsSpan(8), (ulong)values.Length);
        int whole = values.Length / Q4Codec.BlockFloats * Q4Codec.BlockFloats;
        Q4Codec.QuantizeBlocks(values[..whole], blob.AsSpan(HeaderBytes));
        int tail = values.Length - whole;
        if (tail > 0)
        {
            Span<float> padded = stackalloc float[Q4Codec.BlockFloats];
            padded.Clear();
            values[whole..].CopyTo(padded);
            Span<byte> last = blob.AsSpan(HeaderBytes + (int)(blocks - 1) * Q4Codec.BlockBytes, Q4Codec.BlockBytes);
            Q4Codec.QuantizeBlocks(padded, last);
            // Padding zeros never change the block's max, so the real codes are GGML's; the padding
            // codes are forced to 8 because a tiny block (1/d = ∞) would otherwise give them code 0.
            for (int j = tail; j < Q4Codec.BlockFloats; j++)
            {
                SetCode(last, j, 8);
            }
        }
        return blob;
    }

    /// <summary>Decodes and dequantizes a blob.</summary>
    /// <param name="blob">The blob.</param>
    /// <param name="maxFloats">Largest float count accepted (checked before allocating).</param>
    /// <returns>The dequantized values.</returns>
    /// <exception cref="PotFormatException">The blob is malformed, non-canonical or larger than allowed.</exception>
    public static float[] Decode(ReadOnlySpan<byte> blob, long maxFloats = 1L << 28)
    {
        long count = ValidateHeader(blob, maxFloats);
        var values = new float[count];
        ReadOnlySpan<byte> blocks = blob[HeaderBytes..];
        int whole = (int)(count / Q4Codec.BlockFloats);
        Q4Codec.DequantizeBlocks(blocks[..(whole * Q4Codec.BlockBytes)], values);
        int tail = (int)(count - (long)whole * Q4Codec.BlockFloats);
        if (tail > 0)
        {
            Span<float> padded = stackalloc float[Q4Codec.BlockFloats];
            Q4Codec.DequantizeBlocks(blocks.Slice(whole * Q4Codec.BlockBytes, Q4Codec.BlockBytes), padded);
            padded[..tail].CopyTo(values.AsSpan(whole * Q4Codec.BlockFloats));
        }
        return values;
    }

    /// <summary>Checks a blob's header, length, scales and padding, and returns its float count.</summary>
    /// <param name="blob">The blob.</param>
    /// <param name="maxFloats">Largest float count accepted.</param>
    /// <returns>The float count.</returns>
    /// <exception cref="PotFormatException">The blob is malformed.</exception>
    public static long ValidateHeader(ReadOnlySpan<byte> blob, long maxFloats)
    {
        if (blob.Length < HeaderBytes)
        {
            throw new PotFormatException($"Q4 blob: {blob.Length} bytes is shorter than the {HeaderBytes}-byte header");
        }
        if (!blob[..4].SequenceEqual(Magic))
        {
            throw new PotFormatException($"Q4 blob: magic is {Hex.Encode(blob[..4])}; expected \"POTQ\" (504f5451)");
        }
        if (blob[4] != FormatVersion)
        {
            throw new PotFormatException($"Q4 blob: format version {blob[4]}; this build reads version {FormatVersion}");
        }
        if (blob[5] != 0 || blob[6] != 0 || blob[7] != 0)
        {
            throw new PotFormatException("Q4 blob: reserved header bytes 5-7 must be zero");
        }
        ulong declared = BinaryPrimitives.ReadUInt64LittleEndian(blob[8..]);
        if (declared > (ulong)maxFloats)
        {
            throw new PotFormatException($"Q4 blob: declares {declared} floats; the limit is {maxFloats}");
        }
        long count = (long)declared;
        long expectedLength = EncodedLength(count);
        if (blob.Length != expectedLength)
        {
            throw new PotFormatException($"Q4 blob: {blob.Length} bytes for {count} floats; expected exactly {expectedLength}");
        }
        ReadOnlySpan<byte> blocks = blob[HeaderBytes..];
        int blockCount = blocks.Length / Q4Codec.BlockBytes;
        for (int b = 0; b < blockCount; b++)
        {
            float d = Q4Codec.ReadScale(blocks.Slice(b * Q4Codec.BlockBytes));
            if (!float.IsFinite(d))
            {
                throw new PotFormatException($"Q4 blob: block {b} has scale {d}; scales must be finite");
            }
        }
        int tail = (int)(count % Q4Codec.BlockFloats);
        if (tail > 0)
        {
            ReadOnlySpan<byte> last = blocks.Slice((blockCount - 1) * Q4Codec.BlockBytes, Q4Codec.BlockBytes);
            for (int j = tail; j < Q4Codec.BlockFloats; j++)
            {
                int code = j < 16 ? last[2 + j] & 0x0F : last[2 + j - 16] >> 4;
                if (code != 8)
                {
                    throw new PotFormatException($"Q4 blob: padding element {j} of the last block has code {code}; expected 8 (zero)");
                }
            }
        }
        return count;
    }

    private static void SetCode(Span<byte> block, int element, int code)
    {
        if (element < 16)
        {
            block[2 + element] = (byte)((block[2 + element] & 0xF0) | code);
        }
        else
        {
            block[2 + element - 16] = (byte)((block[2 + element - 16] & 0x0F) | (code << 4));
        }
    }
}
