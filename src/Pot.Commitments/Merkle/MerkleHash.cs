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

    private static readonly byte[] EmptyRootBytes = SHA256.HashData(ReadOnlySpan<byte>.Empty);

    /// <summary>Root of the tree with no leaves: SHA-256 of the empty string (e3b0c442…b855).</summary>
    public static ReadOnlySpan<byte> EmptyRoot => EmptyRootBytes;

    // One reusable SHA-256 context per thread. Per-message overhead matters here (a root hashes one 4 KiB
    // leaf and one 65-byte node per leaf): the default context calls OpenSSL's EVP interface directly
    // with SHA-256 fetched once, see Sha256Context for the measured reasons; appending the prefix and the
    // leaf separately avoids copying every leaf into a framing buffer.
    [ThreadStatic]
    private static Sha256Context? t_context;

    /// <summary>This thread's reusable SHA-256 context (always reset between uses).</summary>
    internal static Sha256Context ThreadContext => t_context ??= Sha256Context.Create(Sha256Context.DefaultBackend);

    /// <summary>
    /// The SHA-256 implementation used on the calling thread. Setting it (tests and benchmarks compare the
    /// backends) replaces only this thread's context; both backends give identical hashes.
    /// </summary>
    internal static Sha256Backend ThreadBackend
    {
        get => ThreadContext.Backend;
        set => t_context = Sha256Context.Create(value);
    }

    /// <summary>
    /// Names the SHA-256 implementation Merkle hashing uses by default in this process:
    /// <c>"openssl"</c> (libcrypto.so.3 EVP, Linux) or <c>"managed"</c> (.NET IncrementalHash).
    /// </summary>
    public static string Implementation => Sha256Context.DefaultBackend == Sha256Backend.OpenSsl ? "openssl" : "managed";

    private static ReadOnlySpan<byte> LeafPrefixBytes => [LeafPrefix];

    /// <summary>Computes SHA-256(0x00 ‖ <paramref name="leaf"/>).</summary>
    /// <param name="leaf">The leaf bytes.</param>
    /// <param name="destination">Receives the 32-byte hash.</param>
    public static void HashLeaf(ReadOnlySpan<byte> leaf, Span<byte> destination)
    {
        Sha256Context context = ThreadContext;
        context.Append(LeafPrefixBytes);
        context.Append(leaf);
        context.Finish(destination);
    }

    /// <summary>Starts a leaf whose bytes arrive in pieces (<see cref="AppendLeafPiece"/>, then <see cref="FinishLeaf"/>).</summary>
    internal static void BeginLeaf() => ThreadContext.Append(LeafPrefixBytes);

    /// <summary>Appends part of the current leaf's bytes.</summary>
    internal static void AppendLeafPiece(ReadOnlySpan<byte> piece) => ThreadContext.Append(piece);

    /// <summary>Writes the current leaf's hash and resets the context.</summary>
    internal static void FinishLeaf(Span<byte> destination) => ThreadContext.Finish(destination);

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
        Sha256Context context = ThreadContext;
        context.Append(framed);
        context.Finish(destination);
    }
}
