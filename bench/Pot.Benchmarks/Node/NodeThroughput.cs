using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Keys;
using Pot.Node;

namespace Pot.Benchmarks.Node;

/// <summary>
/// Load benchmark of a 4-validator network on loopback (not a BenchmarkDotNet benchmark: it measures a
/// running system, not a method). Four full nodes (NodeHost: Kestrel HTTP/2 between peers, RocksDB,
/// PBFT) run in this process; one load generator per validator account submits signed transfers over
/// JSON-RPC to "its" node, keeping at most <c>--window</c> of its transfers uncommitted (the mempool
/// holds 64 per sender). A role on node 0 timestamps every committed block. Reported: finalized
/// transactions per second over the measuring period, and the submit→committed latency (median, p99)
/// of the transfers submitted in it (submit = the RPC call started; committed = node 0 stored the
/// certified block). Run: <c>dotnet run -c Release --project bench/Pot.Benchmarks -- node-throughput
/// [--seconds 20] [--warmup 5] [--validators 4] [--window 48]</c>.
/// </summary>
public static class NodeThroughput
{
    /// <summary>Runs the benchmark and prints a table and a JSON line.</summary>
    /// <param name="args">Options.</param>
    /// <returns>Exit code.</returns>
    public static int Run(string[] args)
    {
        int seconds = 20, warmup = 5, validators = 4, window = 48;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            int v = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--seconds": seconds = v; break;
                case "--warmup": warmup = v; break;
                case "--validators": validators = v; break;
                case "--window": window = Math.Clamp(v, 1, 64); break;
                default: Console.Error.WriteLine($"unknown option {args[i]}; expected --seconds, --warmup, --validators, --window"); return 2;
            }
        }
        return MeasureAsync(seconds, warmup, validators, window).GetAwaiter().GetResult() is { Samples: > 0 } ? 0 : 1;
    }

    private sealed class CommitClock : INodeRole
    {
        public ConcurrentDictionary<string, long> Committed { get; } = new();
        public string Name => "bench-clock";
        public Task StartAsync(INodeApi node, CancellationToken cancellation) => Task.CompletedTask;
        public Task OnCommittedAsync(CommittedBlock block, CancellationToken cancellation)
        {
            long now = Stopwatch.GetTimestamp();
            foreach (var tx in block.Block.Transactions) Committed.TryAdd(Hex.Encode(tx.Hash), now);
            return Task.CompletedTask;
        }
    }

    /// <summary>Runs the benchmark, prints a table and a JSON line, and returns the figures.</summary>
    /// <param name="seconds">Measured period.</param>
    /// <param name="warmup">Load before the period starts.</param>
    /// <param name="validators">Validator nodes.</param>
    /// <param name="window">Uncommitted transfers per sender.</param>
    /// <returns>The result.</returns>
    public static async Task<NodeThroughputResult> MeasureAsync(int seconds, int warmup, int validators, int window)
    {
        string dir = Path.Combine(Path.GetTempPath(), "pot-bench-node-" + Guid.NewGuid().ToString("N")[..8]);
        var (nodes, _) = DevnetLayout.Create(dir, validators, new Dictionary<string, object> { ["ApiRequestsPerSecond"] = 100_000 });
        var env = new Dictionary<string, string>();
        var clock = new CommitClock();
        var apps = new List<WebApplication>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            for (int i = 0; i < validators; i++)
            {
                var app = NodeHost.Build(NodeConfig.Load(nodes[i].ConfigPath, [], env), env, i == 0 ? [clock] : null);
                await app.StartAsync();
                apps.Add(app);
            }
            var submitted = new ConcurrentDictionary<string, long>();
            using var stop = new CancellationTokenSource();
            long errors = 0;
            var generators = nodes.Select(n => Task.Run(async () =>
            {
                using var key = KeyFile.Open(File.ReadAllBytes(n.KeyPath), DevnetLayout.Passphrase);
                using var sink = Ed25519Keys.Generate();
                var to = AccountAddress.Parse(sink.Address);
                var mine = new Queue<string>();
                ulong nonce = 0;
                while (!stop.IsCancellationRequested)
                {
                    while (mine.Count > 0 && clock.Committed.ContainsKey(mine.Peek())) mine.Dequeue();
                    if (mine.Count >= window)
                    {
                        await Task.Delay(2);
                        continue;
                    }
                    var tx = Transaction.Create("pot-devnet", key, nonce, 2000, new TransferPayload(to, 1));
                    string id = Hex.Encode(tx.Hash);
                    long t0 = Stopwatch.GetTimestamp();
                    var body = new JsonObject { ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = "pot_sendTransaction", ["params"] = new JsonArray(Hex.Encode(tx.Encode())) };
                    try
                    {
                        using var r = await http.PostAsJsonAsync(n.ApiUrl + "/rpc", body, stop.Token);
                        var json = JsonNode.Parse(await r.Content.ReadAsStringAsync(stop.Token))!;
                        if (json["error"] is not null)
                        {
                            Interlocked.Increment(ref errors);
                            await Task.Delay(5);
                            continue;
                        }
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                    catch (HttpRequestException)
                    {
                        Interlocked.Increment(ref errors);
                        continue;
                    }
                    submitted[id] = t0;
                    mine.Enqueue(id);
                    nonce++;
                }
            })).ToArray();

            await Task.Delay(TimeSpan.FromSeconds(warmup));
            long from = Stopwatch.GetTimestamp();
            int committedAtStart = clock.Committed.Count;
            await Task.Delay(TimeSpan.FromSeconds(seconds));
            long until = Stopwatch.GetTimestamp();
            int committedAtEnd = clock.Committed.Count;
            await stop.CancelAsync();
            await Task.WhenAll(generators);
            await Task.Delay(TimeSpan.FromSeconds(3)); // let the last ones commit for the latency sample

            double elapsed = Stopwatch.GetElapsedTime(from, until).TotalSeconds;
            double tps = (committedAtEnd - committedAtStart) / elapsed;
            var latencies = submitted.Where(kv => kv.Value >= from && kv.Value <= until && clock.Committed.ContainsKey(kv.Key))
                .Select(kv => Stopwatch.GetElapsedTime(kv.Value, clock.Committed[kv.Key]).TotalMilliseconds).Order().ToArray();
            int inWindow = submitted.Count(kv => kv.Value >= from && kv.Value <= until);
            double Pct(double p) => latencies.Length == 0 ? double.NaN : latencies[Math.Min(latencies.Length - 1, (int)Math.Ceiling(p * latencies.Length) - 1)];
            var head = JsonNode.Parse(await http.GetStringAsync(nodes[0].ApiUrl + "/api/status"))!;
            Console.WriteLine($"validators {validators}, window {window}/sender, measured {elapsed:F1} s after {warmup} s warm-up, {Environment.ProcessorCount} logical CPUs");
            Console.WriteLine($"finalized tx/s      {tps,10:F1}");
            Console.WriteLine($"latency median ms   {Pct(0.5),10:F1}");
            Console.WriteLine($"latency p99 ms      {Pct(0.99),10:F1}");
            Console.WriteLine($"samples             {latencies.Length,10} of {inWindow} submitted in the period; {errors} refused submissions");
            Console.WriteLine($"chain height        {head["height"],10}; view {head["view"]}");
            var report = new JsonObject
            {
                ["validators"] = validators, ["seconds"] = Math.Round(elapsed, 2), ["tps"] = Math.Round(tps, 1),
                ["latencyMedianMs"] = Math.Round(Pct(0.5), 1), ["latencyP99Ms"] = Math.Round(Pct(0.99), 1),
                ["samples"] = latencies.Length, ["submittedInPeriod"] = inWindow, ["refused"] = errors, ["cpus"] = Environment.ProcessorCount,
            };
            Console.WriteLine(report.ToJsonString());
            return new NodeThroughputResult(validators, window, elapsed, tps, Pct(0.5), Pct(0.99), latencies.Length, inWindow, errors);
        }
        finally
        {
            foreach (var app in apps)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

/// <summary>Figures of one <see cref="NodeThroughput"/> run.</summary>
/// <param name="Validators">Validator nodes.</param>
/// <param name="Window">Uncommitted transfers per sender.</param>
/// <param name="Seconds">Measured period.</param>
/// <param name="Tps">Finalized transactions per second.</param>
/// <param name="LatencyMedianMs">Submit→committed latency, median (NaN without samples).</param>
/// <param name="LatencyP99Ms">Submit→committed latency, p99 (NaN without samples).</param>
/// <param name="Samples">Committed transfers submitted in the period.</param>
/// <param name="SubmittedInPeriod">Transfers submitted in the period.</param>
/// <param name="Refused">Refused submissions.</param>
public sealed record NodeThroughputResult(int Validators, int Window, double Seconds, double Tps, double LatencyMedianMs, double LatencyP99Ms, int Samples, int SubmittedInPeriod, long Refused);
