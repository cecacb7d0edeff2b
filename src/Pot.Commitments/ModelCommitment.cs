using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Pot.Commitments.Merkle;

namespace Pot.Commitments;

/// <summary>
/// Commits to a model: every parameter tensor, in the model's canonical order, is concatenated into one
/// stream of fp32 values; the stream is encoded little-endian and cut into leaves of
/// <see cref="LeafFloats"/> floats (the last leaf may be shorter); the commitment is the RFC 6962
/// SHA-256 Merkle root of those leaves.
/// </summary>
/// <remarks>
/// Why 1024 floats (4 KiB) per leaf: it is exactly 32 Q4_0 blocks, so a model leaf and the matching
/// leaf of a quantized update cover the same parameters and a verifier's "quantization consistency"
/// check needs one leaf from each; 4 KiB keeps the per-leaf overhead (leaf prefix plus ~1 interior
/// hash per leaf) near 1.5% of hashing time; and a spot-check of one leaf of a 1-billion-parameter
/// model costs 4 KiB of data plus an 18-hash (576-byte) audit path. Floats are encoded with their
/// exact bit patterns (NaN payloads and signed zeros included), little-endian on every platform.
/// </remarks>
public static class ModelCommitment
{
    /// <summary>Floats per leaf.</summary>
    public const int LeafFloats = 1024;

    /// <summary>Bytes per full leaf (fp32 little-endian).</summary>
    public const int LeafBytes = LeafFloats * sizeof(float);

    /// <summary>Number of leaves for a model of <paramref name="totalFloats"/> parameters: ⌈totalFloats / 1024⌉.</summary>
    /// <param name="totalFloats">Total parameter count.</param>
    /// <returns>The leaf count (0 for an empty model, whose root is SHA-256 of nothing).</returns>
    public static int LeafCount(long totalFloats)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(totalFloats);
        long count = (totalFloats + LeafFloats - 1) / LeafFloats;
        if (count > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(totalFloats), totalFloats, $"a model of {totalFloats} floats needs {count} leaves; at most {int.MaxValue} are supported");
        }
        return (int)count;
    }

    /// <summary>Total number of floats across the tensors.</summary>
    /// <param name="tensors">The tensors.</param>
    /// <returns>The sum of their lengths.</returns>
    public static long TotalFloats(IReadOnlyList<ReadOnlyMemory<float>> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        long total = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            total += tensors[i].Length;
        }
        return total;
    }

    /// <summary>Merkle root of the model.</summary>
    /// <param name="tensorsInCanonicalOrder">Parameter tensors in the model's canonical order.</param>
    /// <returns>The 32-byte root.</returns>
    public static byte[] ComputeRoot(IReadOnlyList<ReadOnlyMemory<float>> tensorsInCanonicalOrder)
    {
        int leafCount = LeafCount(TotalFloats(tensorsInCanonicalOrder));
        byte[] hashes = ArrayPool<byte>.Shared.Rent(Math.Max(1, leafCount * MerkleHash.Size));
        try
        {
            Span<byte> leafHashes = hashes.AsSpan(0, leafCount * MerkleHash.Size);
            HashLeaves(tensorsInCanonicalOrder, leafHashes);
            return MerkleTree.ReduceInPlace(leafHashes);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(hashes);
        }
    }

    /// <summary>Builds the whole tree (keep it to answer many proofs for one model version).</summary>
    /// <param name="tensors">Parameter tensors in canonical order.</param>
    /// <returns>The tree.</returns>
    public static MerkleTree BuildTree(IReadOnlyList<ReadOnlyMemory<float>> tensors)
    {
        int leafCount = LeafCount(TotalFloats(tensors));
        var leafHashes = new byte[leafCount * MerkleHash.Size];
        HashLeaves(tensors, leafHashes);
        return MerkleTree.FromLeafHashes(leafHashes);
    }

    /// <summary>Inclusion proof of one leaf.</summary>
    /// <param name="tensors">Parameter tensors in canonical order.</param>
    /// <param name="leafIndex">Leaf index.</param>
    /// <returns>The proof.</returns>
    public static MerkleProof ProveLeaf(IReadOnlyList<ReadOnlyMemory<float>> tensors, int leafIndex) => BuildTree(tensors).ProveInclusion(leafIndex);

    /// <summary>The floats of one leaf (the last leaf may be shorter than <see cref="LeafFloats"/>).</summary>
    /// <param name="tensors">Parameter tensors in canonical order.</param>
    /// <param name="leafIndex">Leaf index.</param>
    /// <returns>The leaf's values.</returns>
    public static float[] ReadLeaf(IReadOnlyList<ReadOnlyMemory<float>> tensors, int leafIndex)
    {
        long total = TotalFloats(tensors);
        int leafCount = LeafCount(total);
        if (leafIndex < 0 || leafIndex >= leafCount)
        {
            throw new ArgumentOutOfRangeException(nameof(leafIndex), leafIndex, $"leaf index must be in [0, {leafCount})");
        }
        long start = (long)leafIndex * LeafFloats;
        var leaf = new float[(int)Math.Min(LeafFloats, total - start)];
        long offset = 0;
        int filled = 0;
        foreach (ReadOnlyMemory<float> tensor in tensors)
        {
            long tensorEnd = offset + tensor.Length;
            if (tensorEnd > start + filled && filled < leaf.Length)
            {
                int from = (int)(start + filled - offset);
                int take = Math.Min(tensor.Length - from, leaf.Length - filled);
                tensor.Span.Slice(from, take).CopyTo(leaf.AsSpan(filled));
                filled += take;
            }
            offset = tensorEnd;
        }
        return leaf;
    }

    /// <summary>Encodes floats as fp32 little-endian, the byte form of a leaf.</summary>
    /// <param name="values">The floats.</param>
    /// <param name="destination">Receives 4 bytes per float.</param>
    public static void WriteLittleEndian(ReadOnlySpan<float> values, Span<byte> destination)
    {
        if (destination.Length < values.Length * sizeof(float))
        {
            throw new ArgumentException($"destination is {destination.Length} bytes; {values.Length} floats need {values.Length * sizeof(float)}", nameof(destination));
        }
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(values).CopyTo(destination);
        }
        else
        {
            for (int i = 0; i < values.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(destination.Slice(i * 4, 4), values[i]);
            }
        }
    }

    /// <summary>Hash of a leaf given its floats: SHA-256(0x00 ‖ fp32 LE bytes).</summary>
    /// <param name="leafFloats">The leaf's values.</param>
    /// <returns>The 32-byte leaf hash.</returns>
    public static byte[] HashLeaf(ReadOnlySpan<float> leafFloats)
    {
        if (leafFloats.Length > LeafFloats)
        {
            throw new ArgumentException($"a leaf holds at most {LeafFloats} floats, got {leafFloats.Length}", nameof(leafFloats));
        }
        Span<byte> framed = stackalloc byte[1 + LeafBytes];
        framed[0] = MerkleHash.LeafPrefix;
        WriteLittleEndian(leafFloats, framed[1..]);
        var hash = new byte[MerkleHash.Size];
        SHA256.HashData(framed[..(1 + leafFloats.Length * sizeof(float))], hash);
        return hash;
    }

    /// <summary>True when <paramref name="proof"/> shows that <paramref name="leafFloats"/> are leaf <see cref="MerkleProof.LeafIndex"/> of the model with <paramref name="root"/>.</summary>
    /// <param name="root">The trusted model root.</param>
    /// <param name="proof">The inclusion proof.</param>
    /// <param name="leafFloats">The leaf's claimed values.</param>
    /// <returns>Whether the leaf verifies.</returns>
    public static bool VerifyLeaf(ReadOnlySpan<byte> root, MerkleProof proof, ReadOnlySpan<float> leafFloats)
    {
        ArgumentNullException.ThrowIfNull(proof);
        return leafFloats.Length <= LeafFloats && proof.Verify(HashLeaf(leafFloats), root);
    }

    // Below this many leaves (1 MiB of floats) threads cost more than they save.
    private const int ParallelLeafThreshold = 256;

    private static void HashLeaves(IReadOnlyList<ReadOnlyMemory<float>> tensors, Span<byte> leafHashes)
    {
        int leafCount = leafHashes.Length / MerkleHash.Size;
        if (leafCount >= ParallelLeafThreshold && Environment.ProcessorCount > 1)
        {
            byte[] hashes = ArrayPool<byte>.Shared.Rent(leafHashes.Length);
            try
            {
                HashLeavesInParallel(tensors, hashes, leafCount);
                hashes.AsSpan(0, leafHashes.Length).CopyTo(leafHashes);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(hashes);
            }
            return;
        }
        HashLeavesSequentially(tensors, leafHashes);
    }

    private static void HashLeavesSequentially(IReadOnlyList<ReadOnlyMemory<float>> tensors, Span<byte> leafHashes)
    {
        if (BitConverter.IsLittleEndian)
        {
            // The in-memory floats already are the leaf bytes: feed them to the hash piece by piece
            // (a leaf may straddle tensors) without copying.
            int filled = 0;
            int index = 0;
            foreach (ReadOnlyMemory<float> tensor in tensors)
            {
                ReadOnlySpan<float> rest = tensor.Span;
                while (!rest.IsEmpty)
                {
                    if (filled == 0)
                    {
                        MerkleHash.BeginLeaf();
                    }
                    int take = Math.Min(rest.Length, LeafFloats - filled);
                    MerkleHash.AppendLeafPiece(MemoryMarshal.AsBytes(rest[..take]));
                    filled += take;
                    rest = rest[take..];
                    if (filled == LeafFloats)
                    {
                        MerkleHash.FinishLeaf(leafHashes.Slice(index++ * MerkleHash.Size, MerkleHash.Size));
                        filled = 0;
                    }
                }
            }
            if (filled > 0)
            {
                MerkleHash.FinishLeaf(leafHashes.Slice(index * MerkleHash.Size, MerkleHash.Size));
            }
            return;
        }

        // A leaf may straddle tensor boundaries, so floats are streamed into one framed buffer
        // (prefix byte + 4 KiB) that is hashed whenever it fills up; the buffer is reused for all leaves.
        byte[] framed = ArrayPool<byte>.Shared.Rent(1 + LeafBytes);
        try
        {
            framed[0] = MerkleHash.LeafPrefix;
            int filledFloats = 0;
            int leaf = 0;
            foreach (ReadOnlyMemory<float> tensor in tensors)
            {
                ReadOnlySpan<float> rest = tensor.Span;
                while (!rest.IsEmpty)
                {
                    int take = Math.Min(rest.Length, LeafFloats - filledFloats);
                    WriteLittleEndian(rest[..take], framed.AsSpan(1 + filledFloats * sizeof(float)));
                    filledFloats += take;
                    rest = rest[take..];
                    if (filledFloats == LeafFloats)
                    {
                        SHA256.HashData(framed.AsSpan(0, 1 + LeafBytes), leafHashes.Slice(leaf++ * MerkleHash.Size, MerkleHash.Size));
                        filledFloats = 0;
                    }
                }
            }
            if (filledFloats > 0)
            {
                SHA256.HashData(framed.AsSpan(0, 1 + filledFloats * sizeof(float)), leafHashes.Slice(leaf * MerkleHash.Size, MerkleHash.Size));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(framed);
        }
    }

    /// <summary>
    /// Hashes leaves on all cores. Each leaf hash depends only on its own floats, so splitting the leaf
    /// range between threads cannot change any result; each worker reuses one framed buffer.
    /// </summary>
    private static void HashLeavesInParallel(IReadOnlyList<ReadOnlyMemory<float>> tensors, byte[] leafHashes, int leafCount)
    {
        var starts = new long[tensors.Count + 1];
        for (int t = 0; t < tensors.Count; t++)
        {
            starts[t + 1] = starts[t] + tensors[t].Length;
        }
        long total = starts[^1];
        int workers = Math.Min(Environment.ProcessorCount, leafCount / 64);
        Parallel.For(0, workers, worker =>
        {
            int first = (int)((long)leafCount * worker / workers);
            int end = (int)((long)leafCount * (worker + 1) / workers);
            byte[] framed = ArrayPool<byte>.Shared.Rent(1 + LeafBytes);
            try
            {
                framed[0] = MerkleHash.LeafPrefix;
                for (int leaf = first; leaf < end; leaf++)
                {
                    long begin = (long)leaf * LeafFloats;
                    int length = (int)Math.Min(LeafFloats, total - begin);
                    if (BitConverter.IsLittleEndian)
                    {
                        HashLeafInPlace(tensors, starts, begin, length, leafHashes.AsSpan(leaf * MerkleHash.Size, MerkleHash.Size));
                        continue;
                    }
                    FillLeaf(tensors, starts, begin, length, framed.AsSpan(1));
                    SHA256.HashData(framed.AsSpan(0, 1 + length * sizeof(float)), leafHashes.AsSpan(leaf * MerkleHash.Size, MerkleHash.Size));
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(framed);
            }
        });
    }

    /// <summary>Little-endian hosts: hashes floats [begin, begin+length) straight from the tensors' memory.</summary>
    private static void HashLeafInPlace(IReadOnlyList<ReadOnlyMemory<float>> tensors, long[] starts, long begin, int length, Span<byte> destination)
    {
        int t = TensorHolding(starts, tensors.Count, begin);
        MerkleHash.BeginLeaf();
        int done = 0;
        while (done < length)
        {
            ReadOnlySpan<float> tensor = tensors[t].Span;
            int from = (int)(begin + done - starts[t]);
            int take = Math.Min(tensor.Length - from, length - done);
            if (take > 0)
            {
                MerkleHash.AppendLeafPiece(MemoryMarshal.AsBytes(tensor.Slice(from, take)));
                done += take;
            }
            t++;
        }
        MerkleHash.FinishLeaf(destination);
    }

    /// <summary>Index of the tensor that holds stream position <paramref name="begin"/> (skipping empty tensors).</summary>
    private static int TensorHolding(long[] starts, int tensorCount, long begin)
    {
        int t = Array.BinarySearch(starts, begin);
        // An exact hit may land on an empty tensor; move to the last tensor starting at 'begin'. A miss
        // gives the complement of the next larger start, so the tensor holding 'begin' is one before it.
        if (t >= 0)
        {
            while (t + 1 < tensorCount && starts[t + 1] == begin)
            {
                t++;
            }
            return t;
        }
        return ~t - 1;
    }

    /// <summary>Writes floats [begin, begin+length) of the concatenated stream as fp32 LE into destination.</summary>
    private static void FillLeaf(IReadOnlyList<ReadOnlyMemory<float>> tensors, long[] starts, long begin, int length, Span<byte> destination)
    {
        int t = TensorHolding(starts, tensors.Count, begin);
        int filled = 0;
        while (filled < length)
        {
            ReadOnlySpan<float> tensor = tensors[t].Span;
            int from = (int)(begin + filled - starts[t]);
            int take = Math.Min(tensor.Length - from, length - filled);
            if (take > 0)
            {
                WriteLittleEndian(tensor.Slice(from, take), destination[(filled * sizeof(float))..]);
                filled += take;
            }
            t++;
        }
    }
}
