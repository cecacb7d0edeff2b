using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Pot.Protocol;

/// <summary>
/// A deterministic random stream derived with SHA-256 from a seed and a purpose: word i is the first
/// 8 bytes (little-endian) of SHA-256(key ‖ i as uint64 LE), where key = SHA-256("pot/rng/v1" ‖ 0x00 ‖
/// purpose ‖ 0x00 ‖ seed). Every protocol choice (verifiers, replayed steps, sampled leaves, evaluation
/// data) is drawn from such a stream, so anyone holding the seed recomputes the same choices.
/// </summary>
public sealed class ProtocolRandom
{
    private readonly byte[] _key;
    private ulong _counter;

    /// <summary>Creates the stream for <paramref name="seed"/> and <paramref name="purpose"/>.</summary>
    /// <param name="seed">The seed bytes (e.g. a challenge seed γ).</param>
    /// <param name="purpose">What the stream is used for; different purposes give independent streams.</param>
    public ProtocolRandom(ReadOnlySpan<byte> seed, string purpose)
    {
        ArgumentException.ThrowIfNullOrEmpty(purpose);
        _key = Hashing.Domain("pot/rng/v1", Encoding.UTF8.GetBytes(purpose), seed.ToArray());
    }

    /// <summary>The next 64 random bits.</summary>
    /// <returns>A uniformly distributed word.</returns>
    public ulong NextUInt64()
    {
        Span<byte> input = stackalloc byte[40];
        _key.CopyTo(input);
        BinaryPrimitives.WriteUInt64LittleEndian(input[32..], _counter++);
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(input, digest);
        return BinaryPrimitives.ReadUInt64LittleEndian(digest);
    }

    /// <summary>A uniform integer in [0, n) by multiply-shift (bias below n·2⁻⁶⁴).</summary>
    /// <param name="n">Upper bound, at least 1.</param>
    /// <returns>The integer.</returns>
    public int NextInt(int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        return (int)Math.BigMul(NextUInt64(), (ulong)n, out _);
    }

    /// <summary>A uniform double in [0, 1) with 53 random bits.</summary>
    /// <returns>The value.</returns>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>
    /// <paramref name="k"/> distinct integers from [0, n), uniformly (a partial Fisher–Yates shuffle), returned
    /// in ascending order; all of [0, n) when k ≥ n.
    /// </summary>
    /// <param name="n">Population size.</param>
    /// <param name="k">Sample size.</param>
    /// <returns>The sample, ascending.</returns>
    public int[] SampleWithoutReplacement(int n, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        k = Math.Min(k, n);
        var pool = new int[n];
        for (int i = 0; i < n; i++)
        {
            pool[i] = i;
        }
        for (int i = 0; i < k; i++)
        {
            int j = i + NextInt(n - i);
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }
        var sample = pool[..k];
        Array.Sort(sample);
        return sample;
    }
}

/// <summary>Domain-separated SHA-256 helpers used for every protocol derivation.</summary>
public static class Hashing
{
    /// <summary>
    /// SHA-256(domain ‖ 0x00 ‖ for each part: uint32 LE length ‖ part). The length prefixes make the
    /// encoding of the parts unambiguous.
    /// </summary>
    /// <param name="domain">ASCII domain string, e.g. "pot/challenge/v1".</param>
    /// <param name="parts">The parts.</param>
    /// <returns>32 bytes.</returns>
    public static byte[] Domain(string domain, params byte[][] parts)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(domain));
        hash.AppendData([0]);
        Span<byte> length = stackalloc byte[4];
        foreach (byte[] part in parts)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)part.Length);
            hash.AppendData(length);
            hash.AppendData(part);
        }
        return hash.GetHashAndReset();
    }

    /// <summary>A uint64 as 8 little-endian bytes.</summary>
    /// <param name="value">The value.</param>
    /// <returns>The bytes.</returns>
    public static byte[] U64(ulong value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return bytes;
    }

    /// <summary>A string as UTF-8 bytes.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The bytes.</returns>
    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
}
