using System.Buffers;
using System.Security.Cryptography;

namespace Pot.Commitments.Merkle;

/// <summary>
/// RFC 6962 hashing with SHA-256: a leaf hash is SHA-256(0x00 ‖ leaf bytes), an interior node is
/// SHA-256(0x01 ‖ left ‖ right), and the root of an empty tree is SHA-256 of nothing.
/// </summary>
/// <remarks>
/// The distinct prefixes keep a leaf from ever being reinterpreted as an interior node (second-preimage
/// protection). All methods write into caller-provided spans and do not allocate.
/// </remarks>
public static class MerkleHash
{
    /// <summary>Size of every hash in bytes.</summary>
    public const int Size = 32;

    /// <summary>Domain prefix of leaf hashes.</summary>
    public const byte LeafPrefix = 0x00;

    /// <summary>Domain prefix of interior-node hashes.</summary>
    public const byte NodePrefix = 0x01;

    // Leaves up to this size are framed on the stack; larger ones borrow a pooled buffer.
    private const int StackLeafLimit = 1024;

    private static readonly byte[] EmptyRootBytes = SHA256.HashData(ReadOnlySpan<byte>.Empty);

    /// <summary>Root of the tree with no leaves: SHA-256 of the empty string (e3b0c442…b855).</summary>
    public static ReadOnlySpan<byte> EmptyRoot => EmptyRootBytes;

    /// <summary>Computes SHA-256(0x00 ‖ <paramref name="leaf"/>).</summary>
    /// <param name="leaf">The leaf bytes.</param>
    /// <param name="destination">Receives the 32-byte hash.</param>
    public static void HashLeaf(ReadOnlySpan<byte> leaf, Span<byte> destination)
    {
        if (leaf.Length <= StackLeafLimit)
        {
            Span<byte> framed = stackalloc byte[StackLeafLimit + 1];
            framed[0] = LeafPrefix;
            leaf.CopyTo(framed[1..]);
            SHA256.HashData(framed[..(leaf.Length + 1)], destination);
            return;
        }
        byte[] rented = ArrayPool<byte>.Shared.Rent(leaf.Length + 1);
        try
        {
            rented[0] = LeafPrefix;
            leaf.CopyTo(rented.AsSpan(1));
            SHA256.HashData(rented.AsSpan(0, leaf.Length + 1), destination);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Computes SHA-256(0x00 ‖ <paramref name="leaf"/>) into a new array.</summary>
    /// <param name="leaf">The leaf bytes.</param>
    /// <returns>The 32-byte hash.</returns>
    public static byte[] HashLeaf(ReadOnlySpan<byte> leaf)
    {
        var hash = new byte[Size];
        HashLeaf(leaf, hash);
        return hash;
    }

    /// <summary>Computes SHA-256(0x01 ‖ left ‖ right). The destination may overlap either input.</summary>
    /// <param name="left">Left child hash (32 bytes).</param>
    /// <param name="right">Right child hash (32 bytes).</param>
    /// <param name="destination">Receives the 32-byte hash.</param>
    public static void HashNode(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right, Span<byte> destination)
    {
        Span<byte> framed = stackalloc byte[1 + 2 * Size];
        framed[0] = NodePrefix;
        left[..Size].CopyTo(framed[1..]);
        right[..Size].CopyTo(framed[(1 + Size)..]);
        SHA256.HashData(framed, destination);
    }
}
