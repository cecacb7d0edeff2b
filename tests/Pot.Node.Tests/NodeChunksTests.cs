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
