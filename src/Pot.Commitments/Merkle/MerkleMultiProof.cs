using Pot.Commitments.Canonical;

namespace Pot.Commitments.Merkle;

/// <summary>
/// A compact proof that several leaves belong to one RFC 6962 tree. It carries only the sibling hashes
/// that cannot be computed from the proven leaves, so leaves that share subtrees share proof hashes.
/// </summary>
/// <remarks>
/// Hash order (the contract between prover and verifier): level by level from the leaves up; within a
/// level, known nodes in increasing position; for each known node whose sibling exists and is not
/// itself known, that sibling's hash. A lone right-most node is carried up without a hash.
/// </remarks>
public sealed class MerkleMultiProof
{
    /// <summary>Encoding version written first in <see cref="Encode"/>.</summary>
    public const byte FormatVersion = 1;

    /// <summary>Largest number of leaves one multi-proof may cover.</summary>
    public const int MaxLeafCount = 65536;

    private readonly long[] _indices;
    private readonly byte[][] _hashes;

    /// <summary>Creates a multi-proof and checks its shape against the tree size.</summary>
    /// <param name="treeSize">Number of leaves in the tree.</param>
    /// <param name="leafIndices">Strictly increasing leaf indices.</param>
    /// <param name="hashes">Proof hashes in the documented order.</param>
    /// <exception cref="PotFormatException">Indices not strictly increasing or out of range, or the wrong number or size of hashes.</exception>
    public MerkleMultiProof(long treeSize, IReadOnlyList<long> leafIndices, IReadOnlyList<byte[]> hashes)
    {
        ArgumentNullException.ThrowIfNull(leafIndices);
        ArgumentNullException.ThrowIfNull(hashes);
        if (treeSize < 1 || treeSize > MerkleProof.MaxTreeSize)
        {
            throw new PotFormatException($"multi-proof: tree size {treeSize} is outside [1, {MerkleProof.MaxTreeSize}]");
        }
        if (leafIndices.Count < 1 || leafIndices.Count > MaxLeafCount)
        {
            throw new PotFormatException($"multi-proof: {leafIndices.Count} leaves; expected between 1 and {MaxLeafCount}");
        }
        for (int i = 0; i < leafIndices.Count; i++)
        {
            if (leafIndices[i] < 0 || leafIndices[i] >= treeSize)
            {
                throw new PotFormatException($"multi-proof: leaf index {leafIndices[i]} is outside [0, {treeSize})");
            }
            if (i > 0 && leafIndices[i] <= leafIndices[i - 1])
            {
                throw new PotFormatException($"multi-proof: leaf indices must be strictly increasing, but {leafIndices[i]} follows {leafIndices[i - 1]}");
            }
        }
        _indices = [.. leafIndices];
        int expected = ExpectedHashCount(treeSize, _indices);
        if (hashes.Count != expected)
        {
            throw new PotFormatException($"multi-proof: {hashes.Count} hashes for {_indices.Length} leaves of {treeSize}; expected exactly {expected}");
        }
        _hashes = new byte[hashes.Count][];
        for (int i = 0; i < hashes.Count; i++)
        {
            if (hashes[i] is null || hashes[i].Length != MerkleHash.Size)
            {
                throw new PotFormatException($"multi-proof: hash {i} is {hashes[i]?.Length ?? 0} bytes; expected {MerkleHash.Size}");
            }
            _hashes[i] = (byte[])hashes[i].Clone();
        }
        TreeSize = treeSize;
    }

    /// <summary>Number of leaves in the tree.</summary>
    public long TreeSize { get; }

    /// <summary>The proven leaf indices, strictly increasing.</summary>
    public IReadOnlyList<long> LeafIndices => _indices;

    /// <summary>The proof hashes in consumption order.</summary>
    public IReadOnlyList<byte[]> Hashes => _hashes;

    /// <summary>Number of proof hashes the documented order yields for these leaves.</summary>
    /// <param name="treeSize">Tree size.</param>
    /// <param name="sortedIndices">Strictly increasing indices.</param>
    /// <returns>The hash count.</returns>
    public static int ExpectedHashCount(long treeSize, IReadOnlyList<long> sortedIndices)
    {
        ArgumentNullException.ThrowIfNull(sortedIndices);
        int needed = 0;
        var known = new List<long>(sortedIndices);
        long count = treeSize;
        while (count > 1)
        {
            var next = new List<long>(known.Count);
            for (int i = 0; i < known.Count; i++)
            {
                long p = known[i];
                if ((p & 1) == 0 && i + 1 < known.Count && known[i + 1] == p + 1)
                {
                    i++;
                }
                else if ((p ^ 1) < count)
                {
                    needed++;
                }
                next.Add(p >> 1);
            }
            known = next;
            count = (count + 1) / 2;
        }
        return needed;
    }

    /// <summary>True when the leaves with these hashes are at <see cref="LeafIndices"/> in the tree with <paramref name="root"/>.</summary>
    /// <param name="leafHashes">One 32-byte leaf hash per index, in the order of <see cref="LeafIndices"/>.</param>
    /// <param name="root">The trusted root.</param>
    /// <returns>Whether the proof verifies.</returns>
    public bool Verify(IReadOnlyList<byte[]> leafHashes, ReadOnlySpan<byte> root)
    {
        ArgumentNullException.ThrowIfNull(leafHashes);
        if (leafHashes.Count != _indices.Length || root.Length != MerkleHash.Size)
        {
            return false;
        }
        var positions = new List<long>(_indices);
        var values = new List<byte[]>(leafHashes.Count);
        foreach (byte[] h in leafHashes)
        {
            if (h is null || h.Length != MerkleHash.Size)
            {
                return false;
            }
            values.Add((byte[])h.Clone());
        }
        int consumed = 0;
        long count = TreeSize;
        while (count > 1)
        {
            var nextPositions = new List<long>(positions.Count);
            var nextValues = new List<byte[]>(positions.Count);
            for (int i = 0; i < positions.Count; i++)
            {
                long p = positions[i];
                byte[] parent = new byte[MerkleHash.Size];
                if ((p & 1) == 0 && i + 1 < positions.Count && positions[i + 1] == p + 1)
                {
                    MerkleHash.HashNode(values[i], values[i + 1], parent);
                    i++;
                }
                else if ((p ^ 1) < count)
                {
                    if (consumed == _hashes.Length)
                    {
                        return false;
                    }
                    byte[] sibling = _hashes[consumed++];
                    if ((p & 1) == 0)
                    {
                        MerkleHash.HashNode(values[i], sibling, parent);
                    }
                    else
                    {
                        MerkleHash.HashNode(sibling, values[i], parent);
                    }
                }
                else
                {
                    parent = values[i];
                }
                nextPositions.Add(p >> 1);
                nextValues.Add(parent);
            }
            positions = nextPositions;
            values = nextValues;
            count = (count + 1) / 2;
        }
        return consumed == _hashes.Length
            && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(values[0], root);
    }

    /// <summary>
    /// Canonical encoding: version byte (1), varint tree size, varint leaf count k, the first index as a
    /// varint and each later index as a varint of (index − previous − 1), varint hash count, hashes.
    /// </summary>
    /// <returns>The encoded proof.</returns>
    public byte[] Encode()
    {
        var w = new CanonicalWriter(16 + _indices.Length * 3 + _hashes.Length * MerkleHash.Size);
        w.WriteByte(FormatVersion);
        w.WriteVarUInt64((ulong)TreeSize);
        w.WriteVarUInt64((ulong)_indices.Length);
        for (int i = 0; i < _indices.Length; i++)
        {
            w.WriteVarUInt64((ulong)(i == 0 ? _indices[0] : _indices[i] - _indices[i - 1] - 1));
        }
        w.WriteVarUInt64((ulong)_hashes.Length);
        foreach (byte[] h in _hashes)
        {
            w.WriteFixed(h);
        }
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="Encode"/>'s output, rejecting any other byte string.</summary>
    /// <param name="data">The encoded proof.</param>
    /// <returns>The proof.</returns>
    /// <exception cref="PotFormatException">The bytes are not a canonical multi-proof.</exception>
    public static MerkleMultiProof Decode(ReadOnlySpan<byte> data)
    {
        var r = new CanonicalReader(data, "multi-proof");
        r.ExpectByte(FormatVersion, "version");
        long treeSize = (long)r.ReadVarUInt64((ulong)MerkleProof.MaxTreeSize, "tree size");
        if (treeSize < 1)
        {
            throw r.Error("tree size 0; a proof needs at least one leaf");
        }
        int k = r.ReadVarInt32((int)Math.Min(MaxLeafCount, treeSize), "leaf count");
        var indices = new long[k];
        long previous = -1;
        for (int i = 0; i < k; i++)
        {
            if (previous >= treeSize - 1)
            {
                throw r.Error($"leaf index {i}: the previous index {previous} is already the last leaf of {treeSize}");
            }
            ulong gap = r.ReadVarUInt64((ulong)(treeSize - 1 - previous - 1), $"leaf index {i}");
            previous = previous + 1 + (long)gap;
            indices[i] = previous;
        }
        // Each proven leaf adds at most one hash per level (48 levels at most).
        int hashCount = r.ReadVarInt32(Math.Max(1, k) * MerkleProof.MaxPathLength, "hash count");
        if (hashCount > r.Remaining / MerkleHash.Size)
        {
            throw r.Error($"hash count {hashCount} needs {hashCount * MerkleHash.Size} bytes but only {r.Remaining} remain");
        }
        var hashes = new byte[hashCount][];
        for (int i = 0; i < hashCount; i++)
        {
            hashes[i] = r.ReadFixed(MerkleHash.Size, $"hash {i}").ToArray();
        }
        r.EnsureEnd();
        return new MerkleMultiProof(treeSize, indices, hashes);
    }
}
