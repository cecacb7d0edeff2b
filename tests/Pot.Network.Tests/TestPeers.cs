using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pot.Storage;
using RocksDbSharp;

namespace Pot.Network.Tests;

/// <summary>A Kestrel server on 127.0.0.1, a free port, HTTP/2 only (no HTTP/1.1 fallback).</summary>
public sealed class TestPeer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestPeer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public static async Task<TestPeer> StartAsync(Action<WebApplication> map, Action<IServiceCollection>? services = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        services?.Invoke(builder.Services);
        WebApplication app = builder.Build();
        try
        {
            map(app);
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new TestPeer(app, new Uri(address + "/"));
    }

    /// <summary>A real chunk server exactly as a node wires it.</summary>
    public static Task<TestPeer> StartChunkServerAsync(ChunkStore store, ChunkServerMetrics metrics, ChunkServerOptions? options = null)
    {
        options ??= new ChunkServerOptions();
        return StartAsync(
            app =>
            {
                app.UseRateLimiter();
                app.MapChunkEndpoints(store, options, metrics);
            },
            services => services.AddChunkRateLimiting(options, metrics));
    }

    /// <summary>
    /// A hostile or flaky peer: serves <paramref name="data"/> (possibly not what the hash promises) for
    /// any id with correct range framing, and for the first <paramref name="dropCount"/> requests sends
    /// only <paramref name="dropAfterBytes"/> body bytes and then resets the stream. Records each Range header.
    /// </summary>
    public static Task<TestPeer> StartScriptedAsync(byte[] data, ConcurrentQueue<string?> ranges, int dropCount = 0, int dropAfterBytes = 0, TimeSpan? stall = null)
    {
        int requests = 0;
        return StartAsync(app => app.MapGet("/chunks/{id}", async context =>
        {
            string? range = context.Request.Headers.Range.Count == 0 ? null : context.Request.Headers.Range[0];
            ranges.Enqueue(range);
            if (stall is { } delay)
            {
                await Task.Delay(delay, context.RequestAborted);
            }
            RangeParse outcome = ByteRange.Parse(range, data.Length, out long offset, out long count, out _);
            if (outcome == RangeParse.NotSatisfiable)
            {
                context.Response.StatusCode = 416;
                context.Response.Headers.ContentRange = $"bytes */{data.Length}";
                return;
            }
            if (outcome == RangeParse.Satisfiable)
            {
                context.Response.StatusCode = 206;
                context.Response.Headers.ContentRange = $"bytes {offset}-{offset + count - 1}/{data.Length}";
            }
            context.Response.ContentLength = count;
            if (Interlocked.Increment(ref requests) <= dropCount)
            {
                int sent = (int)Math.Min(dropAfterBytes, count);
                await context.Response.Body.WriteAsync(data.AsMemory((int)offset, sent));
                await context.Response.Body.FlushAsync();
                // Give the client time to read what was sent before the stream is reset.
                await Task.Delay(400);
                context.Abort();
                return;
            }
            await context.Response.Body.WriteAsync(data.AsMemory((int)offset, (int)count));
        }));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Temporary RocksDB chunk stores, deleted on dispose.</summary>
public sealed class TempStores : IDisposable
{
    private readonly List<(string Directory, ChunkStore? Store)> _stores = [];

    public ChunkStore Open(out string directory)
    {
        directory = Path.Combine(Path.GetTempPath(), "pot-network-" + Guid.NewGuid().ToString("N"));
        ChunkStore store = ChunkStore.Open(directory);
        _stores.Add((directory, store));
        return store;
    }

    public ChunkStore Open() => Open(out _);

    public ChunkStore Reopen(string directory)
    {
        ChunkStore store = ChunkStore.Open(directory);
        _stores.Add((directory, store));
        return store;
    }

    /// <summary>Overwrites a stored chunk's bytes behind the store's back (as disk damage would), with the store closed.</summary>
    public static void Damage(string directory, byte[] hash, byte[] replacement)
    {
        // Open every column family the store has (whatever the store's version), as RocksDB requires.
        var families = new ColumnFamilies();
        foreach (string name in RocksDb.ListColumnFamilies(new DbOptions(), directory))
        {
            if (name != "default")
            {
                families.Add(name, new ColumnFamilyOptions());
            }
        }
        using RocksDb db = RocksDb.Open(new DbOptions(), directory, families);
        db.Put(hash, replacement, db.GetColumnFamily("chunks"));
    }

    public void Dispose()
    {
        foreach ((string directory, ChunkStore? store) in _stores)
        {
            store?.Dispose();
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }
}

public static class TestData
{
    public static byte[] Bytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>An HTTP client that speaks only HTTP/2 cleartext, for raw protocol checks.</summary>
    public static HttpClient RawHttp2Client(Uri baseAddress) => new(new SocketsHttpHandler { UseProxy = false })
    {
        BaseAddress = baseAddress,
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };
}
