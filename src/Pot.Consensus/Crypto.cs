using System.Buffers.Binary;
using System.Security.Cryptography;
using NSec.Cryptography;

namespace Pot.Consensus;

/// <summary>Signs canonical consensus bytes on behalf of one node.</summary>
public interface IConsensusSigner
{
    /// <summary>Node id whose key this signer holds.</summary>
    int NodeId { get; }

    /// <summary>Signs the given bytes (already domain-tagged by <see cref="MessageCodec.SignedBytes"/>).</summary>
    /// <param name="data">Bytes to sign.</param>
    /// <returns>The signature.</returns>
    byte[] Sign(ReadOnlySpan<byte> data);
}

/// <summary>Verifies signatures of known nodes.</summary>
public interface IConsensusVerifier
{
    /// <summary>Whether <paramref name="signature"/> is a valid signature by <paramref name="nodeId"/> over <paramref name="data"/>.</summary>
    /// <param name="nodeId">Claimed signer.</param>
    /// <param name="data">Signed bytes.</param>
    /// <param name="signature">Signature to check.</param>
    /// <returns>True only for a valid signature by a known node.</returns>
    bool Verify(int nodeId, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature);
}

/// <summary>Signing helpers shared by the core and the simulator.</summary>
public static class MessageSigning
{
    /// <summary>Returns a copy of the message signed by <paramref name="signer"/> (the sender is set to the signer's node id).</summary>
    /// <typeparam name="T">Message type.</typeparam>
    /// <param name="message">Message to sign.</param>
    /// <param name="signer">Signer.</param>
    /// <returns>The signed copy.</returns>
    public static T SignWith<T>(this T message, IConsensusSigner signer) where T : ConsensusMessage
    {
        var unsigned = message with { Sender = signer.NodeId, Signature = [] };
        return unsigned with { Signature = signer.Sign(MessageCodec.SignedBytes(unsigned)) };
    }

    /// <summary>Whether the message carries a valid signature by its sender.</summary>
    /// <param name="message">Message to check.</param>
    /// <param name="verifier">Verifier.</param>
    /// <returns>True for a valid signature.</returns>
    public static bool HasValidSignature(this ConsensusMessage message, IConsensusVerifier verifier) =>
        message.Signature.Length > 0 && verifier.Verify(message.Sender, MessageCodec.SignedBytes(message), message.Signature);
}

/// <summary>Ed25519 signer (NSec). The production implementation.</summary>
public sealed class Ed25519ConsensusSigner : IConsensusSigner, IDisposable
{
    private readonly Key _key;

    /// <summary>Creates a signer from a 32-byte Ed25519 private seed.</summary>
    /// <param name="nodeId">Node id of the key owner.</param>
    /// <param name="privateSeed">32-byte raw private key.</param>
    public Ed25519ConsensusSigner(int nodeId, ReadOnlySpan<byte> privateSeed)
    {
        if (privateSeed.Length != 32)
        {
            throw new ArgumentException($"Ed25519 private seed is {privateSeed.Length} bytes, expected 32", nameof(privateSeed));
        }
        NodeId = nodeId;
        _key = Key.Import(SignatureAlgorithm.Ed25519, privateSeed, KeyBlobFormat.RawPrivateKey);
    }

    /// <inheritdoc />
    public int NodeId { get; }

    /// <summary>The raw 32-byte public key.</summary>
    public byte[] PublicKey => _key.PublicKey.Export(KeyBlobFormat.RawPublicKey);

    /// <inheritdoc />
    public byte[] Sign(ReadOnlySpan<byte> data) => SignatureAlgorithm.Ed25519.Sign(_key, data);

    /// <inheritdoc />
    public void Dispose() => _key.Dispose();
}

/// <summary>Ed25519 verifier over a registry of node public keys.</summary>
public sealed class Ed25519ConsensusVerifier : IConsensusVerifier
{
    private readonly Dictionary<int, PublicKey> _keys = new();

    /// <summary>Creates a verifier for the given raw 32-byte public keys.</summary>
    /// <param name="publicKeys">Node id to raw public key.</param>
    public Ed25519ConsensusVerifier(IReadOnlyDictionary<int, byte[]> publicKeys)
    {
        foreach (var (id, raw) in publicKeys)
        {
            _keys[id] = PublicKey.Import(SignatureAlgorithm.Ed25519, raw, KeyBlobFormat.RawPublicKey);
        }
    }

    /// <inheritdoc />
    public bool Verify(int nodeId, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature) =>
        _keys.TryGetValue(nodeId, out var key) && signature.Length == 64 && SignatureAlgorithm.Ed25519.Verify(key, data, signature);
}

/// <summary>
/// Fast deterministic keyed-hash "signatures" for bulk simulation only: a 16-byte tag of a 64-bit
/// mixing hash keyed by a per-node secret. It is not secure (verifiers know the secrets); it exists
/// because Ed25519 on thousands of simulated seeds would be too slow. Byzantine replicas in the
/// simulator only sign with their own key, so the tag's only job is to bind sender and bytes.
/// </summary>
public sealed class KeyedHashSigner : IConsensusSigner, IConsensusVerifier
{
    private readonly ulong _masterSeed;

    /// <summary>Creates a signer/verifier whose node keys derive from a master seed.</summary>
    /// <param name="nodeId">Node this instance signs for.</param>
    /// <param name="masterSeed">Seed shared by the simulated network.</param>
    public KeyedHashSigner(int nodeId, ulong masterSeed)
    {
        NodeId = nodeId;
        _masterSeed = masterSeed;
    }

    /// <inheritdoc />
    public int NodeId { get; }

    /// <inheritdoc />
    public byte[] Sign(ReadOnlySpan<byte> data) => Tag(NodeId, data);

    /// <inheritdoc />
    public bool Verify(int nodeId, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature) =>
        nodeId >= 0 && signature.Length == 16 && Tag(nodeId, data).AsSpan().SequenceEqual(signature);

    private byte[] Tag(int nodeId, ReadOnlySpan<byte> data)
    {
        ulong key = Mix(_masterSeed ^ (0x9E3779B97F4A7C15UL * (ulong)(nodeId + 1)));
        ulong a = key, b = ~key;
        int i = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            ulong word = BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(i));
            a = Mix(a ^ word);
            b = (b + word) * 0xff51afd7ed558ccdUL;
        }
        ulong tail = (ulong)data.Length << 56;
        for (int shift = 0; i < data.Length; i++, shift += 8) tail |= (ulong)data[i] << shift;
        a = Mix(a ^ tail);
        b = Mix(b ^ a ^ key);
        var tag = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(tag, a);
        BinaryPrimitives.WriteUInt64LittleEndian(tag.AsSpan(8), b);
        return tag;
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
        return z ^ (z >> 31);
    }
}

/// <summary>Domain-separated SHA-256 digests used by the protocol.</summary>
public static class Digests
{
    /// <summary>State digest before any block: the root of the hash chain.</summary>
    public static byte[] Genesis { get; } = SHA256.HashData("pot/consensus/genesis/v1"u8);

    /// <summary>Digest of the block at <paramref name="height"/> with <paramref name="payload"/>; binding the height stops a block being replayed at another height.</summary>
    /// <param name="height">Block height.</param>
    /// <param name="payload">Opaque payload.</param>
    /// <returns>32-byte digest.</returns>
    public static byte[] Block(long height, ReadOnlySpan<byte> payload)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData("pot/block/v1\0"u8);
        Span<byte> h = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(h, height);
        hash.AppendData(h);
        hash.AppendData(payload);
        return hash.GetHashAndReset();
    }

    /// <summary>Next link of the state hash chain: H(previous state ‖ block digest).</summary>
    /// <param name="previousState">State digest before the block.</param>
    /// <param name="blockDigest">Digest of the executed block.</param>
    /// <returns>State digest after the block.</returns>
    public static byte[] NextState(ReadOnlySpan<byte> previousState, ReadOnlySpan<byte> blockDigest)
    {
        Span<byte> buffer = stackalloc byte[64];
        previousState.CopyTo(buffer);
        blockDigest.CopyTo(buffer.Slice(32));
        return SHA256.HashData(buffer);
    }
}
