namespace Pot.Commitments;

/// <summary>
/// Thrown when bytes that came from outside (a peer, a file, a user) do not form a valid object of the
/// expected format: truncated or oversized data, non-canonical encodings, mismatching hashes, proofs
/// that do not verify structurally, or authentication failures of encrypted containers.
/// </summary>
/// <remarks>
/// Decoders in this library throw only this type for bad input, so a caller that handles untrusted
/// bytes needs one catch clause. The message always names what was wrong and what was expected.
/// </remarks>
public sealed class PotFormatException : Exception
{
    /// <summary>Creates the exception with a message naming what was wrong and what was expected.</summary>
    /// <param name="message">Human-readable description of the malformation.</param>
    public PotFormatException(string message) : base(message) { }

    /// <summary>Creates the exception wrapping a lower-level cause (for example a zstd error).</summary>
    /// <param name="message">Human-readable description of the malformation.</param>
    /// <param name="innerException">The error reported by the underlying library.</param>
    public PotFormatException(string message, Exception innerException) : base(message, innerException) { }
}
