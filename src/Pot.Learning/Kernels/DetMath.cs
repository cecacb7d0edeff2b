using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Pot.Learning.Kernels;

/// <summary>
/// The engine's own transcendental functions, built only from IEEE-exact operations (+, −, ×, fma,
/// ÷, √, integer bit manipulation) with fixed constants and a fixed evaluation order. They replace
/// the platform libm, whose results differ between machines. Every vector overload performs exactly
/// the same operations per lane as the scalar one, so all paths give the same bits.
/// </summary>
/// <remarks>
/// Accuracy (checked in tests against float64 <see cref="Math"/>): Exp within 2 ulp on its domain,
/// Log within 2 ulp for positive normal and subnormal inputs, Tanh within 3e-7 absolute.
/// </remarks>
public static class DetMath
{
    private const float Log2E = 1.44269504088896341f;
    private const float Ln2Hi = 0.693145751953125f;      // upper bits of ln 2, exact in float
    private const float Ln2Lo = 1.42860682030941723212e-6f;
    private const float RoundMagic = 12582912f;           // 1.5 · 2²³: adding it rounds to an integer
    private const float ExpMax = 88.37626f;               // largest x whose exp is finite in float
    private const float ExpMin = -87.33654f;              // exp(ExpMin) is the smallest normal float

    // Taylor coefficients of e^r on |r| ≤ ln2/2, highest degree first (Horner order).
    private const float E7 = 1f / 5040f, E6 = 1f / 720f, E5 = 1f / 120f, E4 = 1f / 24f, E3 = 1f / 6f, E2 = 0.5f;

    // Taylor coefficients of tanh(x)/x in x² for |x| < 0.5, highest degree first.
    private const float T6 = 21844f / 6081075f, T5 = -1382f / 155925f, T4 = 62f / 2835f, T3 = -17f / 315f, T2 = 2f / 15f, T1 = -1f / 3f;
    private const float TanhSmall = 0.5f;
    private const float TanhLarge = 9f;                   // tanh(9) rounds to 1 in float

    /// <summary>e^x. Inputs above 88.376 give +∞; inputs below −87.337 give 0; NaN gives NaN.</summary>
    /// <param name="x">Argument.</param>
    /// <returns>e^x.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Exp(float x)
    {
        if (float.IsNaN(x))
        {
            return x;
        }

        if (x > ExpMax)
        {
            return float.PositiveInfinity;
        }

        if (x < ExpMin)
        {
            return 0f;
        }

        float t = MathF.FusedMultiplyAdd(x, Log2E, RoundMagic) - RoundMagic;
        float r = MathF.FusedMultiplyAdd(t, -Ln2Hi, x);
        r = MathF.FusedMultiplyAdd(t, -Ln2Lo, r);
        float p = MathF.FusedMultiplyAdd(E7, r, E6);
        p = MathF.FusedMultiplyAdd(p, r, E5);
        p = MathF.FusedMultiplyAdd(p, r, E4);
        p = MathF.FusedMultiplyAdd(p, r, E3);
        p = MathF.FusedMultiplyAdd(p, r, E2);
        p = MathF.FusedMultiplyAdd(p, r, 1f);
        p = MathF.FusedMultiplyAdd(p, r, 1f);
        return ScaleByPowerOfTwo(p, (int)t);
    }

    /// <summary>Lane-wise <see cref="Exp(float)"/>; bit-identical to the scalar function per lane.</summary>
    /// <param name="x">Arguments.</param>
    /// <returns>e^x per lane.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        var nan = ~Vector512.Equals(x, x);
        var over = Vector512.GreaterThan(x, Vector512.Create(ExpMax));
        var under = Vector512.LessThan(x, Vector512.Create(ExpMin));
        var xc = Vector512.Min(Vector512.Max(x, Vector512.Create(ExpMin)), Vector512.Create(ExpMax));
        var magic = Vector512.Create(RoundMagic);
        var t = Vector512.FusedMultiplyAdd(xc, Vector512.Create(Log2E), magic) - magic;
        var r = Vector512.FusedMultiplyAdd(t, Vector512.Create(-Ln2Hi), xc);
        r = Vector512.FusedMultiplyAdd(t, Vector512.Create(-Ln2Lo), r);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(E7), r, Vector512.Create(E6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E5));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        var n = Vector512.ConvertToInt32(t);
        var result = ScaleByPowerOfTwo(p, n);
        result = Vector512.ConditionalSelect(under, Vector512<float>.Zero, result);
        result = Vector512.ConditionalSelect(over, Vector512.Create(float.PositiveInfinity), result);
        return Vector512.ConditionalSelect(nan, x, result);
    }

    /// <summary>Lane-wise <see cref="Exp(float)"/>; bit-identical to the scalar function per lane.</summary>
    /// <param name="x">Arguments.</param>
    /// <returns>e^x per lane.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var nan = ~Vector256.Equals(x, x);
        var over = Vector256.GreaterThan(x, Vector256.Create(ExpMax));
        var under = Vector256.LessThan(x, Vector256.Create(ExpMin));
        var xc = Vector256.Min(Vector256.Max(x, Vector256.Create(ExpMin)), Vector256.Create(ExpMax));
        var magic = Vector256.Create(RoundMagic);
        var t = Vector256.FusedMultiplyAdd(xc, Vector256.Create(Log2E), magic) - magic;
        var r = Vector256.FusedMultiplyAdd(t, Vector256.Create(-Ln2Hi), xc);
        r = Vector256.FusedMultiplyAdd(t, Vector256.Create(-Ln2Lo), r);
        var p = Vector256.FusedMultiplyAdd(Vector256.Create(E7), r, Vector256.Create(E6));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(E5));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(E4));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(E3));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(E2));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        var n = Vector256.ConvertToInt32(t);
        var result = ScaleByPowerOfTwo(p, n);
        result = Vector256.ConditionalSelect(under, Vector256<float>.Zero, result);
        result = Vector256.ConditionalSelect(over, Vector256.Create(float.PositiveInfinity), result);
        return Vector256.ConditionalSelect(nan, x, result);
    }

    /// <summary>
    /// Natural logarithm. log(±0) = −∞, log(x &lt; 0) = NaN, log(+∞) = +∞, NaN gives NaN.
    /// Evaluation: x = m·2^e with m in [√½, √2); s = (m−1)/(m+1); log m = 2s·(1 + s²/3 + … + s⁸/9)
    /// in Horner order; result = e·ln2_hi + (e·ln2_lo + log m).
    /// </summary>
    /// <param name="x">Argument.</param>
    /// <returns>ln x.</returns>
    public static float Log(float x)
    {
        if (float.IsNaN(x) || x < 0f)
        {
            return float.NaN;
        }

        if (x == 0f)
        {
            return float.NegativeInfinity;
        }

        if (float.IsPositiveInfinity(x))
        {
            return x;
        }

        int bits = BitConverter.SingleToInt32Bits(x);
        int exponentBias = 0;
        if ((bits & 0x7F800000) == 0)
        {
            // Subnormal: scale by 2²⁴ exactly and remember it.
            bits = BitConverter.SingleToInt32Bits(x * 16777216f);
            exponentBias = -24;
        }

        int e = ((bits >> 23) & 0xFF) - 127 + exponentBias;
        float m = BitConverter.Int32BitsToSingle((bits & 0x007FFFFF) | 0x3F800000); // in [1, 2)
        if (m > 1.41421356f)
        {
            m *= 0.5f; // exact
            e += 1;
        }

        float f = m - 1f;                 // exact (Sterbenz)
        float s = f / (m + 1f);
        float z = s * s;
        float poly = MathF.FusedMultiplyAdd(z, 1f / 9f, 1f / 7f);
        poly = MathF.FusedMultiplyAdd(poly, z, 1f / 5f);
        poly = MathF.FusedMultiplyAdd(poly, z, 1f / 3f);
        // log m = 2s + 2s·z·poly, computed as f - (f - 2s) style would need more care; this form is within 2 ulp.
        float twoS = 2f * s;
        float logM = MathF.FusedMultiplyAdd(twoS * z, poly, twoS);
        float ef = e;
        return MathF.FusedMultiplyAdd(ef, Ln2Hi, MathF.FusedMultiplyAdd(ef, Ln2Lo, logM));
    }

    /// <summary>
    /// Hyperbolic tangent. |x| &lt; 0.5: odd Taylor polynomial to x¹³ in Horner order;
    /// 0.5 ≤ |x| &lt; 9: sign(x)·(1 − 2/(e^{2|x|} + 1)); |x| ≥ 9: ±1. NaN gives NaN.
    /// </summary>
    /// <param name="x">Argument.</param>
    /// <returns>tanh x.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Tanh(float x)
    {
        float ax = MathF.Abs(x);
        float result;
        if (ax < TanhSmall)
        {
            float z = x * x;
            float p = MathF.FusedMultiplyAdd(T6, z, T5);
            p = MathF.FusedMultiplyAdd(p, z, T4);
            p = MathF.FusedMultiplyAdd(p, z, T3);
            p = MathF.FusedMultiplyAdd(p, z, T2);
            p = MathF.FusedMultiplyAdd(p, z, T1);
            return MathF.FusedMultiplyAdd(p * z, x, x);
        }

        if (ax >= TanhLarge)
        {
            result = 1f;
        }
        else if (float.IsNaN(x))
        {
            return x;
        }
        else
        {
            result = 1f - 2f / (Exp(2f * ax) + 1f);
        }

        return x < 0f ? -result : result;
    }

    /// <summary>Lane-wise <see cref="Tanh(float)"/>; bit-identical to the scalar function per lane.</summary>
    /// <param name="x">Arguments.</param>
    /// <returns>tanh x per lane.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Tanh(Vector512<float> x)
    {
        var ax = Vector512.Abs(x);
        var z = x * x;
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(T6), z, Vector512.Create(T5));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(T4));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(T3));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(T2));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(T1));
        var small = Vector512.FusedMultiplyAdd(p * z, x, x);
        var axc = Vector512.Min(ax, Vector512.Create(TanhLarge));
        var large = Vector512<float>.One - Vector512.Create(2f) / (Exp(Vector512.Create(2f) * axc) + Vector512<float>.One);
        large = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(ax, Vector512.Create(TanhLarge)), Vector512<float>.One, large);
        var signBit = x & Vector512.Create(-0f);
        large |= signBit; // large ≥ 0, so OR-ing the sign negates it exactly
        var result = Vector512.ConditionalSelect(Vector512.LessThan(ax, Vector512.Create(TanhSmall)), small, large);
        return Vector512.ConditionalSelect(~Vector512.Equals(x, x), x, result);
    }

    /// <summary>Lane-wise <see cref="Tanh(float)"/>; bit-identical to the scalar function per lane.</summary>
    /// <param name="x">Arguments.</param>
    /// <returns>tanh x per lane.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Tanh(Vector256<float> x)
    {
        var ax = Vector256.Abs(x);
        var z = x * x;
        var p = Vector256.FusedMultiplyAdd(Vector256.Create(T6), z, Vector256.Create(T5));
        p = Vector256.FusedMultiplyAdd(p, z, Vector256.Create(T4));
        p = Vector256.FusedMultiplyAdd(p, z, Vector256.Create(T3));
        p = Vector256.FusedMultiplyAdd(p, z, Vector256.Create(T2));
        p = Vector256.FusedMultiplyAdd(p, z, Vector256.Create(T1));
        var small = Vector256.FusedMultiplyAdd(p * z, x, x);
        var axc = Vector256.Min(ax, Vector256.Create(TanhLarge));
        var large = Vector256<float>.One - Vector256.Create(2f) / (Exp(Vector256.Create(2f) * axc) + Vector256<float>.One);
        large = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(ax, Vector256.Create(TanhLarge)), Vector256<float>.One, large);
        var signBit = x & Vector256.Create(-0f);
        large |= signBit;
        var result = Vector256.ConditionalSelect(Vector256.LessThan(ax, Vector256.Create(TanhSmall)), small, large);
        return Vector256.ConditionalSelect(~Vector256.Equals(x, x), x, result);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ScaleByPowerOfTwo(float p, int n)
    {
        // n is in [-126, 128]. p is in [0.7, 1.42]; scaling by 2^(n) in two halves keeps every
        // intermediate a normal float and every multiplication exact (a power of two).
        int n1 = n >> 1;
        int n2 = n - n1;
        float s1 = BitConverter.Int32BitsToSingle((n1 + 127) << 23);
        float s2 = BitConverter.Int32BitsToSingle((n2 + 127) << 23);
        return p * s1 * s2;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ScaleByPowerOfTwo(Vector512<float> p, Vector512<int> n)
    {
        var n1 = Vector512.ShiftRightArithmetic(n, 1);
        var n2 = n - n1;
        var bias = Vector512.Create(127);
        var s1 = Vector512.ShiftLeft(n1 + bias, 23).AsSingle();
        var s2 = Vector512.ShiftLeft(n2 + bias, 23).AsSingle();
        return p * s1 * s2;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ScaleByPowerOfTwo(Vector256<float> p, Vector256<int> n)
    {
        var n1 = Vector256.ShiftRightArithmetic(n, 1);
        var n2 = n - n1;
        var bias = Vector256.Create(127);
        var s1 = Vector256.ShiftLeft(n1 + bias, 23).AsSingle();
        var s2 = Vector256.ShiftLeft(n2 + bias, 23).AsSingle();
        return p * s1 * s2;
    }
}
