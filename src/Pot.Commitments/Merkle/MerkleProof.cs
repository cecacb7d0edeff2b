using Pot.Commitments.Canonical;

namespace Pot.Commitments.Merkle;

/// <summary>
/// An RFC 6962 inclusion proof (audit path) for one leaf: the sibling hashes from the leaf's level
/// up to the root, verified with the algorithm of RFC 9162 §2.1.3.2.
/// </summary>
public sealed class MerkleProof
{
    /// <summary>Encoding version written first in <see cref="Encode"/>.</summary>
    public const byte FormatVersion = 1;

    /// <summary>Largest tree size a proof may claim (2^48 leaves): bounds the path to 48 hashes.</summary>
    public const long MaxTreeSize = 1L << 48;

    /// <summary>Largest path length accepted by the decoder.</summary>
    public const int MaxPathLength = 48;

    private readonly byte[][] _path;

    /// <summary>Creates a proof, checking that its shape fits the claimed tree.</summary>
    /// <param name="leafIndex">Index of the proven leaf.</param>
    /// <param name="treeSize">Number of leaves in the tree.</param>
    /// <param name="path">Sibling hashes, bottom-up, 32 bytes each.</param>
    /// <exception cref="PotFormatException">Index out of range, wrong path length, or a hash of the wrong size.</exception>
    public MerkleProof(long leafIndex, long treeSize, IReadOnlyList<byte[]> path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (treeSize < 1 || treeSize > MaxTreeSize)
        {
            throw new PotFormatException($"inclusion proof: tree size {treeSize} is outside [1, {MaxTreeSize}]");
        }
        if (leafIndex < 0 || leafIndex >= treeSize)
        {
            throw new PotFormatException($"inclusion proof: leaf index {leafIndex} is outside [0, {treeSize})");
        }
        int expected = ExpectedPathLength(leafIndex, treeSize);
        if (path.Count != expected)
        {
            throw new PotFormatException($"inclusion proof: {path.Count} hashes for leaf {leafIndex} of {treeSize}; expected exactly {expected}");
        }
        _path = new byte[path.Count][];
        for (int i = 0; i < path.Count; i++)
        {
            if (path[i] is null || path[i].Length != MerkleHash.Size)
            {
                throw new PotFormatException($"inclusion proof: path hash {i} is {path[i]?.Length ?? 0} bytes; expected {MerkleHash.Size}");
            }
            _path[i] = (byte[])path[i].Clone();
        }
        LeafIndex = leafIndex;
        TreeSize = treeSize;
    }

    /// <summary>Index of the proven leaf.</summary>
    public long LeafIndex { get; }

    /// <summary>Number of leaves in the tree the proof is for.</summary>
    public long TreeSize { get; }

    /// <summary>Sibling hashes from the bottom up.</summary>
    public IReadOnlyList<byte[]> Path => _path;

    /// <summary>Number of audit-path hashes RFC 6962 prescribes for a leaf of a tree.</summary>
    /// <param name="leafIndex">Leaf index.</param>
    /// <param name="treeSize">Tree size.</param>
    /// <returns>The path length.</returns>
    public static int ExpectedPathLength(long leafIndex, long treeSize)
    {
        int length = 0;
        long fn = leafIndex;
        long sn = treeSize - 1;
        while (sn > 0)
        {
            // At a level whose last index is sn, node fn has a sibling unless it is a lone left-most
            // carry (even and the last one).
            if ((fn & 1) == 1 || fn < sn)
            {
                length++;
            }
            fn >>= 1;
            sn >>= 1;
        }
        return length;
    }

    /// <summary>Recomputes the root implied by this proof for a leaf hash (RFC 9162 §2.1.3.2).</summary>
    /// <param name="leafHash">The 32-byte leaf hash (see <see cref="MerkleHash.HashLeaf(ReadOnlySpan{byte}, Span{byte})"/>).</param>
    /// <param name="root">Receives the 32-byte implied root.</param>
    /// <returns>False when the path does not fit the tree shape (never for a constructed proof).</returns>
    public bool TryComputeRoot(ReadOnlySpan<byte> leafHash, Span<byte> root)
    {
        if (leafHash.Length != MerkleHash.Size)
        {
            return false;
        }
        long fn = LeafIndex;
        long sn = TreeSize - 1;
        Span<byte> r = stackalloc byte[MerkleHash.Size];
        leafHash.CopyTo(r);
        foreach (byte[] p in _path)
        {
            if (sn == 0)
            {
                return false;
            }
            if ((fn & 1) == 1 || fn == sn)
            {
                MerkleHash.HashNode(p, r, r);
                if ((fn & 1) == 0)
                {
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                MerkleHash.HashNode(r, p, r);
            }
            fn >>= 1;
            sn >>= 1;
        }
        if (sn != 0)
        {
            return false;
        }
        r.CopyTo(root);
        return true;
    }

    /// <summary>True when this proof shows that <paramref name="leafHash"/> is leaf <see cref="LeafIndex"/> of the tree with <paramref name="root"/>.</summary>
    /// <param name="leafHash">The 32-byte leaf hash.</param>
    /// <param name="root">The trusted 32-byte root.</param>
    /// <returns>Whether the proof verifies.</returns>
    public bool Verify(ReadOnlySpan<byte> leafHash, ReadOnlySpan<byte> root)
    {
        Span<byte> computed = stackalloc byte[MerkleHash.Size];
        return root.Length == MerkleHash.Size
            && TryComputeRoot(leafHash, computed)
            && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(computed, root);
    }

    /// <summary>
    /// Checks the proof for leaf data against a trusted root and throws a descriptive error otherwise.
    /// </summary>
    /// <param name="leafData">The leaf bytes (hashed here as an RFC 6962 leaf).</param>
    /// <param name="root">The trusted root.</param>
    /// <exception cref="PotFormatException">The proof does not connect the leaf to the root.</exception>
    public void EnsureValidForLeafData(ReadOnlySpan<byte> leafData, ReadOnlySpan<byte> root)
    {
        Span<byte> leafHash = stackalloc byte[MerkleHash.Size];
        MerkleHash.HashLeaf(leafData, leafHash);
        if (!Verify(leafHash, root))
        {
            throw new PotFormatException($"leaf {LeafIndex} of {TreeSize} (leaf hash {Hex.Encode(leafHash)}) does not verify against root {Hex.Encode(root)}");
        }
    }

    /// <summary>
    /// Canonical encoding: version byte (1), varint leaf index, varint tree size, varint path length,
    /// then the path hashes of 32 bytes each.
    /// </summary>
    /// <returns>The encoded proof.</returns>
    public byte[] Encode()
    {
        var w = new CanonicalWriter(4 + 20 + _path.Length * MerkleHash.Size);
        w.WriteByte(FormatVersion);
        w.WriteVarUInt64((ulong)LeafIndex);
        w.WriteVarUInt64((ulong)TreeSize);
        w.WriteVarUInt64((ulong)_path.Length);
        foreach (byte[] hash in _path)
        {
            w.WriteFixed(hash);
        }
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="Encode"/>'s output, rejecting any other byte string.</summary>
    /// <param name="data">The encoded proof.</param>
    /// <returns>The proof.</returns>
    /// <exception cref="PotFormatException">The bytes are not a canonical proof.</exception>
    public static MerkleProof Decode(ReadOnlySpan<byte> data)
    {
        var r = new CanonicalReader(data, "inclusion proof");
        r.ExpectByte(FormatVersion, "version");
        long treeSizeLimit = MaxTreeSize;
        long leafIndex = (long)r.ReadVarUInt64((ulong)treeSizeLimit - 1, "leaf index");
        long treeSize = (long)r.ReadVarUInt64((ulong)treeSizeLimit, "tree size");
        int count = r.ReadVarInt32(MaxPathLength, "path length");
        var path = new byte[count][];
        for (int i = 0; i < count; i++)
        {
            path[i] = r.ReadFixed(MerkleHash.Size, $"path hash {i}").ToArray();
        }
        r.EnsureEnd();
        return new MerkleProof(leafIndex, treeSize, path);
    }
}
