using System.Security.Cryptography;

namespace Pot.Commitments.Tests;

/// <summary>
/// A deliberately naive, recursive transcription of RFC 6962 §2.1 (MTH and PATH), independent of the
/// production code (which builds bottom-up), used as the known-answer oracle.
/// </summary>
internal static class ReferenceMerkle
{
    public static byte[] LeafHash(byte[] leaf) => SHA256.HashData([0x00, .. leaf]);

    public static byte[] NodeHash(byte[] left, byte[] right) => SHA256.HashData([0x01, .. left, .. right]);

    private static int LargestPowerOfTwoBelow(int n)
    {
        int k = 1;
        while (k * 2 < n)
        {
            k *= 2;
        }
        return k;
    }

    public static byte[] Mth(IReadOnlyList<byte[]> d)
    {
        if (d.Count == 0)
        {
            return SHA256.HashData(Array.Empty<byte>());
        }
        if (d.Count == 1)
        {
            return LeafHash(d[0]);
        }
        int k = LargestPowerOfTwoBelow(d.Count);
        return NodeHash(Mth(d.Take(k).ToList()), Mth(d.Skip(k).ToList()));
    }

    public static List<byte[]> Path(int m, IReadOnlyList<byte[]> d)
    {
        if (d.Count <= 1)
        {
            return [];
        }
        int k = LargestPowerOfTwoBelow(d.Count);
        if (m < k)
        {
            var p = Path(m, d.Take(k).ToList());
            p.Add(Mth(d.Skip(k).ToList()));
            return p;
        }
        var q = Path(m - k, d.Skip(k).ToList());
        q.Add(Mth(d.Take(k).ToList()));
        return q;
    }

    /// <summary>Leaves of varying lengths (0..9 bytes) so the tests also cover short and empty leaves.</summary>
    public static List<byte[]> Leaves(int n) =>
        Enumerable.Range(0, n).Select(i => Enumerable.Range(0, i % 10).Select(j => (byte)(i * 31 + j * 7)).ToArray()).ToList();
}
