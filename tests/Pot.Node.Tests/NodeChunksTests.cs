using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pot.Commitments;
using Pot.Node.Training;
using Pot.Storage;

namespace Pot.Node.Tests;

public sealed class NodeChunksTests
{
    // Proves: a fetch by commitment does not hang on the peer that announced the content first. Peer A answers the name
    // lookup at once but never serves the bytes (a stalled or dying node); peer B announces the same content later and
    // serves it. The fetch gives A half its budget, then downloads from B. (Before: the content counted as tried after A,
    // B's announcement was skipped and the fetch returned null after the whole timeout.)
    [Fact]
    public async Task FetchMovesOnToTheNextAnnouncerWhenTheFirstStalls()
    {
        byte[] data = RandomNumberGenerator.GetBytes(4096);
        byte[] contentHash = SHA256.HashData(data);
        string content = Hex.Encode(contentHash);
        byte[] commitment = SHA256.HashData("a protocol commitment"u8);
        string name = Hex.Encode(commitment);
        await using var stalled = await StartAsync(app =>
        {
            app.MapGet("/p2p/name/{c}", (string c) => c == name ? Results.Bytes(contentHash) : Results.NotFound());
            app.MapGet("/chunks/{id}", async (HttpContext ctx) => await Task.Delay(Timeout.Infinite, ctx.RequestAborted));
        });
        await using var good = await StartAsync(app =>
        {
            app.MapGet("/p2p/name/{c}", async (string c) =>
            {
                await Task.Delay(300);
                return c == name ? Results.Bytes(contentHash) : Results.NotFound();
            });
            app.MapGet("/chunks/{id}", (string id) => id == content ? Results.Bytes(data) : Results.NotFound());
        });
        string dir = Path.Combine(Path.GetTempPath(), "pot-nodechunks-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var store = ChunkStore.Open(dir);
            var log = new List<string>();
            using var service = new NetworkChunkService(store, [stalled.Address, good.Address], TimeSpan.FromSeconds(6), line => { lock (log) log.Add(line); });
            var clock = Stopwatch.StartNew();
            byte[]? fetched = await service.FetchNamedAsync(commitment, CancellationToken.None);
            Assert.NotNull(fetched);
            Assert.Equal(data, fetched);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5.5), $"took {clock.Elapsed}");
            Assert.Contains(log, l => l.Contains($"from {stalled.Address.Authority} failed", StringComparison.Ordinal));
            Assert.Equal(1, service.NetworkFetches);
            // Stored under its commitment: the next fetch is local.
            Assert.Equal(data, service.TryGet(commitment));
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    // Proves: when no peer serves the announced content, the fetch ends with null within its budget and logs what each peer answered.
    [Fact]
    public async Task FetchGivesUpWithinItsBudgetWhenNobodyServes()
    {
        byte[] commitment = SHA256.HashData("another commitment"u8);
        string name = Hex.Encode(commitment);
        await using var stalled = await StartAsync(app =>
        {
            app.MapGet("/p2p/name/{c}", (string c) => c == name ? Results.Bytes(new byte[32]) : Results.NotFound());
            app.MapGet("/chunks/{id}", async (HttpContext ctx) => await Task.Delay(Timeout.Infinite, ctx.RequestAborted));
        });
        string dir = Path.Combine(Path.GetTempPath(), "pot-nodechunks-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var store = ChunkStore.Open(dir);
            var log = new List<string>();
            using var service = new NetworkChunkService(store, [stalled.Address], TimeSpan.FromSeconds(2), line => { lock (log) log.Add(line); });
            var clock = Stopwatch.StartNew();
            Assert.Null(await service.FetchNamedAsync(commitment, CancellationToken.None));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"took {clock.Elapsed}");
            Assert.Contains(log, l => l.Contains("name lookups: " + stalled.Address.Authority + " ok", StringComparison.Ordinal));
            Assert.Equal(0, service.NetworkFetches);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    // Proves: the chain rules' source (LocalThenPrefetch) never waits on the network. The rules run under the node's lock; a
    // blocking fetch there held every request handler behind the lock and starved the thread pool the fetch needed, so a
    // validator froze for minutes (the devnet test's stall). A miss returns null at once, even while the only peer's name
    // lookup hangs, and queues the commitment; the background prefetch then stores the chunk, and the next read is local.
    // Malformed names queue nothing, and a commitment whose prefetch failed is not queued again within the retry delay.
    // /metrics exports the queue length and the prefetched count (pot_chunk_prefetch_queued, pot_chunk_prefetched_total).
    [Fact]
    public async Task RuleSourceAnswersAtOnceAndPrefetchesMissesInTheBackground()
    {
        byte[] data = RandomNumberGenerator.GetBytes(2048);
        byte[] contentHash = SHA256.HashData(data);
        string content = Hex.Encode(contentHash);
        byte[] commitment = SHA256.HashData("a disputed trace state"u8);
        byte[] missing = SHA256.HashData("nobody has this"u8);
        string name = Hex.Encode(commitment);
        var release = new TaskCompletionSource();
        await using var peer = await StartAsync(app =>
        {
            app.MapGet("/p2p/name/{c}", async (string c) =>
            {
                await release.Task; // the lookup hangs until released
                return c == name ? Results.Bytes(contentHash) : Results.NotFound();
            });
            app.MapGet("/chunks/{id}", (string id) => id == content ? Results.Bytes(data) : Results.NotFound());
        });
        string dir = Path.Combine(Path.GetTempPath(), "pot-nodechunks-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var store = ChunkStore.Open(dir);
            using var service = new NetworkChunkService(store, [peer.Address], TimeSpan.FromSeconds(4));
            var rules = service.LocalThenPrefetch;
            var metrics = new NodeMetrics();
            metrics.ObserveChunkPrefetch(() => service.Wanted, () => service.Prefetched);
            async Task<string> Scrape()
            {
                using var text = new MemoryStream();
                await metrics.Registry.CollectAndExportAsTextAsync(text);
                return System.Text.Encoding.UTF8.GetString(text.ToArray());
            }
            var clock = Stopwatch.StartNew();
            Assert.Null(rules.TryGet(commitment));
            Assert.Null(rules.TryGet(commitment)); // asked twice, queued once
            Assert.Null(rules.TryGet(new byte[31]));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"a miss took {clock.Elapsed}");
            Assert.Equal(1, service.Wanted);
            string before = await Scrape();
            Assert.Contains("\npot_chunk_prefetch_queued 1\n", before, StringComparison.Ordinal);
            Assert.Contains("\npot_chunk_prefetched_total 0\n", before, StringComparison.Ordinal);

            service.StartPrefetch();
            release.SetResult();
            var until = DateTime.UtcNow.AddSeconds(10);
            while (service.Prefetched == 0 && DateTime.UtcNow < until) await Task.Delay(50);
            Assert.Equal(1, service.Prefetched);
            Assert.Equal(data, rules.TryGet(commitment));
            Assert.Equal(0, service.Wanted);
            string after = await Scrape();
            Assert.Contains("\npot_chunk_prefetch_queued 0\n", after, StringComparison.Ordinal);
            Assert.Contains("\npot_chunk_prefetched_total 1\n", after, StringComparison.Ordinal);

            // No peer has it: the prefetch fails (the peer answers 404), and a miss right after queues nothing.
            Assert.Null(rules.TryGet(missing));
            until = DateTime.UtcNow.AddSeconds(10);
            while (service.Wanted > 0 && DateTime.UtcNow < until) await Task.Delay(50);
            Assert.Equal(0, service.Wanted);
            Assert.Null(rules.TryGet(missing));
            Assert.Equal(0, service.Wanted);
            Assert.Equal(1, service.Prefetched);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    private static async Task<Peer> StartAsync(Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new Peer(app, new Uri(address + "/"));
    }

    private sealed record Peer(WebApplication App, Uri Address) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => App.DisposeAsync();
    }
}
