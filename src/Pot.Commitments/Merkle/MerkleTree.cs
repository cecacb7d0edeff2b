using System.Buffers;

namespace Pot.Commitments.Merkle;

/// <summary>
/// An RFC 6962 Merkle tree over leaf hashes, kept level by level so that inclusion proofs and
/// multi-proofs are produced in O(log n) per leaf; plus static helpers that compute only the root.
/// </summary>
/// <remarks>
/// RFC 6962 splits a tree of n leaves at the largest power of two k &lt; n. Building bottom-up — hash
/// adjacent pairs, carry a lone last node up unchanged — yields exactly the same root and the same
/// audit paths, and needs no recursion, so that is how the levels are built here.
/// </remarks>
public sealed class MerkleTree
{
    // _levels[0] holds the leaf hashes, the last level holds the root; each is count*32 bytes.
    private readonly byte[][] _levels;
    private readonly int[] _counts;

    private MerkleTree(byte[][] levels, int[] counts)
    {
        _levels = levels;
        _counts = counts;
    }

    /// <summary>Number of leaves.</summary>
    public int LeafCount => _counts[0];

    /// <summary>The 32-byte root (SHA-256 of nothing for an empty tree).</summary>
    public byte[] Root => LeafCount == 0 ? MerkleHash.EmptyRoot.ToArray() : _levels[^1].AsSpan(0, MerkleHash.Size).ToArray();

    /// <summary>Builds the tree from concatenated 32-byte leaf hashes.</summary>
    /// <param name="leafHashes">n × 32 bytes.</param>
    /// <returns>The tree.</returns>
    /// <exception cref="ArgumentException">The length is not a multiple of 32.</exception>
    public static MerkleTree FromLeafHashes(ReadOnlySpan<byte> leafHashes)
    {
        if (leafHashes.Length % MerkleHash.Size != 0)
        {
            throw new ArgumentException($"leaf hashes are {leafHashes.Length} bytes; expected a multiple of {MerkleHash.Size}", nameof(leafHashes));
        }
        int count = leafHashes.Length / MerkleHash.Size;
        var levels = new List<byte[]> { leafHashes.ToArray() };
        var counts = new List<int> { count };
        while (count > 1)
        {
            byte[] below = levels[^1];
            int parentCount = (count + 1) / 2;
            var above = new byte[parentCount * MerkleHash.Size];
            ReduceLevel(below.AsSpan(0, count * MerkleHash.Size), count, above);
            levels.Add(above);
            counts.Add(parentCount);
            count = parentCount;
        }
        return new MerkleTree([.. levels], [.. counts]);
    }

    /// <summary>Builds the tree over the given leaves (each hashed as an RFC 6962 leaf).</summary>
    /// <param name="leaves">The leaf data in order.</param>
    /// <returns>The tree.</returns>
    public static MerkleTree FromLeaves(IReadOnlyList<byte[]> leaves)
    {
        ArgumentNullException.ThrowIfNull(leaves);
        var hashes = new byte[leaves.Count * MerkleHash.Size];
        for (int i = 0; i < leaves.Count; i++)
        {
            MerkleHash.HashLeaf(leaves[i], hashes.AsSpan(i * MerkleHash.Size, MerkleHash.Size));
        }
        return FromLeafHashes(hashes);
    }

    /// <summary>Builds the tree over <paramref name="data"/> cut into leaves of <paramref name="leafSize"/> bytes (the last may be short).</summary>
    /// <param name="data">The data.</param>
    /// <param name="leafSize">Leaf size in bytes.</param>
    /// <returns>The tree.</returns>
    public static MerkleTree FromFixedLeaves(ReadOnlySpan<byte> data, int leafSize)
    {
        int count = checked((int)CountLeaves(data.Length, leafSize));
        var hashes = new byte[count * MerkleHash.Size];
        HashFixedLeaves(data, leafSize, hashes);
        return FromLeafHashes(hashes);
    }

    /// <summary>The 32-byte hash of leaf <paramref name="index"/>.</summary>
    /// <param name="index">Leaf index.</param>
    /// <returns>A view of the hash.</returns>
    public ReadOnlySpan<byte> LeafHash(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, LeafCount);
        return _levels[0].AsSpan(index * MerkleHash.Size, MerkleHash.Size);
    }

    /// <summary>Produces the RFC 6962 audit path of one leaf (siblings from the bottom up).</summary>
    /// <param name="leafIndex">Leaf index, 0 ≤ index &lt; <see cref="LeafCount"/>.</param>
    /// <returns>The inclusion proof.</returns>
    public MerkleProof ProveInclusion(int leafIndex)
    {
        if (leafIndex < 0 || leafIndex >= LeafCount)
        {
            throw new ArgumentOutOfRangeException(nameof(leafIndex), leafIndex, $"leaf index must be in [0, {LeafCount})");
        }
        var path = new List<byte[]>();
        int index = leafIndex;
        for (int level = 0; level < _levels.Length - 1; level++)
        {
            int sibling = index ^ 1;
            if (sibling < _counts[level])
            {
                path.Add(_levels[level].AsSpan(sibling * MerkleHash.Size, MerkleHash.Size).ToArray());
            }
            index >>= 1;
        }
        return new MerkleProof(leafIndex, LeafCount, path);
    }

    /// <summary>
    /// Produces a compact multi-proof for a set of leaves: only the sibling hashes that cannot be
    /// computed from the proven leaves themselves, in the order <see cref="MerkleMultiProof"/> consumes them.
    /// </summary>
    /// <param name="leafIndices">Distinct leaf indices (any order).</param>
    /// <returns>The multi-proof.</returns>
    public MerkleMultiProof ProveMany(IEnumerable<int> leafIndices)
    {
        ArgumentNullException.ThrowIfNull(leafIndices);
        long[] sorted = leafIndices.Select(i => (long)i).Distinct().Order().ToArray();
        if (sorted.Length == 0)
        {
            throw new ArgumentException("a multi-proof needs at least one leaf index", nameof(leafIndices));
        }
        if (sorted[0] < 0 || sorted[^1] >= LeafCount)
        {
            throw new ArgumentOutOfRangeException(nameof(leafIndices), $"leaf indices must be in [0, {LeafCount})");
        }
        var hashes = new List<byte[]>();
        var known = sorted.Select(i => (int)i).ToList();
        for (int level = 0; level < _levels.Length - 1; level++)
        {
            int count = _counts[level];
            var next = new List<int>(known.Count);
            for (int i = 0; i < known.Count; i++)
            {
                int p = known[i];
                if ((p & 1) == 0 && i + 1 < known.Count && known[i + 1] == p + 1)
                {
                    i++; // both children known: nothing to add
                }
                else if ((p ^ 1) < count)
                {
                    hashes.Add(_levels[level].AsSpan((p ^ 1) * MerkleHash.Size, MerkleHash.Size).ToArray());
                }
                next.Add(p >> 1);
            }
            known = next;
        }
        return new MerkleMultiProof(LeafCount, sorted, hashes);
    }

    /// <summary>Number of leaves when <paramref name="dataLength"/> bytes are cut into leaves of <paramref name="leafSize"/> bytes.</summary>
    /// <param name="dataLength">Data length in bytes.</param>
    /// <param name="leafSize">Leaf size in bytes (positive).</param>
    /// <returns>⌈dataLength / leafSize⌉.</returns>
    public static long CountLeaves(long dataLength, int leafSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(dataLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(leafSize);
        return (dataLength + leafSize - 1) / leafSize;
    }

    /// <summary>
    /// Fast path: hashes consecutive fixed-size leaves of <paramref name="data"/> (last may be short)
    /// into <paramref name="leafHashes"/>, reusing this thread's SHA-256 context for all leaves.
    /// </summary>
    /// <param name="data">The data.</param>
    /// <param name="leafSize">Leaf size in bytes.</param>
    /// <param name="leafHashes">Receives ⌈len/leafSize⌉ × 32 bytes.</param>
    public static void HashFixedLeaves(ReadOnlySpan<byte> data, int leafSize, Span<byte> leafHashes)
    {
        long count = CountLeaves(data.Length, leafSize);
        if (leafHashes.Length < count * MerkleHash.Size)
        {
            throw new ArgumentException($"leaf hash buffer is {leafHashes.Length} bytes; {count} leaves need {count * MerkleHash.Size}", nameof(leafHashes));
        }
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> leaf = data.Slice(i * leafSize, Math.Min(leafSize, data.Length - i * leafSize));
            MerkleHash.HashLeaf(leaf, leafHashes.Slice(i * MerkleHash.Size, MerkleHash.Size));
        }
    }

    /// <summary>Root of <paramref name="data"/> cut into fixed-size leaves (last may be short).</summary>
    /// <param name="data">The data.</param>
    /// <param name="leafSize">Leaf size in bytes.</param>
    /// <returns>The 32-byte root.</returns>
    public static byte[] ComputeRootOfFixedLeaves(ReadOnlySpan<byte> data, int leafSize)
    {
        int count = checked((int)CountLeaves(data.Length, leafSize));
        byte[] hashes = ArrayPool<byte>.Shared.Rent(Math.Max(1, count * MerkleHash.Size));
        try
        {
            HashFixedLeaves(data, leafSize, hashes.AsSpan(0, count * MerkleHash.Size));
            return ReduceInPlace(hashes.AsSpan(0, count * MerkleHash.Size));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(hashes);
        }
    }

    /// <summary>Root over the given leaves.</summary>
    /// <param name="leaves">The leaf data in order.</param>
    /// <returns>The 32-byte root.</returns>
    public static byte[] ComputeRoot(IReadOnlyList<byte[]> leaves)
    {
        ArgumentNullException.ThrowIfNull(leaves);
        var hashes = new byte[leaves.Count * MerkleHash.Size];
        for (int i = 0; i < leaves.Count; i++)
        {
            MerkleHash.HashLeaf(leaves[i], hashes.AsSpan(i * MerkleHash.Size, MerkleHash.Size));
        }
        return ReduceInPlace(hashes);
    }

    /// <summary>Root over concatenated leaf hashes (the input is not modified).</summary>
    /// <param name="leafHashes">n × 32 bytes.</param>
    /// <returns>The 32-byte root.</returns>
    public static byte[] ComputeRootFromLeafHashes(ReadOnlySpan<byte> leafHashes)
    {
        if (leafHashes.Length % MerkleHash.Size != 0)
        {
            throw new ArgumentException($"leaf hashes are {leafHashes.Length} bytes; expected a multiple of {MerkleHash.Size}", nameof(leafHashes));
        }
        byte[] scratch = ArrayPool<byte>.Shared.Rent(Math.Max(1, leafHashes.Length));
        try
        {
            leafHashes.CopyTo(scratch);
            return ReduceInPlace(scratch.AsSpan(0, leafHashes.Length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>Reduces leaf hashes to the root, overwriting the buffer level by level.</summary>
    /// <param name="hashes">n × 32 bytes; destroyed.</param>
    /// <returns>The 32-byte root.</returns>
    internal static byte[] ReduceInPlace(Span<byte> hashes)
    {
        int count = hashes.Length / MerkleHash.Size;
        if (count == 0)
        {
            return MerkleHash.EmptyRoot.ToArray();
        }
        while (count > 1)
        {
            // Parent i is written at slot i after reading slots 2i and 2i+1 (HashNode copies its
            // inputs first), so the level can be reduced in place.
            ReduceLevel(hashes[..(count * MerkleHash.Size)], count, hashes);
            count = (count + 1) / 2;
        }
        return hashes[..MerkleHash.Size].ToArray();
    }

    private static void ReduceLevel(ReadOnlySpan<byte> below, int count, Span<byte> above)
    {
        const int h = MerkleHash.Size;
        int pairs = count / 2;
        for (int i = 0; i < pairs; i++)
        {
            MerkleHash.HashNode(below.Slice(2 * i * h, h), below.Slice((2 * i + 1) * h, h), above.Slice(i * h, h));
        }
        if ((count & 1) == 1)
        {
            // RFC 6962's split at the largest power of two carries a lone right-most node up unchanged.
            below.Slice((count - 1) * h, h).CopyTo(above.Slice(pairs * h, h));
        }
    }
}
