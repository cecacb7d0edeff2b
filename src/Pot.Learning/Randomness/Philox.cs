namespace Pot.Learning.Randomness;

/// <summary>
/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
/// counter-based generator. Every output is a pure function of (key, counter), so any random value
/// of a training run can be regenerated on its own, on any machine, in any order.
/// </summary>
/// <remarks>
/// The 64-bit key is the run's seed mixed with a purpose tag; the 128-bit counter is (index, stream)
/// as two 64-bit halves. Known-answer values from the Random123 distribution are checked in tests.
/// </remarks>
public static class Philox
{
    private const uint M0 = 0xD2511F53;
    private const uint M1 = 0xCD9E8D57;
    private const uint W0 = 0x9E3779B9;
    private const uint W1 = 0xBB67AE85;

    /// <summary>Runs the ten Philox rounds on one 128-bit counter block.</summary>
    /// <param name="c0">Counter word 0.</param>
    /// <param name="c1">Counter word 1.</param>
    /// <param name="c2">Counter word 2.</param>
    /// <param name="c3">Counter word 3.</param>
    /// <param name="k0">Key word 0.</param>
    /// <param name="k1">Key word 1.</param>
    /// <returns>Four 32-bit outputs.</returns>
    public static (uint X0, uint X1, uint X2, uint X3) Block(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int round = 0; round < 10; round++)
        {
            ulong p0 = (ulong)M0 * c0;
            ulong p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0;
            uint hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            uint n0 = hi1 ^ c1 ^ k0;
            uint n1 = lo1;
            uint n2 = hi0 ^ c3 ^ k1;
            uint n3 = lo0;
            c0 = n0; c1 = n1; c2 = n2; c3 = n3;
            k0 += W0;
            k1 += W1;
        }

        return (c0, c1, c2, c3);
    }

    /// <summary>Four random words for (key, stream, index).</summary>
    /// <param name="key">64-bit key (see <see cref="DeriveKey(ulong, ulong)"/>).</param>
    /// <param name="stream">Which stream under that key (e.g. a tensor or a sample id).</param>
    /// <param name="index">Position within the stream.</param>
    /// <returns>Four 32-bit outputs.</returns>
    public static (uint X0, uint X1, uint X2, uint X3) Words(ulong key, ulong stream, ulong index) =>
        Block((uint)index, (uint)(index >> 32), (uint)stream, (uint)(stream >> 32), (uint)key, (uint)(key >> 32));

    /// <summary>
    /// Derives a 64-bit key from a seed and a purpose tag by one SplitMix64 finalisation of each,
    /// so different purposes (initialisation, data order, …) never share a stream.
    /// </summary>
    /// <param name="seed">The run's seed.</param>
    /// <param name="purpose">A fixed tag naming the purpose.</param>
    /// <returns>The derived key.</returns>
    public static ulong DeriveKey(ulong seed, ulong purpose) => Mix(Mix(seed) ^ (purpose * 0x9E3779B97F4A7C15UL));

    /// <summary>Derives a key from a seed and a purpose given as ASCII text (FNV-1a of the text).</summary>
    /// <param name="seed">The run's seed.</param>
    /// <param name="purpose">Purpose name, e.g. "init".</param>
    /// <returns>The derived key.</returns>
    public static ulong DeriveKey(ulong seed, string purpose)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (char ch in purpose)
        {
            h = (h ^ ch) * 0x100000001B3UL;
        }

        return DeriveKey(seed, h);
    }

    /// <summary>SplitMix64 finaliser (a bijection on 64-bit values).</summary>
    /// <param name="z">Input.</param>
    /// <returns>Mixed output.</returns>
    public static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A uniform float in [0, 1) with 24 random bits: <c>(word &gt;&gt; 8) · 2⁻²⁴</c>, exact.</summary>
    /// <param name="word">A random 32-bit word.</param>
    /// <returns>The float.</returns>
    public static float ToUnitFloat(uint word) => (word >> 8) * (1.0f / 16777216.0f);

    /// <summary>A uniform integer in [0, n) by Lemire's multiply-shift (bias below 2⁻³² · n, documented).</summary>
    /// <param name="word">A random 32-bit word.</param>
    /// <param name="n">Exclusive upper bound, at least 1.</param>
    /// <returns>The integer.</returns>
    public static int ToRange(uint word, int n) => (int)(((ulong)word * (uint)n) >> 32);

    /// <summary>
    /// A standard normal variate for (key, stream, index) by the Marsaglia polar method with the
    /// engine's own logarithm: candidate pairs are drawn from sub-counters 0, 1, 2, … of the index
    /// until one falls inside the unit circle. The first of the pair is returned.
    /// </summary>
    /// <param name="key">Generator key.</param>
    /// <param name="stream">Stream.</param>
    /// <param name="index">Index within the stream (must be below 2⁵⁶).</param>
    /// <returns>An N(0, 1) sample.</returns>
    public static float Normal(ulong key, ulong stream, ulong index)
    {
        for (ulong attempt = 0; ; attempt++)
        {
            var (x0, x1, _, _) = Words(key, stream, (index << 8) | (attempt & 0xFF));
            float u = 2f * ToUnitFloat(x0) - 1f;
            float v = 2f * ToUnitFloat(x1) - 1f;
            float s = u * u + v * v;
            if (s > 0f && s < 1f)
            {
                return u * MathF.Sqrt(-2f * Kernels.DetMath.Log(s) / s);
            }
        }
    }
}
