using Pot.Commitments;

namespace Pot.Network;

/// <summary>
/// The textual form of a chunk address on the wire: exactly 64 lower-case hex digits of the chunk's
/// SHA-256 (the project's only textual form of hashes, so each chunk has exactly one URL).
/// </summary>
public static class ChunkId
{
    /// <summary>Length of a chunk address in bytes.</summary>
    public const int HashBytes = 32;

    /// <summary>Length of its textual form in characters.</summary>
    public const int HexLength = HashBytes * 2;

    /// <summary>Formats a 32-byte address as 64 lower-case hex digits.</summary>
    /// <param name="hash">The address.</param>
    /// <returns>The hex text.</returns>
    /// <exception cref="ArgumentException">The address is not 32 bytes.</exception>
    public static string Format(ReadOnlySpan<byte> hash)
    {
        if (hash.Length != HashBytes)
        {
            throw new ArgumentException($"a chunk address is a {HashBytes}-byte SHA-256, got {hash.Length} bytes", nameof(hash));
        }
        return Hex.Encode(hash);
    }

    /// <summary>Parses 64 lower-case hex digits; anything else (length, upper case, other characters) fails.</summary>
    /// <param name="text">The text.</param>
    /// <param name="hash">The 32-byte address, or null.</param>
    /// <param name="error">Why the text was rejected, or null.</param>
    /// <returns>Whether the text is a valid chunk address.</returns>
    public static bool TryParse(string? text, out byte[]? hash, out string? error)
    {
        hash = null;
        if (text is null || text.Length != HexLength)
        {
            error = $"a chunk id is {HexLength} lower-case hex digits (SHA-256); got {(text is null ? "nothing" : text.Length + " characters")}";
            return false;
        }
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (!(c is >= '0' and <= '9' or >= 'a' and <= 'f'))
            {
                error = $"a chunk id is {HexLength} lower-case hex digits (SHA-256); character {i} is not a lower-case hex digit";
                return false;
            }
        }
        hash = Convert.FromHexString(text);
        error = null;
        return true;
    }
}
