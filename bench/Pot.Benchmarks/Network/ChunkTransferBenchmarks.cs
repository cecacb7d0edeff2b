using System.Globalization;
using System.Net;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pot.Network;
using Pot.Storage;

namespace Pot.Benchmarks.Network;

/// <summary>
/// Chunk transfer rate over loopback HTTP/2 cleartext: a Kestrel server (HTTP/2 only) serving a RocksDB
/// <see cref="ChunkStore"/> through <see cref="ChunkEndpoints"/>, and a <see cref="ChunkClient"/>
/// fetching one chunk in range requests and verifying its SHA-256 (no local store, so the synced
/// RocksDB write of a real fetch is not included). <see cref="StoreReadVerified"/> is the server's
/// per-request cost alone: reading the whole chunk from RocksDB and re-hashing it.
/// MB/s = chunk bytes / mean time (10⁶ bytes per second).
/// </summary>
[Config(typeof(TransferConfig))]
public class ChunkTransferBenchmarks
{
    private string _directory = "";
    private ChunkStore? _store;
    private WebApplication? _app;
    private ChunkClient? _client;
    private Uri[] _peers = [];
    private byte[] _hash = [];

    /// <summary>Chunk size: a 64 KiB update shard or a 16 MiB model chunk.</summary>
    [Params(64 * 1024, 16 * 1024 * 1024)]
    public int SizeBytes { get; set; }

    /// <summary>Client range size: the 4 MiB default, or the whole 16 MiB chunk in one request.</summary>
    [Params(4 * 1024 * 1024, 16 * 1024 * 1024)]
    public int RangeBytes { get; set; }

    /// <summary>Stores a random chunk and starts the server on a free loopback port.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "pot-bench-chunks-" + Guid.NewGuid().ToString("N"));
        _store = ChunkStore.Open(_directory);
        var data = new byte[SizeBytes];
        new Random(1).NextBytes(data);
        _hash = _store.Put(data);

        var options = new ChunkServerOptions { RateLimitTokens = 1_000_000, RateLimitTokensPerPeriod = 1_000_000 };
        var metrics = new ChunkServerMetrics();
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddChunkRateLimiting(options, metrics);
        _app = builder.Build();
        _app.UseRateLimiter();
        _app.MapChunkEndpoints(_store, options, metrics);
        _app.StartAsync().GetAwaiter().GetResult();
        string address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        _peers = [new Uri(address + "/")];
        _client = new ChunkClient(null, new ChunkClientOptions { RangeBytes = RangeBytes });
    }

    /// <summary>Stops the server and deletes the store.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _client?.Dispose();
        _app?.StopAsync().GetAwaiter().GetResult();
        (_app as IDisposable)?.Dispose();
        _store?.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>One verified chunk fetch over HTTP/2.</summary>
    /// <returns>The chunk.</returns>
    [Benchmark]
    public async Task<byte[]> FetchOverHttp2() => (await _client!.FetchAsync(_hash, _peers).ConfigureAwait(false)).Data;

    /// <summary>The server's per-request work: read the whole chunk from RocksDB and check its hash.</summary>
    /// <returns>The chunk.</returns>
    [Benchmark(Baseline = true)]
    public byte[] StoreReadVerified() => _store!.Get(_hash);

    /// <summary>Wall-clock timing (client and server run on different threads), in process, MB/s column.</summary>
    private sealed class TransferConfig : ManualConfig
    {
        public TransferConfig()
        {
            AddJob(Job.Default
                .WithToolchain(InProcessEmitToolchain.Instance)
                .WithLaunchCount(1)
                .WithWarmupCount(3)
                .WithIterationCount(10));
            AddColumn(new MegabytesPerSecondColumn());
            HideColumns(Column.Job, Column.Toolchain, Column.IterationCount, Column.LaunchCount, Column.WarmupCount, Column.RatioSD);
        }
    }

    /// <summary>Chunk bytes / mean time, in 10⁶ bytes per second.</summary>
    private sealed class MegabytesPerSecondColumn : IColumn
    {
        public string Id => "MBps";

        public string ColumnName => "MB/s";

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => "SizeBytes / mean time, in 10^6 bytes per second";

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public bool IsAvailable(Summary summary) => true;

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
        {
            double? meanNs = summary[benchmarkCase]?.ResultStatistics?.Mean;
            if (meanNs is null)
            {
                return "-";
            }
            int size = (int)benchmarkCase.Parameters["SizeBytes"];
            return (size / meanNs.Value * 1e3).ToString("F0", CultureInfo.InvariantCulture);
        }
    }
}
