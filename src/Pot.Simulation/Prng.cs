namespace Pot.Simulation;

/// <summary>
/// xoshiro256** seeded through SplitMix64. The simulator owns all randomness through one of these,
/// so a seed replays a run bit for bit.
/// </summary>
public sealed class Prng
{
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>Creates a generator from a 64-bit seed.</summary>
    /// <param name="seed">Seed.</param>
    public Prng(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x);
        _s1 = SplitMix(ref x);
        _s2 = SplitMix(ref x);
        _s3 = SplitMix(ref x);
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Next 64 random bits.</summary>
    /// <returns>Random bits.</returns>
    public ulong Next()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform integer in [0, <paramref name="maxExclusive"/>).</summary>
    /// <param name="maxExclusive">Upper bound, at least 1.</param>
    /// <returns>Random integer.</returns>
    public int Below(int maxExclusive) => (int)(Next() % (ulong)maxExclusive);

    /// <summary>Uniform integer in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    /// <param name="min">Lower bound.</param>
    /// <param name="max">Upper bound.</param>
    /// <returns>Random integer.</returns>
    public long Between(long min, long max) => min + (long)(Next() % (ulong)(max - min + 1));

    /// <summary>Uniform double in [0, 1).</summary>
    /// <returns>Random double.</returns>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    /// <summary>True with probability <paramref name="p"/>.</summary>
    /// <param name="p">Probability.</param>
    /// <returns>Random boolean.</returns>
    public bool Chance(double p) => NextDouble() < p;
}
