using System.Security.Cryptography;

namespace Pot.Commitments.Keys;

/// <summary>
/// Account addresses: "pot" followed by 40 lower-case hex digits, the first 20 bytes of
/// SHA-256("pot/address/v1" ‖ 0x00 ‖ Ed25519 public key).
/// </summary>
/// <remarks>
/// The domain string keeps an address from ever equalling some other hash of the same key; 20 bytes
/// (160 bits) leave 80-bit collision resistance, ample against accidental collisions. The address
/// has one textual form (lower case), so it can be compared as a string.
/// </remarks>
public static class AccountAddress
{
    /// <summary>Textual prefix of every address.</summary>
    public const string Prefix = "pot";

    /// <summary>Address length in bytes.</summary>
    public const int Size = 20;

    private static ReadOnlySpan<byte> Domain => "pot/address/v1\0"u8;

    /// <summary>The 20 address bytes of a public key.</summary>
    /// <param name="publicKey">32-byte Ed25519 public key.</param>
    /// <returns>20 bytes.</returns>
    public static byte[] BytesFromPublicKey(ReadOnlySpan<byte> publicKey)
    {
        if (publicKey.Length != Ed25519Keys.PublicKeySize)
        {
            throw new ArgumentException($"public key is {publicKey.Length} bytes; expected {Ed25519Keys.PublicKeySize}", nameof(publicKey));
        }
        Span<byte> input = stackalloc byte[15 + Ed25519Keys.PublicKeySize];
        Domain.CopyTo(input);
        publicKey.CopyTo(input[Domain.Length..]);
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(input[..(Domain.Length + publicKey.Length)], digest);
        return digest[..Size].ToArray();
    }

    /// <summary>The textual address of a public key.</summary>
    /// <param name="publicKey">32-byte Ed25519 public key.</param>
    /// <returns>"pot" + 40 hex digits.</returns>
    public static string FromPublicKey(ReadOnlySpan<byte> publicKey) => Prefix + Hex.Encode(BytesFromPublicKey(publicKey));

    /// <summary>Parses a textual address.</summary>
    /// <param name="text">The address.</param>
    /// <returns>The 20 address bytes.</returns>
    /// <exception cref="PotFormatException">Wrong prefix, length, or digits.</exception>
    public static byte[] Parse(string text)
    {
        if (text is null || !text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            throw new PotFormatException($"address '{text}': expected the prefix \"{Prefix}\" followed by {Size * 2} lower-case hex digits");
        }
        return Hex.Decode(text[Prefix.Length..], $"address '{text}'", Size);
    }
}
