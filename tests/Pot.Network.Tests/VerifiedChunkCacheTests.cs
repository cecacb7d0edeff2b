namespace Pot.Network.Tests;

public sealed class VerifiedChunkCacheTests
{
    private sealed class ManualTime : TimeProvider
    {
        public long Now { get; set; }

        public override long TimestampFrequency => 1000;

        public override long GetTimestamp() => Now;
    }

    [Fact]
    public void TheCacheIsBoundedInBytesEvictsTheLeastRecentlyUsedAndExpiresEntries()
    {
        // Proves the verified-chunk cache never holds more than its byte capacity, evicts the least
        // recently used chunk first, refuses chunks larger than itself, and forgets entries after their lifetime.
        var time = new ManualTime();
        var cache = new VerifiedChunkCache(capacityBytes: 100, lifetime: TimeSpan.FromSeconds(10), time);
        cache.Add("a", new byte[40]);
        time.Now = 1;
        cache.Add("b", new byte[40]);
        time.Now = 2;
        Assert.NotNull(cache.TryGet("a"));
        time.Now = 3;
        cache.Add("c", new byte[40]);
        Assert.Null(cache.TryGet("b"));
        Assert.NotNull(cache.TryGet("a"));
        Assert.NotNull(cache.TryGet("c"));
        cache.Add("huge", new byte[101]);
        Assert.Null(cache.TryGet("huge"));
        time.Now = 10_000;
        Assert.Null(cache.TryGet("a"));
        Assert.NotNull(cache.TryGet("c"));
        time.Now = 10_003;
        Assert.Null(cache.TryGet("c"));
        cache.Add("d", new byte[100]);
        Assert.NotNull(cache.TryGet("d"));
    }
}
