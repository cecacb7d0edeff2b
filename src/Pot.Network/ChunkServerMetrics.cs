namespace Pot.Network;

/// <summary>Why the chunk endpoints refused a request (one counter each).</summary>
public enum ChunkRejectReason
{
    /// <summary>400: malformed chunk id, Range header or request body.</summary>
    Malformed,

    /// <summary>413: request body or hash list over its limit.</summary>
    TooLarge,

    /// <summary>429: the remote IP's token bucket was empty.</summary>
    RateLimited,

    /// <summary>416: the requested range lies outside the chunk.</summary>
    RangeNotSatisfiable,

    /// <summary>404: the chunk is not stored.</summary>
    NotFound,

    /// <summary>500: the stored chunk failed its integrity check and was not served.</summary>
    Corrupted,
}

/// <summary>
/// Thread-safe counters of the chunk endpoints. A node exports them to Prometheus (for example from a
/// prometheus-net before-collect callback, see docs/network.md); tests read them directly.
/// </summary>
public sealed class ChunkServerMetrics
{
    private readonly long[] _rejected = new long[Enum.GetValues<ChunkRejectReason>().Length];
    private long _chunksServed;
    private long _bytesServed;
    private long _haveRequests;
    private long _cacheHits;

    /// <summary>GET/HEAD requests answered with 200 or 206.</summary>
    public long ChunksServed => Interlocked.Read(ref _chunksServed);

    /// <summary>Body bytes sent by GET requests.</summary>
    public long BytesServed => Interlocked.Read(ref _bytesServed);

    /// <summary>POST /chunks/have requests answered.</summary>
    public long HaveRequests => Interlocked.Read(ref _haveRequests);

    /// <summary>GET/HEAD requests answered from the verified-chunk cache instead of a disk read.</summary>
    public long CacheHits => Interlocked.Read(ref _cacheHits);

    /// <summary>Requests refused for one reason.</summary>
    /// <param name="reason">The reason.</param>
    /// <returns>The count.</returns>
    public long Rejected(ChunkRejectReason reason) => Interlocked.Read(ref _rejected[(int)reason]);

    /// <summary>All counters by name (snake case, as Prometheus metric suffixes), e.g. <c>rejected_rate_limited</c>.</summary>
    /// <returns>A point-in-time copy.</returns>
    public IReadOnlyDictionary<string, long> Snapshot()
    {
        var result = new SortedDictionary<string, long>(StringComparer.Ordinal)
        {
            ["chunks_served"] = ChunksServed,
            ["bytes_served"] = BytesServed,
            ["have_requests"] = HaveRequests,
            ["cache_hits"] = CacheHits,
        };
        foreach (ChunkRejectReason reason in Enum.GetValues<ChunkRejectReason>())
        {
            result["rejected_" + SnakeCase(reason.ToString())] = Rejected(reason);
        }
        return result;
    }

    internal void CountRejected(ChunkRejectReason reason) => Interlocked.Increment(ref _rejected[(int)reason]);

    internal void CountServed(long bytes)
    {
        Interlocked.Increment(ref _chunksServed);
        Interlocked.Add(ref _bytesServed, bytes);
    }

    internal void CountCacheHit() => Interlocked.Increment(ref _cacheHits);

    internal void CountHave() => Interlocked.Increment(ref _haveRequests);

    private static string SnakeCase(string name)
    {
        var builder = new System.Text.StringBuilder();
        foreach (char c in name)
        {
            if (char.IsUpper(c) && builder.Length > 0)
            {
                builder.Append('_');
            }
            builder.Append(char.ToLowerInvariant(c));
        }
        return builder.ToString();
    }
}
