using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Pot.Commitments.Quantization;

/// <summary>
/// 4-bit block quantization, bit-compatible with GGML's <c>Q4_0</c>: blocks of 32 floats become an fp16
/// scale d (2 bytes, little-endian) followed by 16 bytes of nibbles — 18 bytes per 128 bytes of fp32,
/// a ratio of 0.140625.
/// </summary>
/// <remarks>
/// <para>Quantization (llama.cpp <c>quantize_row_q4_0_ref</c>): find the signed value <c>max</c> of
/// largest magnitude (the first one on ties), d = max / −8 in fp32, id = 1/d (0 when d = 0), each
/// element's code is min(15, trunc(x·id + 8.5)) with all arithmetic in fp32 and no fused multiply-add;
/// byte j holds element j in its low nibble and element j+16 in its high nibble; d is stored as IEEE
/// fp16 rounded to nearest-even. Dequantization (<c>dequantize_row_q4_0</c>): x' = (code − 8) · fp16(d).</para>
/// <para>Error bound, for every element x of a block with fp32 scale d and stored scale h = fp16(d):
/// |x − x'| ≤ |d|/2 + 8|d − h| + |d|·2⁻²⁰ when x·id ≤ 7.5, and |x − x'| ≤ |d| + 7|d − h| + |d|·2⁻²⁰
/// otherwise (code 16 is clamped to 15, which only elements of sign opposite to max can reach).
/// |d − h| ≤ |d|·2⁻¹¹ when |d| ≥ 2⁻¹⁴ (fp16 normal range) and ≤ 2⁻²⁵ below it. The 2⁻²⁰ term covers fp32
/// rounding of x·id. The element equal to max is reproduced as −8·h.</para>
/// <para>Out-of-range inputs: NaN or ±∞ anywhere, or a block whose fp16 scale would overflow
/// (|max| ≥ 524 160, since 65 520 rounds to fp16 ∞), are rejected with <see cref="ArgumentException"/>
/// because dequantization would produce NaN. For blocks of tiny values where 1/d overflows to ∞ the
/// codes follow what GGML's reference compiles to on x86-64 (the C cast of NaN/∞ yields code 0).</para>
/// </remarks>
public static class Q4Codec
{
    /// <summary>Floats per block.</summary>
    public const int BlockFloats = 32;

    /// <summary>Bytes per encoded block (2-byte fp16 scale + 16 bytes of nibbles).</summary>
    public const int BlockBytes = 18;

    /// <summary>Largest finite fp16 value; a scale beyond it rounds to ∞.</summary>
    public const float MaxScale = 65504f;

    /// <summary>Number of blocks needed for <paramref name="floatCount"/> values (the last block is zero-padded).</summary>
    /// <param name="floatCount">Number of floats.</param>
    /// <returns>⌈floatCount / 32⌉.</returns>
    public static long BlockCount(long floatCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(floatCount);
        return (floatCount + BlockFloats - 1) / BlockFloats;
    }

    /// <summary>Quantizes whole blocks exactly as GGML's reference quantizer does.</summary>
    /// <param name="source">A multiple of 32 finite floats.</param>
    /// <param name="destination">Receives 18 bytes per block.</param>
    /// <exception cref="ArgumentException">Length not a multiple of 32, destination too small, a NaN/∞ value, or a scale overflowing fp16.</exception>
    public static void QuantizeBlocks(ReadOnlySpan<float> source, Span<byte> destination)
    {
        if (source.Length % BlockFloats != 0)
        {
            throw new ArgumentException($"Q4_0 quantizes whole blocks: {source.Length} floats is not a multiple of {BlockFloats}", nameof(source));
        }
        int blocks = source.Length / BlockFloats;
        if (destination.Length < blocks * BlockBytes)
        {
            throw new ArgumentException($"destination is {destination.Length} bytes; {blocks} blocks need {blocks * BlockBytes}", nameof(destination));
        }
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<float> x = source.Slice(b * BlockFloats, BlockFloats);
            Span<byte> y = destination.Slice(b * BlockBytes, BlockBytes);
            if (!Vector256.IsHardwareAccelerated || !TryQuantizeBlockVectorized(x, y))
            {
                QuantizeBlock(x, y, b);
            }
        }
    }

    /// <summary>
    /// SIMD version of <see cref="QuantizeBlock"/> for the common case. It declines (returns false, the
    /// scalar path then runs) for non-finite input and for scales below the fp32 normal range, where
    /// x·id can leave [−8, 8] and the C cast's wrap-around behaviour matters; otherwise every code lies
    /// in [0, 16] and plain truncation equals the reference's cast, so the bytes are identical.
    /// Multiplication and addition stay separate operations (no FMA), as in the reference.
    /// </summary>
    private static bool TryQuantizeBlockVectorized(ReadOnlySpan<float> x, Span<byte> y)
    {
        ref float first = ref MemoryMarshal.GetReference(x);
        Vector256<float> v0 = Vector256.LoadUnsafe(ref first, 0);
        Vector256<float> v1 = Vector256.LoadUnsafe(ref first, 8);
        Vector256<float> v2 = Vector256.LoadUnsafe(ref first, 16);
        Vector256<float> v3 = Vector256.LoadUnsafe(ref first, 24);
        // x − x is 0 for finite x and NaN for NaN or ±∞.
        Vector256<float> finite = (v0 - v0) + (v1 - v1) + (v2 - v2) + (v3 - v3);
        if (!Vector256.EqualsAll(finite, Vector256<float>.Zero))
        {
            return false;
        }
        Vector256<float> absMax = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
        float amax = 0f;
        for (int i = 0; i < Vector256<float>.Count; i++)
        {
            amax = MathF.Max(amax, absMax.GetElement(i));
        }
        float max = 0f;
        if (amax > 0f)
        {
            // The reference keeps the first element of largest magnitude.
            for (int j = 0; j < BlockFloats; j++)
            {
                if (MathF.Abs(x[j]) == amax)
                {
                    max = x[j];
                    break;
                }
            }
        }
        float d = max / -8f;
        if (d != 0f && !float.IsNormal(d))
        {
            return false;
        }
        float id = d != 0f ? 1f / d : 0f;
        Half dh = (Half)d;
        if (Half.IsInfinity(dh))
        {
            return false; // the scalar path reports the overflow with its position
        }
        BinaryPrimitives.WriteUInt16LittleEndian(y, BitConverter.HalfToUInt16Bits(dh));
        Vector256<float> scale = Vector256.Create(id);
        Vector256<float> half = Vector256.Create(8.5f);
        Vector256<int> fifteen = Vector256.Create(15);
        Vector256<int> c0 = Vector256.Min(Vector256.ConvertToInt32(Vector256.Add(Vector256.Multiply(v0, scale), half)), fifteen);
        Vector256<int> c1 = Vector256.Min(Vector256.ConvertToInt32(Vector256.Add(Vector256.Multiply(v1, scale), half)), fifteen);
        Vector256<int> c2 = Vector256.Min(Vector256.ConvertToInt32(Vector256.Add(Vector256.Multiply(v2, scale), half)), fifteen);
        Vector256<int> c3 = Vector256.Min(Vector256.ConvertToInt32(Vector256.Add(Vector256.Multiply(v3, scale), half)), fifteen);
        // Byte j = code(j) | code(j+16) << 4: elements 0-7 pair with 16-23, 8-15 with 24-31.
        Vector256<int> packedLow = c0 | Vector256.ShiftLeft(c2, 4);
        Vector256<int> packedHigh = c1 | Vector256.ShiftLeft(c3, 4);
        Vector256<short> shorts = Vector256.Narrow(packedLow, packedHigh);
        Vector128<byte> bytes = Vector128.Narrow(shorts.GetLower().AsUInt16(), shorts.GetUpper().AsUInt16());
        bytes.CopyTo(y[2..]);
        return true;
    }

    /// <summary>The scalar transcription of the reference for every block (tests compare it with the SIMD path).</summary>
    internal static void QuantizeBlocksScalar(ReadOnlySpan<float> source, Span<byte> destination)
    {
        for (int b = 0; b < source.Length / BlockFloats; b++)
        {
            QuantizeBlock(source.Slice(b * BlockFloats, BlockFloats), destination.Slice(b * BlockBytes, BlockBytes), b);
        }
    }

    /// <summary>Dequantizes whole blocks exactly as GGML's <c>dequantize_row_q4_0</c> does (no validation of d).</summary>
    /// <param name="source">18 bytes per block.</param>
    /// <param name="destination">Receives 32 floats per block.</param>
    public static void DequantizeBlocks(ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (source.Length % BlockBytes != 0)
        {
            throw new ArgumentException($"Q4_0 data is {source.Length} bytes; expected a multiple of {BlockBytes}", nameof(source));
        }
        int blocks = source.Length / BlockBytes;
        if (destination.Length < blocks * BlockFloats)
        {
            throw new ArgumentException($"destination holds {destination.Length} floats; {blocks} blocks need {blocks * BlockFloats}", nameof(destination));
        }
        for (int b = 0; b < blocks; b++)
        {
            DequantizeBlock(source.Slice(b * BlockBytes, BlockBytes), destination.Slice(b * BlockFloats, BlockFloats));
        }
    }

    /// <summary>The fp32 value of a block's stored scale.</summary>
    /// <param name="block">An 18-byte block.</param>
    /// <returns>fp16 scale widened to fp32.</returns>
    public static float ReadScale(ReadOnlySpan<byte> block) => (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(block));

    private static void QuantizeBlock(ReadOnlySpan<float> x, Span<byte> y, int blockIndex)
    {
        float amax = 0f;
        float max = 0f;
        for (int j = 0; j < BlockFloats; j++)
        {
            float v = x[j];
            if (!float.IsFinite(v))
            {
                throw new ArgumentException($"Q4_0 input block {blockIndex} element {j} is {v}; only finite values can be quantized", nameof(x));
            }
            // Strict '<' keeps the first element of largest magnitude, as the reference does.
            if (amax < MathF.Abs(v))
            {
                amax = MathF.Abs(v);
                max = v;
            }
        }
        float d = max / -8f;
        float id = d != 0f ? 1f / d : 0f;
        Half dh = (Half)d;
        if (Half.IsInfinity(dh))
        {
            throw new ArgumentException($"Q4_0 input block {blockIndex}: largest magnitude {max} gives scale {d}, which overflows fp16 (|max| must be below 524160)", nameof(x));
        }
        BinaryPrimitives.WriteUInt16LittleEndian(y, BitConverter.HalfToUInt16Bits(dh));
        for (int j = 0; j < BlockFloats / 2; j++)
        {
            int lo = Math.Min(15, TruncateToInt8(x[j] * id + 8.5f));
            int hi = Math.Min(15, TruncateToInt8(x[j + BlockFloats / 2] * id + 8.5f));
            y[2 + j] = (byte)(lo | (hi << 4));
        }
    }

    /// <summary>
    /// The C expression <c>(int8_t)v</c> as GGML's reference compiles on x86-64: truncate toward zero to
    /// 32 bits (NaN and out-of-range give 0x80000000), then keep the low byte as a signed value.
    /// For ordinary inputs v lies in [0.5, 16.5] and this is plain truncation.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int TruncateToInt8(float v)
    {
        if (v >= 0f && v < 128f)
        {
            return (int)v;
        }
        int wide = v >= -2147483648f && v < 2147483648f ? (int)v : int.MinValue;
        return (sbyte)wide;
    }

    private static void DequantizeBlock(ReadOnlySpan<byte> x, Span<float> y)
    {
        float d = ReadScale(x);
        for (int j = 0; j < BlockFloats / 2; j++)
        {
            byte q = x[2 + j];
            y[j] = ((q & 0x0F) - 8) * d;
            y[j + BlockFloats / 2] = ((q >> 4) - 8) * d;
        }
    }

    /// <summary>Reinterprets fp32 values as their bit patterns (used by tests and diffs).</summary>
    /// <param name="values">The floats.</param>
    /// <returns>A view of the raw bits.</returns>
    public static ReadOnlySpan<uint> AsBits(ReadOnlySpan<float> values) => MemoryMarshal.Cast<float, uint>(values);
}
