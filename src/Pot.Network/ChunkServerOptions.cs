namespace Pot.Network;

/// <summary>Limits of the chunk endpoints. Every value has a default suited to a node on a LAN.</summary>
public sealed class ChunkServerOptions
{
    /// <summary>Path prefix of the endpoints (default <c>/chunks</c>).</summary>
    public string PathPrefix { get; set; } = "/chunks";

    /// <summary>Most hashes in one <c>POST /chunks/have</c> request (default 1024); more is 413.</summary>
    public int MaxHaveHashes { get; set; } = 1024;

    /// <summary>Largest <c>POST /chunks/have</c> body in bytes (default 128 KiB); more is 413.</summary>
    public int MaxHaveRequestBytes { get; set; } = 128 * 1024;

    /// <summary>Token bucket size per remote IP address: the burst of requests allowed (default 200).</summary>
    public int RateLimitTokens { get; set; } = 200;

    /// <summary>Tokens added to each bucket every <see cref="RateLimitPeriod"/> (default 100).</summary>
    public int RateLimitTokensPerPeriod { get; set; } = 100;

    /// <summary>Replenishment period of the token buckets (default 1 s).</summary>
    public TimeSpan RateLimitPeriod { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Memory for verified chunks kept between the range requests of one download (default 256 MiB;
    /// 0 disables the cache, so every range re-reads and re-hashes the whole chunk). Only chunks read
    /// for a partial range are kept.
    /// </summary>
    public long VerifiedCacheBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>How long a verified chunk stays in that cache after it was read from disk (default 30 s).</summary>
    public TimeSpan VerifiedCacheLifetime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Checks every limit is positive and the prefix is a rooted path.</summary>
    /// <exception cref="ArgumentException">A value is out of range; the message names it.</exception>
    public void Validate()
    {
        if (string.IsNullOrEmpty(PathPrefix) || PathPrefix[0] != '/' || PathPrefix.EndsWith('/'))
        {
            throw new ArgumentException($"PathPrefix '{PathPrefix}' must start with '/' and not end with '/'");
        }
        Positive(MaxHaveHashes, nameof(MaxHaveHashes));
        Positive(MaxHaveRequestBytes, nameof(MaxHaveRequestBytes));
        Positive(RateLimitTokens, nameof(RateLimitTokens));
        Positive(RateLimitTokensPerPeriod, nameof(RateLimitTokensPerPeriod));
        if (VerifiedCacheBytes < 0 || VerifiedCacheLifetime < TimeSpan.Zero)
        {
            throw new ArgumentException($"VerifiedCacheBytes ({VerifiedCacheBytes}) and VerifiedCacheLifetime ({VerifiedCacheLifetime}) must not be negative");
        }
        if (RateLimitPeriod <= TimeSpan.Zero)
        {
            throw new ArgumentException($"RateLimitPeriod must be positive, got {RateLimitPeriod}");
        }
    }

    private static void Positive(int value, string name)
    {
        if (value <= 0)
        {
            throw new ArgumentException($"{name} must be positive, got {value}");
        }
    }
}
