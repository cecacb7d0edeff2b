using Pot.Commitments;
using Pot.Commitments.Merkle;
using Pot.Commitments.Quantization;

namespace Pot.Protocol;

/// <summary>
/// The quantized update q = Q4(Δ), Δ = θ_r − θ_H (element-wise fp32 subtraction), stored as a Q4 blob
/// (docs/commitments.md). Its root is the Merkle root over the blob's Q4_0 blocks cut into 576-byte leaves,
/// so leaf ℓ of q covers exactly model leaf ℓ (1024 floats) and a verifier needs one leaf of each.
/// </summary>
public static class Updates
{
    /// <summary>Bytes of Q4 blocks per model leaf.</summary>
    public const int LeafBytes = Q4Blob.BlocksBytesPerModelLeaf;

    /// <summary>Δ = θ_r − θ_H element-wise.</summary>
    /// <param name="baseModel">θ_r.</param>
    /// <param name="final">θ_H.</param>
    /// <returns>Δ.</returns>
    public static float[] Delta(ReadOnlySpan<float> baseModel, ReadOnlySpan<float> final)
    {
        if (baseModel.Length != final.Length)
        {
            throw new ArgumentException($"base model has {baseModel.Length} values and final model {final.Length}; they must match");
        }
        var d = new float[baseModel.Length];
        for (int i = 0; i < d.Length; i++)
        {
            d[i] = baseModel[i] - final[i];
        }
        return d;
    }

    /// <summary>Quantizes Δ into a Q4 blob.</summary>
    /// <param name="delta">Δ.</param>
    /// <returns>The blob.</returns>
    public static byte[] Quantize(ReadOnlySpan<float> delta) => Q4Blob.Encode(delta);

    /// <summary>The update root of a Q4 blob.</summary>
    /// <param name="blob">The blob.</param>
    /// <returns>32 bytes.</returns>
    public static byte[] Root(ReadOnlySpan<byte> blob) => MerkleTree.ComputeRootOfFixedLeaves(blob[Q4Blob.HeaderBytes..], LeafBytes);

    /// <summary>Leaf <paramref name="leaf"/> of q (its Q4 block bytes).</summary>
    /// <param name="blob">The blob.</param>
    /// <param name="leaf">Model leaf index.</param>
    /// <returns>The bytes.</returns>
    public static byte[] Leaf(ReadOnlySpan<byte> blob, int leaf)
    {
        var blocks = blob[Q4Blob.HeaderBytes..];
        int start = leaf * LeafBytes;
        if (leaf < 0 || start >= blocks.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(leaf), leaf, $"update has {(blocks.Length + LeafBytes - 1) / LeafBytes} leaves");
        }
        return blocks.Slice(start, Math.Min(LeafBytes, blocks.Length - start)).ToArray();
    }

    /// <summary>Inclusion proof of leaf <paramref name="leaf"/> of q against its update root.</summary>
    /// <param name="blob">The blob.</param>
    /// <param name="leaf">Leaf index.</param>
    /// <returns>The proof.</returns>
    public static MerkleProof Prove(ReadOnlySpan<byte> blob, int leaf) => MerkleTree.FromFixedLeaves(blob[Q4Blob.HeaderBytes..], LeafBytes).ProveInclusion(leaf);

    /// <summary>What leaf ℓ of q must be: the Q4 blocks of θ_r[ℓ] − θ_H[ℓ].</summary>
    /// <param name="baseLeaf">θ_r leaf values.</param>
    /// <param name="finalLeaf">θ_H leaf values.</param>
    /// <returns>The expected bytes.</returns>
    public static byte[] ExpectedLeaf(ReadOnlySpan<float> baseLeaf, ReadOnlySpan<float> finalLeaf) =>
        Q4Blob.Encode(Delta(baseLeaf, finalLeaf)).AsSpan(Q4Blob.HeaderBytes).ToArray();

    /// <summary>deq(q) with the expected length.</summary>
    /// <param name="blob">The blob.</param>
    /// <param name="count">Expected float count.</param>
    /// <returns>The values.</returns>
    /// <exception cref="PotFormatException">Malformed blob or another length.</exception>
    public static float[] Dequantize(ReadOnlySpan<byte> blob, int count)
    {
        var values = Q4Blob.Decode(blob, count);
        if (values.Length != count)
        {
            throw new PotFormatException($"update blob holds {values.Length} values; the model has {count}");
        }
        return values;
    }

    /// <summary>θ_r − deq(q), element-wise.</summary>
    /// <param name="baseModel">θ_r.</param>
    /// <param name="dequantized">deq(q).</param>
    /// <returns>The model after the update.</returns>
    public static float[] Apply(ReadOnlySpan<float> baseModel, ReadOnlySpan<float> dequantized) => Delta(baseModel, dequantized);

    /// <summary>Cosine similarity of two vectors, accumulated in float64 in index order.</summary>
    /// <param name="a">First vector.</param>
    /// <param name="b">Second vector.</param>
    /// <returns>cos ∈ [−1, 1] (0 when either is zero).</returns>
    public static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return na == 0 || nb == 0 ? 0 : dot / Math.Sqrt(na * nb);
    }

    /// <summary>Number of model leaves for <paramref name="count"/> parameters.</summary>
    /// <param name="count">Parameter count.</param>
    /// <returns>Leaves.</returns>
    public static int LeafCount(int count) => ModelCommitment.LeafCount(count);
}

