namespace Pot.Storage;

/// <summary>
/// Thrown when a stored chunk no longer hashes to its address: the disk (or something writing to it)
/// damaged the data. The chunk is never served; the caller must fetch it again from a peer.
/// </summary>
public sealed class ChunkCorruptedException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">Names the chunk, the expected hash and the actual hash.</param>
    public ChunkCorruptedException(string message) : base(message) { }
}
