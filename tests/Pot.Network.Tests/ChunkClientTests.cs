using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Pot.Commitments;
using Pot.Commitments.Merkle;
using Pot.Storage;

namespace Pot.Network.Tests;

public sealed class ChunkClientTests : IDisposable
{
    private readonly TempStores _stores = new();

    public void Dispose() => _stores.Dispose();

    private static ChunkClientOptions FastOptions(int rangeBytes = 1024 * 1024) => new()
    {
        RangeBytes = rangeBytes,
        ResumeDelay = TimeSpan.FromMilliseconds(10),
        RequestTimeout = TimeSpan.FromSeconds(20),
    };

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4096)]
    [InlineData(5 * 1024 * 1024 + 123)]
    public async Task ChunksOfEverySizeRoundTripIntoTheLocalStore(int size)
    {
        // Proves a chunk of 0, 1, 4096 bytes or several MiB (several 1 MiB ranges) arrives intact over
        // HTTP/2, is stored locally under its hash with one reference, and needs ⌈size / range⌉ requests.
        ChunkStore remote = _stores.Open();
        byte[] data = TestData.Bytes(size, size);
        byte[] hash = remote.Put(data);
        var metrics = new ChunkServerMetrics();
        await using TestPeer peer = await TestPeer.StartChunkServerAsync(remote, metrics);
        ChunkStore local = _stores.Open();
        using var client = new ChunkClient(local, FastOptions());

        ChunkFetchResult result = await client.FetchAsync(hash, [peer.BaseAddress]);

        Assert.Equal(data, result.Data);
        Assert.Equal(peer.BaseAddress, result.Source);
        Assert.False(result.FromLocalStore);
        Assert.Empty(result.Failures);
        Assert.Equal(0, result.Resumes);
        Assert.Equal(data, local.Get(hash));
        Assert.Equal(1UL, local.ReferenceCount(hash));
        int ranges = (size + 1024 * 1024 - 1) / (1024 * 1024);
        Assert.Equal(ranges, metrics.ChunksServed);
        Assert.Equal(size, metrics.BytesServed);
        // Only the first range reads and hashes the chunk on disk; the rest come from the verified cache.
        Assert.Equal(Math.Max(0, ranges - 1), metrics.CacheHits);
        // The empty chunk has no satisfiable range: its one request is the 416 that reveals length 0.
        Assert.Equal(size == 0 ? 1 : 0, metrics.Rejected(ChunkRejectReason.RangeNotSatisfiable));

        // A second fetch is served from the local store without touching the network or the count.
        ChunkFetchResult again = await client.FetchAsync(hash, [peer.BaseAddress]);
        Assert.True(again.FromLocalStore);
        Assert.Equal(data, again.Data);
        Assert.Equal(ranges, metrics.ChunksServed);
        Assert.Equal(1UL, local.ReferenceCount(hash));
    }

    [Fact]
    public async Task APeerServingWrongBytesIsReportedAndTheNextPeerIsUsed()
    {
        // Proves bytes that do not hash to the address are discarded (never stored), the peer is reported
        // as WrongBytes through the result and the callback, and the good peer's bytes are stored; with
        // only the bad peer the fetch fails with a message naming the actual hash.
        byte[] data = TestData.Bytes(300_000, 6);
        byte[] hash = SHA256.HashData(data);
        byte[] tampered = (byte[])data.Clone();
        tampered[299_999] ^= 1;
        await using TestPeer evil = await TestPeer.StartScriptedAsync(tampered, new ConcurrentQueue<string?>());
        ChunkStore goodStore = _stores.Open();
        goodStore.Put(data);
        await using TestPeer good = await TestPeer.StartChunkServerAsync(goodStore, new ChunkServerMetrics());
        ChunkStore local = _stores.Open();
        var reported = new ConcurrentQueue<PeerFailure>();
        ChunkClientOptions options = FastOptions(64 * 1024);
        options.PeerFailed = reported.Enqueue;
        using var client = new ChunkClient(local, options);

        var alone = await Assert.ThrowsAsync<ChunkFetchException>(() => client.FetchAsync(hash, [evil.BaseAddress]));
        Assert.Equal(PeerFailureKind.WrongBytes, Assert.Single(alone.Failures).Kind);
        Assert.Contains(Hex.Encode(SHA256.HashData(tampered)), alone.Message);
        Assert.False(local.Contains(hash));

        ChunkFetchResult result = await client.FetchAsync(hash, [evil.BaseAddress, good.BaseAddress]);
        Assert.Equal(good.BaseAddress, result.Source);
        Assert.Equal(evil.BaseAddress, Assert.Single(result.Failures).Peer);
        Assert.Equal(2, reported.Count);
        Assert.All(reported, f => Assert.Equal(PeerFailureKind.WrongBytes, f.Kind));
        Assert.Equal(data, local.Get(hash));
    }

    [Fact]
    public async Task ADroppedConnectionResumesWithARangeRequestFromTheFirstMissingByte()
    {
        // Proves that when a peer resets the stream after part of a range, the client keeps the bytes it
        // got and asks for the rest with a Range starting after them (not from 0), and the result verifies.
        byte[] data = TestData.Bytes(3 * 1024 * 1024, 7);
        byte[] hash = SHA256.HashData(data);
        var ranges = new ConcurrentQueue<string?>();
        const int dropAfter = 1024 * 1024 + 17;
        await using TestPeer flaky = await TestPeer.StartScriptedAsync(data, ranges, dropCount: 1, dropAfterBytes: dropAfter);
        ChunkStore local = _stores.Open();
        using var client = new ChunkClient(local, FastOptions(8 * 1024 * 1024));

        ChunkFetchResult result = await client.FetchAsync(hash, [flaky.BaseAddress]);

        Assert.Equal(data, result.Data);
        Assert.Equal(1, result.Resumes);
        string?[] seen = ranges.ToArray();
        Assert.Equal(2, seen.Length);
        Assert.Equal("bytes=0-8388607", seen[0]);
        long resumedAt = long.Parse(seen[1]!["bytes=".Length..seen[1]!.IndexOf('-')], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(resumedAt, 1, dropAfter);
        Assert.Equal(data, local.Get(hash));
    }

    [Fact]
    public async Task ADroppedTcpConnectionResumesOnANewConnectionFromTheFirstMissingByte()
    {
        // Proves the resume also works when the TCP connection itself dies mid-response (a relay closes
        // both sockets after ~1 MiB): the client opens a new connection and asks only for the missing bytes.
        byte[] data = TestData.Bytes(3 * 1024 * 1024, 11);
        byte[] hash = SHA256.HashData(data);
        var ranges = new ConcurrentQueue<string?>();
        await using TestPeer server = await TestPeer.StartScriptedAsync(data, ranges);
        await using var relay = new DroppingTcpRelay(server.BaseAddress, dropAfterBytes: 1024 * 1024, connectionsToDrop: 1);
        using var client = new ChunkClient(null, FastOptions(8 * 1024 * 1024));

        ChunkFetchResult result = await client.FetchAsync(hash, [relay.BaseAddress]);

        Assert.Equal(data, result.Data);
        Assert.Equal(1, result.Resumes);
        Assert.Equal(2, relay.Connections);
        string?[] seen = ranges.ToArray();
        Assert.Equal(2, seen.Length);
        long resumedAt = long.Parse(seen[1]!["bytes=".Length..seen[1]!.IndexOf('-')], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(resumedAt, 1, 1024 * 1024);
    }

    [Fact]
    public async Task APeerThatKeepsDroppingIsGivenUpAfterTheResumeLimit()
    {
        // Proves the resume budget per peer is bounded: a peer that always resets is abandoned after
        // MaxResumesPerPeer resumes (Unavailable, progress in the message) and the next peer supplies the chunk.
        byte[] data = TestData.Bytes(200_000, 8);
        byte[] hash = SHA256.HashData(data);
        var ranges = new ConcurrentQueue<string?>();
        await using TestPeer dropper = await TestPeer.StartScriptedAsync(data, ranges, dropCount: int.MaxValue, dropAfterBytes: 1000);
        await using TestPeer good = await TestPeer.StartScriptedAsync(data, new ConcurrentQueue<string?>());
        ChunkClientOptions options = FastOptions();
        options.MaxResumesPerPeer = 2;
        using var client = new ChunkClient(null, options);

        ChunkFetchResult result = await client.FetchAsync(hash, [dropper.BaseAddress, good.BaseAddress]);

        Assert.Equal(data, result.Data);
        PeerFailure failure = Assert.Single(result.Failures);
        Assert.Equal(PeerFailureKind.Unavailable, failure.Kind);
        Assert.Contains("gave up after 2 resumes", failure.Message);
        Assert.Equal(3, ranges.Count);
    }

    [Fact]
    public async Task OversizedAbsentUnreachableAndStalledPeersFailClearlyAndStoreNothing()
    {
        // Proves a chunk larger than the client's limit is refused from the announced length, a 404 and
        // a closed port are reported as such, a stalled peer times out per request, cancellation is
        // honoured, and the local store gains nothing from any of them.
        ChunkStore remote = _stores.Open();
        byte[] data = TestData.Bytes(5000, 9);
        byte[] hash = remote.Put(data);
        await using TestPeer peer = await TestPeer.StartChunkServerAsync(remote, new ChunkServerMetrics());
        ChunkStore emptyRemote = _stores.Open();
        await using TestPeer empty = await TestPeer.StartChunkServerAsync(emptyRemote, new ChunkServerMetrics());
        await using TestPeer stalled = await TestPeer.StartScriptedAsync(data, new ConcurrentQueue<string?>(), stall: TimeSpan.FromMinutes(5));
        Uri closed = ClosedPort();
        ChunkStore local = _stores.Open();

        ChunkClientOptions small = FastOptions();
        small.MaxChunkBytes = 1000;
        using (var client = new ChunkClient(local, small))
        {
            var error = await Assert.ThrowsAsync<ChunkFetchException>(() => client.FetchAsync(hash, [peer.BaseAddress]));
            PeerFailure failure = Assert.Single(error.Failures);
            Assert.Equal(PeerFailureKind.TooLarge, failure.Kind);
            Assert.Contains("5000 bytes", failure.Message);
        }

        ChunkClientOptions impatient = FastOptions();
        impatient.RequestTimeout = TimeSpan.FromMilliseconds(300);
        impatient.MaxResumesPerPeer = 1;
        using (var client = new ChunkClient(local, impatient))
        {
            var error = await Assert.ThrowsAsync<ChunkFetchException>(() => client.FetchAsync(hash, [empty.BaseAddress, closed, stalled.BaseAddress]));
            Assert.Equal([PeerFailureKind.NotFound, PeerFailureKind.Unavailable, PeerFailureKind.Unavailable], error.Failures.Select(f => f.Kind));
            Assert.Contains("timed out", error.Failures[2].Message);

            using var cancelled = new CancellationTokenSource();
            cancelled.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.FetchAsync(hash, [peer.BaseAddress], cancelled.Token));
        }
        Assert.False(local.Contains(hash));
    }

    [Fact]
    public async Task AModelLeafIsFetchedByRangeAndVerifiedAgainstTheModelRoot()
    {
        // Proves a spot check reads one 1024-float leaf (and the shorter last leaf) by range, verifies it
        // with the inclusion proof, and rejects a peer whose leaf bytes fail the proof.
        float[] model = new float[2 * ModelCommitment.LeafFloats + 300];
        var random = new Random(10);
        for (int i = 0; i < model.Length; i++)
        {
            model[i] = (float)random.NextDouble() - 0.5f;
        }
        ReadOnlyMemory<float>[] tensors = [model];
        byte[] root = ModelCommitment.ComputeRoot(tensors);
        byte[] chunk = new byte[model.Length * sizeof(float)];
        ModelCommitment.WriteLittleEndian(model, chunk);
        ChunkStore remote = _stores.Open();
        byte[] hash = remote.Put(chunk);
        var metrics = new ChunkServerMetrics();
        await using TestPeer peer = await TestPeer.StartChunkServerAsync(remote, metrics);
        byte[] tampered = (byte[])chunk.Clone();
        tampered[ModelCommitment.LeafBytes + 5] ^= 0x10;
        await using TestPeer evil = await TestPeer.StartScriptedAsync(tampered, new ConcurrentQueue<string?>());
        using var client = new ChunkClient(null, FastOptions());

        for (int leafIndex = 0; leafIndex < 3; leafIndex++)
        {
            MerkleProof proof = ModelCommitment.ProveLeaf(tensors, leafIndex);
            float[] leaf = await client.FetchModelLeafAsync(hash, root, proof, [peer.BaseAddress]);
            Assert.Equal(ModelCommitment.ReadLeaf(tensors, leafIndex), leaf);
        }
        Assert.Equal(2 * ModelCommitment.LeafBytes + 300 * 4, metrics.BytesServed);

        MerkleProof proof1 = ModelCommitment.ProveLeaf(tensors, 1);
        var error = await Assert.ThrowsAsync<ChunkFetchException>(() => client.FetchModelLeafAsync(hash, root, proof1, [evil.BaseAddress]));
        Assert.Equal(PeerFailureKind.WrongBytes, Assert.Single(error.Failures).Kind);
        float[] fallback = await client.FetchModelLeafAsync(hash, root, proof1, [evil.BaseAddress, peer.BaseAddress]);
        Assert.Equal(ModelCommitment.ReadLeaf(tensors, 1), fallback);
        // Leaf 0 is untouched by the tampering, so the evil peer's copy of it verifies.
        Assert.Equal(ModelCommitment.ReadLeaf(tensors, 0), await client.FetchModelLeafAsync(hash, root, ModelCommitment.ProveLeaf(tensors, 0), [evil.BaseAddress]));

        ChunkRange range = await client.FetchRangeAsync(hash, chunk.Length - 10, 100, [peer.BaseAddress]);
        Assert.Equal(chunk[^10..], range.Data);
        Assert.Equal(chunk.Length, range.ChunkLength);
    }

    private static Uri ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return new Uri($"http://127.0.0.1:{port}/");
    }
}
