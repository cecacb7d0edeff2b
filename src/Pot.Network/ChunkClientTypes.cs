using Pot.Storage;

namespace Pot.Network;

/// <summary>Settings of a <see cref="ChunkClient"/>; every value has a documented default.</summary>
public sealed class ChunkClientOptions
{
    /// <summary>Path prefix of the peers' chunk endpoints (default <c>/chunks</c>).</summary>
    public string PathPrefix { get; set; } = "/chunks";

    /// <summary>Bytes asked for per range request (default 4 MiB). Smaller ranges resume with less loss; each costs one request token and one server-side re-hash.</summary>
    public int RangeBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Largest chunk accepted (default <see cref="ChunkStore.MaxChunkBytes"/>); a peer announcing more is rejected before any body byte is buffered.</summary>
    public int MaxChunkBytes { get; set; } = ChunkStore.MaxChunkBytes;

    /// <summary>Time limit of one range request, headers and body (default 30 s); a timeout counts as a dropped connection.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>TCP connect timeout (default 5 s).</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How many times a download from one peer resumes after a dropped connection or timeout before that peer is given up (default 3).</summary>
    public int MaxResumesPerPeer { get; set; } = 3;

    /// <summary>Pause before a resume; multiplied by the attempt number (default 100 ms).</summary>
    public TimeSpan ResumeDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Initial HTTP/2 stream receive window of the default handler (default 1 MiB; .NET's own default is 64 KiB).</summary>
    public int Http2StreamWindowBytes { get; set; } = 1024 * 1024;

    /// <summary>Called for every peer that failed a fetch (the node uses it to score or ban peers).</summary>
    public Action<PeerFailure>? PeerFailed { get; set; }

    /// <summary>Checks every value is in range.</summary>
    /// <exception cref="ArgumentException">A value is out of range; the message names it.</exception>
    public void Validate()
    {
        if (string.IsNullOrEmpty(PathPrefix) || PathPrefix[0] != '/' || PathPrefix.EndsWith('/'))
        {
            throw new ArgumentException($"PathPrefix '{PathPrefix}' must start with '/' and not end with '/'");
        }
        if (RangeBytes <= 0)
        {
            throw new ArgumentException($"RangeBytes must be positive, got {RangeBytes}");
        }
        if (MaxChunkBytes is < 0 or > ChunkStore.MaxChunkBytes)
        {
            throw new ArgumentException($"MaxChunkBytes must be 0 to {ChunkStore.MaxChunkBytes}, got {MaxChunkBytes}");
        }
        if (RequestTimeout <= TimeSpan.Zero || ConnectTimeout <= TimeSpan.Zero || ResumeDelay < TimeSpan.Zero)
        {
            throw new ArgumentException("RequestTimeout and ConnectTimeout must be positive and ResumeDelay not negative");
        }
        if (MaxResumesPerPeer < 0)
        {
            throw new ArgumentException($"MaxResumesPerPeer must not be negative, got {MaxResumesPerPeer}");
        }
        if (Http2StreamWindowBytes < 65535)
        {
            throw new ArgumentException($"Http2StreamWindowBytes must be at least 65535, got {Http2StreamWindowBytes}");
        }
    }
}

/// <summary>How a peer failed a fetch.</summary>
public enum PeerFailureKind
{
    /// <summary>404: the peer does not have the chunk.</summary>
    NotFound,

    /// <summary>The bytes it served do not hash to the requested address (or fail the Merkle proof of a leaf): a faulty or malicious peer.</summary>
    WrongBytes,

    /// <summary>It announced a chunk larger than <see cref="ChunkClientOptions.MaxChunkBytes"/>.</summary>
    TooLarge,

    /// <summary>It broke the protocol: wrong status, Content-Range, length, or extra bytes.</summary>
    ProtocolViolation,

    /// <summary>429: it rate-limited us.</summary>
    RateLimited,

    /// <summary>Unreachable, 5xx (including a chunk corrupted on its disk), or connections dropped more often than <see cref="ChunkClientOptions.MaxResumesPerPeer"/>.</summary>
    Unavailable,
}

/// <summary>One peer's failure during a fetch.</summary>
/// <param name="Peer">The peer's base address.</param>
/// <param name="Kind">What went wrong.</param>
/// <param name="Message">Details naming the chunk, what was received and what was expected.</param>
public sealed record PeerFailure(Uri Peer, PeerFailureKind Kind, string Message);

/// <summary>A chunk obtained by <see cref="ChunkClient.FetchAsync"/>; its bytes hash to the requested address.</summary>
/// <param name="Data">The verified chunk.</param>
/// <param name="Source">The peer that served it, or null when it came from the local store.</param>
/// <param name="Resumes">Range requests that resumed a download after a dropped connection or timeout.</param>
/// <param name="Failures">Peers that failed before the chunk was obtained, in order.</param>
public sealed record ChunkFetchResult(byte[] Data, Uri? Source, int Resumes, IReadOnlyList<PeerFailure> Failures)
{
    /// <summary>True when the chunk was already in the local store (no network was used, no reference added).</summary>
    public bool FromLocalStore => Source is null;
}

/// <summary>Bytes of a chunk's range as served by a peer (not verified against the chunk hash).</summary>
/// <param name="Data">The bytes.</param>
/// <param name="Offset">Offset of the first byte in the chunk.</param>
/// <param name="ChunkLength">Total chunk length the peer announced.</param>
/// <param name="Source">The peer.</param>
public sealed record ChunkRange(byte[] Data, long Offset, long ChunkLength, Uri Source);

/// <summary>No peer could deliver the requested chunk or range; <see cref="Failures"/> says why, peer by peer.</summary>
public sealed class ChunkFetchException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">Names the chunk.</param>
    /// <param name="failures">Every peer's failure.</param>
    public ChunkFetchException(string message, IReadOnlyList<PeerFailure> failures)
        : base(message + ": " + (failures.Count == 0 ? "no peers given" : string.Join("; ", failures.Select(f => $"{f.Peer} {f.Kind}: {f.Message}"))))
    {
        Failures = failures;
    }

    /// <summary>Every peer's failure, in the order they were tried.</summary>
    public IReadOnlyList<PeerFailure> Failures { get; }
}
