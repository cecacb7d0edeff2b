using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Pot.Storage;

namespace Pot.Network.Tests;

public sealed class ChunkEndpointTests : IDisposable
{
    private readonly TempStores _stores = new();

    public void Dispose() => _stores.Dispose();

    private static HttpRequestMessage Get(string path, string? range = null)
    {
        HttpRequestMessage request = Http2(new HttpRequestMessage(HttpMethod.Get, path.TrimStart('/')));
        if (range is not null)
        {
            request.Headers.TryAddWithoutValidation("Range", range);
        }
        return request;
    }

    // Explicitly built messages do not take the HttpClient's default version; the server is HTTP/2 only.
    private static HttpRequestMessage Http2(HttpRequestMessage request)
    {
        request.Version = HttpVersion.Version20;
        request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        return request;
    }

    [Fact]
    public async Task RangeRequestsAreServedWith206AndOutOfBoundsRangesWith416()
    {
        // Proves single byte ranges of every RFC 9110 form are honoured with exact Content-Range and
        // bytes, ranges past the end are clipped, unsatisfiable ones get 416 with "bytes */length",
        // malformed or multiple ranges get 400, and HEAD reports the size without a body, all over HTTP/2.
        ChunkStore store = _stores.Open();
        byte[] data = TestData.Bytes(100, 1);
        string id = ChunkId.Format(store.Put(data));
        var metrics = new ChunkServerMetrics();
        await using TestPeer peer = await TestPeer.StartChunkServerAsync(store, metrics);
        using HttpClient http = TestData.RawHttp2Client(peer.BaseAddress);

        using (HttpResponseMessage whole = await http.SendAsync(Get($"chunks/{id}")))
        {
            Assert.Equal(HttpStatusCode.OK, whole.StatusCode);
            Assert.Equal(HttpVersion.Version20, whole.Version);
            Assert.Equal("bytes", Assert.Single(whole.Headers.AcceptRanges));
            Assert.Equal(data, await whole.Content.ReadAsByteArrayAsync());
        }
        (string Range, long From, long To)[] satisfiable =
        [
            ("bytes=10-19", 10, 19),
            ("bytes=90-", 90, 99),
            ("bytes=-5", 95, 99),
            ("bytes=95-200", 95, 99),
            ("bytes=0-0", 0, 0),
            ("bytes=-1000", 0, 99),
        ];
        foreach ((string range, long from, long to) in satisfiable)
        {
            using HttpResponseMessage response = await http.SendAsync(Get($"chunks/{id}", range));
            Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
            Assert.Equal($"bytes {from}-{to}/100", response.Content.Headers.ContentRange!.ToString());
            Assert.Equal(data[(int)from..(int)(to + 1)], await response.Content.ReadAsByteArrayAsync());
        }
        foreach (string range in new[] { "bytes=100-", "bytes=100-105", "bytes=-0" })
        {
            using HttpResponseMessage response = await http.SendAsync(Get($"chunks/{id}", range));
            Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, response.StatusCode);
            Assert.Equal("bytes */100", response.Content.Headers.ContentRange!.ToString());
        }
        foreach (string range in new[] { "bytes=0-1,5-6", "items=0-1", "bytes=5-2", "bytes=a-b", "bytes=", "bytes=-", "bytes= 1-2", "bytes=1234567890123456789-" })
        {
            using HttpResponseMessage response = await http.SendAsync(Get($"chunks/{id}", range));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.NotEmpty(await response.Content.ReadAsStringAsync());
        }
        using (HttpResponseMessage head = await http.SendAsync(Http2(new HttpRequestMessage(HttpMethod.Head, $"chunks/{id}"))))
        {
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Equal(100, head.Content.Headers.ContentLength);
            Assert.Empty(await head.Content.ReadAsByteArrayAsync());
        }
        Assert.Equal(1 + satisfiable.Length + 1, metrics.ChunksServed);
        Assert.Equal(3, metrics.Rejected(ChunkRejectReason.RangeNotSatisfiable));
        Assert.Equal(8, metrics.Rejected(ChunkRejectReason.Malformed));
    }

    [Fact]
    public async Task MalformedIdsGet400AndAbsentChunksGet404()
    {
        // Proves a chunk id must be exactly 64 lower-case hex digits (each wrong shape gets 400 with a
        // body saying so) and an unknown well-formed id gets 404 naming it.
        ChunkStore store = _stores.Open();
        string id = ChunkId.Format(store.Put(TestData.Bytes(10, 2)));
        var metrics = new ChunkServerMetrics();
        await using TestPeer peer = await TestPeer.StartChunkServerAsync(store, metrics);
        using HttpClient http = TestData.RawHttp2Client(peer.BaseAddress);

        string[] malformed = [id.ToUpperInvariant(), id[..63], id + "0", id[..63] + "g", "have", "x"];
        foreach (string bad in malformed)
        {
            using HttpResponseMessage response = await http.SendAsync(Get($"chunks/{bad}"));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains("lower-case hex", await response.Content.ReadAsStringAsync());
        }
        string absent = ChunkId.Format(SHA256.HashData("absent"u8));
        using (HttpResponseMessage response = await http.SendAsync(Get($"chunks/{absent}")))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Contains(absent, await response.Content.ReadAsStringAsync());
        }
        Assert.Equal(malformed.Length, metrics.Rejected(ChunkRejectReason.Malformed));
        Assert.Equal(1, metrics.Rejected(ChunkRejectReason.NotFound));
        Assert.Equal(0, metrics.ChunksServed);
    }

    [Fact]
    public async Task HaveAnswersPresenceAndOversizedOrMalformedBodiesAreRejectedWithoutChangingTheStore()
    {
        // Proves POST /chunks/have answers one flag per hash; bodies over the byte limit or with too many
        // hashes get 413, malformed JSON or ids get 400, a GET with a body gets 413, and none of these
        // requests adds, removes or re-references anything in the store.
        ChunkStore store = _stores.Open();
        byte[] present = store.Put(TestData.Bytes(50, 3));
        byte[] absent = SHA256.HashData("absent"u8);
        var options = new ChunkServerOptions { MaxHaveHashes = 4, MaxHaveRequestBytes = 1024 };
        var metrics = new ChunkServerMetrics();
        await using TestPeer peer = await TestPeer.StartChunkServerAsync(store, metrics, options);
        using HttpClient http = TestData.RawHttp2Client(peer.BaseAddress);
        using var client = new ChunkClient(null);

        bool[] flags = await client.HaveAsync(peer.BaseAddress, [present, absent]);
        Assert.Equal(new[] { true, false }, flags);

        async Task<(HttpStatusCode Status, string Body)> Post(string json)
        {
            using var content = new StringContent(json, Encoding.UTF8, "application/json");
            using HttpResponseMessage response = await http.PostAsync("chunks/have", content);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        string hex = ChunkId.Format(absent);
        (HttpStatusCode status, string body) = await Post("{\"hashes\":[" + string.Join(',', Enumerable.Repeat($"\"{hex}\"", 5)) + "]}");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Contains("at most 4", body);
        (status, body) = await Post("{\"hashes\":[\"" + new string('a', 2000) + "\"]}");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Contains("1024", body);
        foreach (string json in new[] { "not json", "[]", "{\"hashes\":\"x\"}", "{\"hashes\":[1]}", "{\"hashes\":[\"" + hex.ToUpperInvariant() + "\"]}", "{\"hashes\":[],\"more\":1}", "{}" })
        {
            (status, body) = await Post(json);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Contains("hashes", body);
        }
        // A body on a GET is refused rather than ignored.
        HttpRequestMessage getWithBody = Http2(new HttpRequestMessage(HttpMethod.Get, $"chunks/{ChunkId.Format(present)}") { Content = new ByteArrayContent(new byte[10]) });
        using (HttpResponseMessage response = await http.SendAsync(getWithBody))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        }
        Assert.Equal(3, metrics.Rejected(ChunkRejectReason.TooLarge));
        Assert.Equal(7, metrics.Rejected(ChunkRejectReason.Malformed));
        Assert.Equal(1, metrics.HaveRequests);
        Assert.Equal(1UL, store.ReferenceCount(present));
        Assert.False(store.Contains(absent));
        Assert.Equal(0, store.CollectGarbage().ChunksDeleted);
    }

    [Fact]
    public async Task AFloodFromOneAddressGets429OnceItsTokenBucketIsEmpty()
    {
        // Proves the per-IP token bucket admits exactly its burst, answers the rest 429 with a body and a
        // Retry-After header, counts each rejection, and that the client reports the peer as rate limiting.
        ChunkStore store = _stores.Open();
        byte[] hash = store.Put(TestData.Bytes(64, 4));
        var options = new ChunkServerOptions { RateLimitTokens = 5, RateLimitTokensPerPeriod = 1, RateLimitPeriod = TimeSpan.FromHours(1) };
        var metrics = new ChunkServerMetrics();
        await using TestPeer peer = await TestPeer.StartChunkServerAsync(store, metrics, options);
        using HttpClient http = TestData.RawHttp2Client(peer.BaseAddress);

        HttpResponseMessage[] responses = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => http.SendAsync(Get($"chunks/{ChunkId.Format(hash)}"))));
        Assert.Equal(5, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        HttpResponseMessage[] limited = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToArray();
        Assert.Equal(7, limited.Length);
        Assert.Contains("rate limit", await limited[0].Content.ReadAsStringAsync());
        Assert.NotNull(limited[0].Headers.RetryAfter);
        Assert.Equal(7, metrics.Rejected(ChunkRejectReason.RateLimited));
        foreach (HttpResponseMessage response in responses)
        {
            response.Dispose();
        }

        ChunkStore local = _stores.Open();
        using var client = new ChunkClient(local);
        var error = await Assert.ThrowsAsync<ChunkFetchException>(() => client.FetchAsync(hash, [peer.BaseAddress]));
        Assert.Equal(PeerFailureKind.RateLimited, Assert.Single(error.Failures).Kind);
        Assert.False(local.Contains(hash));
    }

    [Fact]
    public async Task AChunkCorruptedOnDiskIsNeverServed()
    {
        // Proves a chunk whose stored bytes no longer hash to its address is answered 500 with a message
        // naming it (GET, HEAD and ranges alike), counted, and that a client falls back to a good peer.
        ChunkStore store = _stores.Open(out string directory);
        byte[] data = TestData.Bytes(10_000, 5);
        byte[] hash = store.Put(data);
        store.Dispose();
        byte[] damaged = (byte[])data.Clone();
        damaged[1234] ^= 0x40;
        TempStores.Damage(directory, hash, damaged);
        store = _stores.Reopen(directory);

        var metrics = new ChunkServerMetrics();
        await using TestPeer bad = await TestPeer.StartChunkServerAsync(store, metrics);
        using HttpClient http = TestData.RawHttp2Client(bad.BaseAddress);
        string id = ChunkId.Format(hash);
        foreach (HttpRequestMessage request in new[] { Get($"chunks/{id}"), Get($"chunks/{id}", "bytes=0-99"), Http2(new HttpRequestMessage(HttpMethod.Head, $"chunks/{id}")) })
        {
            using HttpResponseMessage response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
            byte[] body = await response.Content.ReadAsByteArrayAsync();
            if (request.Method != HttpMethod.Head)
            {
                Assert.Contains("corrupted", Encoding.UTF8.GetString(body));
                Assert.Contains(id, Encoding.UTF8.GetString(body));
            }
            Assert.True(body.Length < 1000);
        }
        Assert.Equal(3, metrics.Rejected(ChunkRejectReason.Corrupted));
        Assert.Equal(0, metrics.BytesServed);

        ChunkStore goodStore = _stores.Open();
        goodStore.Put(data);
        await using TestPeer good = await TestPeer.StartChunkServerAsync(goodStore, new ChunkServerMetrics());
        ChunkStore local = _stores.Open();
        using var client = new ChunkClient(local);
        ChunkFetchResult result = await client.FetchAsync(hash, [bad.BaseAddress, good.BaseAddress]);
        Assert.Equal(data, result.Data);
        Assert.Equal(good.BaseAddress, result.Source);
        PeerFailure failure = Assert.Single(result.Failures);
        Assert.Equal(PeerFailureKind.Unavailable, failure.Kind);
        Assert.Contains("corrupted", failure.Message);
    }

    [Fact]
    public async Task MisconfigurationIsRejectedAtStartupWithANamedCause()
    {
        // Proves mapping the endpoints without registering their rate limiting policy fails at startup
        // with a message saying what to call, and that out-of-range limits are rejected by name.
        ChunkStore store = _stores.Open();
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => TestPeer.StartAsync(app => app.MapChunkEndpoints(store, new ChunkServerOptions(), new ChunkServerMetrics())));
        Assert.Contains("AddChunkRateLimiting", error.Message);
        Assert.Contains("RateLimitTokens", Assert.Throws<ArgumentException>(() => new ChunkServerOptions { RateLimitTokens = 0 }.Validate()).Message);
        Assert.Contains("PathPrefix", Assert.Throws<ArgumentException>(() => new ChunkServerOptions { PathPrefix = "chunks/" }.Validate()).Message);
        Assert.Contains("MaxChunkBytes", Assert.Throws<ArgumentException>(() => new ChunkClientOptions { MaxChunkBytes = ChunkStore.MaxChunkBytes + 1 }.Validate()).Message);
        Assert.Contains("RangeBytes", Assert.Throws<ArgumentException>(() => new ChunkClient(null, new ChunkClientOptions { RangeBytes = 0 })).Message);
    }

    [Fact]
    public void ByteRangeParserAcceptsExactlyOneWellFormedRange()
    {
        // Proves the strict single-range parser against RFC 9110 forms, clipping and edge cases.
        Assert.Equal(RangeParse.None, ByteRange.Parse(null, 10, out _, out long all, out _));
        Assert.Equal(10, all);
        Assert.Equal(RangeParse.Satisfiable, ByteRange.Parse("bytes=3-", 10, out long offset, out long count, out _));
        Assert.Equal((3L, 7L), (offset, count));
        Assert.Equal(RangeParse.Satisfiable, ByteRange.Parse("bytes=-3", 10, out offset, out count, out _));
        Assert.Equal((7L, 3L), (offset, count));
        Assert.Equal(RangeParse.Satisfiable, ByteRange.Parse("bytes=9-999999999999999999", 10, out offset, out count, out _));
        Assert.Equal((9L, 1L), (offset, count));
        Assert.Equal(RangeParse.NotSatisfiable, ByteRange.Parse("bytes=0-", 0, out _, out _, out _));
        Assert.Equal(RangeParse.NotSatisfiable, ByteRange.Parse("bytes=-1", 0, out _, out _, out _));
        Assert.Equal(RangeParse.NotSatisfiable, ByteRange.Parse("bytes=10-", 10, out _, out _, out string? error));
        Assert.Contains("10 bytes", error);
        foreach (string bad in new[] { "bytes=1-2,3-4", "Bytes=1-2", "bytes=+1-2", "bytes=1--2", "bytes=1-2 ", "bytes=3-2", "bytes=1234567890123456789-", "bytes=-1234567890123456789" })
        {
            Assert.Equal(RangeParse.Malformed, ByteRange.Parse(bad, 10, out _, out _, out error));
            Assert.False(string.IsNullOrEmpty(error));
        }
    }
}
