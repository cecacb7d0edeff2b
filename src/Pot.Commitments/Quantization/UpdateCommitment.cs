using Pot.Commitments.Merkle;

namespace Pot.Commitments.Quantization;

/// <summary>
/// Commits to a quantized update: the RFC 6962 root over the Q4_0 block bytes of a <see cref="Q4Blob"/>
/// (header excluded), cut into leaves of 576 bytes = 32 blocks = the 1024 floats of one model leaf.
/// </summary>
/// <remarks>
/// Leaf i of the update therefore covers exactly the parameters of leaf i of the model commitment,
/// so a verifier checks q[leaf] == Q4(θ_r[leaf] − θ^H[leaf]) with one leaf and one proof from each tree.
/// The float count is not part of this root; it is carried by the blob header and the model spec.
/// </remarks>
public static class UpdateCommitment
{
    /// <summary>Bytes per update leaf (the last may be shorter).</summary>
    public const int LeafBytes = Q4Blob.BlocksBytesPerModelLeaf;

    /// <summary>Root of a Q4 blob's blocks, after validating the blob.</summary>
    /// <param name="q4Blob">The blob.</param>
    /// <param name="maxFloats">Largest float count accepted.</param>
    /// <returns>The 32-byte root.</returns>
    /// <exception cref="PotFormatException">The blob is malformed.</exception>
    public static byte[] ComputeRoot(ReadOnlySpan<byte> q4Blob, long maxFloats = 1L << 28)
    {
        Q4Blob.ValidateHeader(q4Blob, maxFloats);
        return MerkleTree.ComputeRootOfFixedLeaves(q4Blob[Q4Blob.HeaderBytes..], LeafBytes);
    }

    /// <summary>The tree over a Q4 blob's blocks (for producing leaf proofs).</summary>
    /// <param name="q4Blob">The blob.</param>
    /// <param name="maxFloats">Largest float count accepted.</param>
    /// <returns>The tree.</returns>
    public static MerkleTree BuildTree(ReadOnlySpan<byte> q4Blob, long maxFloats = 1L << 28)
    {
        Q4Blob.ValidateHeader(q4Blob, maxFloats);
        return MerkleTree.FromFixedLeaves(q4Blob[Q4Blob.HeaderBytes..], LeafBytes);
    }

    /// <summary>The block bytes of update leaf <paramref name="leafIndex"/>.</summary>
    /// <param name="q4Blob">A validated blob.</param>
    /// <param name="leafIndex">Leaf index.</param>
    /// <returns>A view of up to 576 bytes.</returns>
    public static ReadOnlySpan<byte> LeafBytesOf(ReadOnlySpan<byte> q4Blob, int leafIndex)
    {
        ReadOnlySpan<byte> blocks = q4Blob[Q4Blob.HeaderBytes..];
        long start = (long)leafIndex * LeafBytes;
        if (leafIndex < 0 || start >= blocks.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(leafIndex), leafIndex, $"the update has {MerkleTree.CountLeaves(blocks.Length, LeafBytes)} leaves");
        }
        return blocks.Slice((int)start, (int)Math.Min(LeafBytes, blocks.Length - start));
    }
}
