using System.Security.Cryptography;
using NSec.Cryptography;

namespace Pot.Commitments.Keys;

/// <summary>
/// An Ed25519 signing key with domain-separated signatures: a signature made for one message type
/// never verifies as another.
/// </summary>
/// <remarks>
/// What is signed is the 32-byte digest SHA-256("pot/sig/v1" ‖ 0x00 ‖ len(type) ‖ type ‖ message), where
/// type is the message type's ASCII name and len its length as one byte. Hashing first keeps signing
/// allocation-free for large messages; the length prefix keeps (type, message) pairs unambiguous.
/// </remarks>
public sealed class Ed25519Keys : IDisposable
{
    /// <summary>Public key size in bytes.</summary>
    public const int PublicKeySize = 32;

    /// <summary>Private seed size in bytes.</summary>
    public const int SeedSize = 32;

    /// <summary>Signature size in bytes.</summary>
    public const int SignatureSize = 64;

    /// <summary>Longest message type name.</summary>
    public const int MaxMessageTypeLength = 64;

    private static readonly SignatureAlgorithm Algorithm = SignatureAlgorithm.Ed25519;
    private static ReadOnlySpan<byte> Domain => "pot/sig/v1\0"u8;

    private readonly Key _key;

    private Ed25519Keys(Key key)
    {
        _key = key;
        PublicKey = key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        Address = AccountAddress.FromPublicKey(PublicKey);
    }

    /// <summary>The 32-byte public key.</summary>
    public byte[] PublicKey { get; }

    /// <summary>The account address derived from <see cref="PublicKey"/>.</summary>
    public string Address { get; }

    /// <summary>Generates a fresh key from the operating system's random generator.</summary>
    /// <returns>The key.</returns>
    public static Ed25519Keys Generate() =>
        new(Key.Create(Algorithm, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport }));

    /// <summary>Recreates a key from its 32-byte private seed.</summary>
    /// <param name="seed">The seed.</param>
    /// <returns>The key.</returns>
    public static Ed25519Keys FromSeed(ReadOnlySpan<byte> seed)
    {
        if (seed.Length != SeedSize)
        {
            throw new ArgumentException($"Ed25519 seed is {seed.Length} bytes; expected {SeedSize}", nameof(seed));
        }
        return new(Key.Import(Algorithm, seed, KeyBlobFormat.RawPrivateKey, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport }));
    }

    /// <summary>Exports the private seed (only for writing an encrypted key file).</summary>
    /// <returns>32 bytes; the caller should clear them after use.</returns>
    public byte[] ExportSeed() => _key.Export(KeyBlobFormat.RawPrivateKey);

    /// <summary>Signs a message of the given type.</summary>
    /// <param name="messageType">Message type name, e.g. "pbft/commit" (ASCII a-z, 0-9, '/', '-', '.', '_').</param>
    /// <param name="message">The message bytes (normally a canonical encoding).</param>
    /// <returns>The 64-byte signature.</returns>
    public byte[] Sign(string messageType, ReadOnlySpan<byte> message)
    {
        Span<byte> digest = stackalloc byte[32];
        SigningDigest(messageType, message, digest);
        return Algorithm.Sign(_key, digest);
    }

    /// <summary>Verifies a signature of the given message type.</summary>
    /// <param name="publicKey">32-byte public key.</param>
    /// <param name="messageType">Message type the signature must be for.</param>
    /// <param name="message">The message bytes.</param>
    /// <param name="signature">64-byte signature.</param>
    /// <returns>True only for a valid signature by that key over that type and message; false for malformed keys or signatures.</returns>
    public static bool Verify(ReadOnlySpan<byte> publicKey, string messageType, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        if (publicKey.Length != PublicKeySize || signature.Length != SignatureSize)
        {
            return false;
        }
        if (!NSec.Cryptography.PublicKey.TryImport(Algorithm, publicKey, KeyBlobFormat.RawPublicKey, out NSec.Cryptography.PublicKey? key) || key is null)
        {
            return false;
        }
        Span<byte> digest = stackalloc byte[32];
        SigningDigest(messageType, message, digest);
        return Algorithm.Verify(key, digest, signature);
    }

    /// <summary>Checks a message type name against the allowed alphabet and length.</summary>
    /// <param name="messageType">The name.</param>
    /// <exception cref="ArgumentException">The name is empty, too long or has other characters.</exception>
    public static void ValidateMessageType(string messageType)
    {
        if (string.IsNullOrEmpty(messageType) || messageType.Length > MaxMessageTypeLength)
        {
            throw new ArgumentException($"message type must be 1 to {MaxMessageTypeLength} characters, got '{messageType}'", nameof(messageType));
        }
        foreach (char c in messageType)
        {
            if (!(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '/' or '-' or '.' or '_'))
            {
                throw new ArgumentException($"message type '{messageType}' contains '{c}'; allowed are a-z, 0-9, '/', '-', '.', '_'", nameof(messageType));
            }
        }
    }

    private static void SigningDigest(string messageType, ReadOnlySpan<byte> message, Span<byte> digest)
    {
        ValidateMessageType(messageType);
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Domain);
        Span<byte> typeBytes = stackalloc byte[1 + MaxMessageTypeLength];
        typeBytes[0] = (byte)messageType.Length;
        int n = System.Text.Encoding.ASCII.GetBytes(messageType, typeBytes[1..]);
        hash.AppendData(typeBytes[..(1 + n)]);
        hash.AppendData(message);
        hash.GetHashAndReset(digest);
    }

    /// <summary>Releases the native key material.</summary>
    public void Dispose() => _key.Dispose();
}
