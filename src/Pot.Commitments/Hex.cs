namespace Pot.Commitments;

/// <summary>Lower-case hexadecimal, the project's only textual form of hashes and keys.</summary>
public static class Hex
{
    /// <summary>Formats bytes as lower-case hex without a prefix.</summary>
    /// <param name="bytes">The bytes to format.</param>
    /// <returns>Two lower-case hex digits per byte.</returns>
    public static string Encode(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);

    /// <summary>
    /// Parses lower-case hex. Upper-case digits are rejected so that every value has exactly one textual
    /// form (signed JSON and file formats then compare as strings).
    /// </summary>
    /// <param name="text">The hex text.</param>
    /// <param name="what">Name of the field, used in the error message.</param>
    /// <param name="expectedLength">Required number of bytes, or -1 for any length.</param>
    /// <returns>The decoded bytes.</returns>
    /// <exception cref="PotFormatException">The text is not lower-case hex of the expected length.</exception>
    public static byte[] Decode(string? text, string what, int expectedLength = -1)
    {
        if (text is null)
        {
            throw new PotFormatException($"{what}: missing; expected lower-case hex");
        }
        if (text.Length % 2 != 0)
        {
            throw new PotFormatException($"{what}: hex text has odd length {text.Length}; expected two digits per byte");
        }
        foreach (char c in text)
        {
            if (!(c is >= '0' and <= '9' or >= 'a' and <= 'f'))
            {
                throw new PotFormatException($"{what}: character '{c}' is not a lower-case hex digit");
            }
        }
        if (expectedLength >= 0 && text.Length != expectedLength * 2)
        {
            throw new PotFormatException($"{what}: {text.Length / 2} bytes of hex; expected {expectedLength} bytes");
        }
        return Convert.FromHexString(text);
    }
}
