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
