using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Pot.Commitments;
using Pot.Commitments.Keys;

namespace Pot.Node.Tests;

/// <summary>
/// n validators, each a real `pot node --config` OS process (dotnet pot.dll), laid out on disk by
/// <see cref="DevnetLayout"/>. Children can be SIGKILLed and restarted from their data directories.
/// Optionally each node listens on its own host address and runs under a launcher prefix (used by the
/// network-namespace test: `ip netns exec NS`).
/// </summary>
public sealed class ProcessNetwork : IAsyncDisposable
{
    private readonly Process?[] _processes;
    private readonly StringBuilder[] _logs;
    private readonly Func<int, string[]>? _launcher;

    /// <param name="validators">Validator count.</param>
    /// <param name="extra">Extra config keys for every node.</param>
    /// <param name="host">Per-node listen address (fixed ports 7100/7200 then); null: loopback with free ports.</param>
    /// <param name="launcher">Per-node command prefix (e.g. ip netns exec NS); null: plain dotnet.</param>
    public ProcessNetwork(int validators, IReadOnlyDictionary<string, object>? extra = null, Func<int, string>? host = null, Func<int, string[]>? launcher = null)
    {
        Directory = Path.Combine(Path.GetTempPath(), "pot-proc-test-" + Guid.NewGuid().ToString("N")[..8]);
        var config = new Dictionary<string, object> { ["ViewTimeoutMs"] = 1500, ["SyncIntervalMs"] = 200 };
        foreach (var (k, v) in extra ?? new Dictionary<string, object>()) config[k] = v;
        (Nodes, _) = DevnetLayout.Create(Directory, validators, config);
        ApiUrls = Nodes.Select(n => n.ApiUrl).ToArray();
        if (host is not null)
        {
            ApiUrls = Nodes.Select(n => $"http://{host(n.Index)}:7200").ToArray();
            foreach (var n in Nodes)
            {
                var cfg = (JsonObject)JsonNode.Parse(File.ReadAllText(n.ConfigPath))!;
                cfg["P2pListen"] = $"{host(n.Index)}:7100";
                cfg["ApiListen"] = $"{host(n.Index)}:7200";
                var peers = new JsonObject();
                foreach (var p in Nodes) if (p.Index != n.Index) peers[p.Address] = $"http://{host(p.Index)}:7100";
                cfg["Peers"] = peers;
                File.WriteAllText(n.ConfigPath, cfg.ToJsonString());
            }
        }
        _launcher = launcher;
        _processes = new Process?[validators];
        _logs = Enumerable.Range(0, validators).Select(_ => new StringBuilder()).ToArray();
        Http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
    }

    public string Directory { get; }
    public IReadOnlyList<DevnetNode> Nodes { get; }
    public IReadOnlyList<string> ApiUrls { get; }
    public HttpClient Http { get; }

    /// <summary>Starts node <paramref name="index"/> as a child process and waits until its API answers.</summary>
    public async Task StartAsync(int index, TimeSpan? timeout = null)
    {
        var prefix = _launcher?.Invoke(index) ?? [];
        var psi = new ProcessStartInfo(prefix.Length > 0 ? prefix[0] : "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in prefix.Skip(1)) psi.ArgumentList.Add(a);
        if (prefix.Length > 0) psi.ArgumentList.Add("dotnet");
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pot.dll"));
        psi.ArgumentList.Add("node");
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(Nodes[index].ConfigPath);
        var log = _logs[index];
        var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _processes[index] = p;
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(120));
        while (DateTime.UtcNow < deadline)
        {
            if (p.HasExited) throw new InvalidOperationException($"node {index} exited with {p.ExitCode}: {Log(index)}");
            if (await TryHeightAsync(index) is not null) return;
            await Task.Delay(200);
        }
        throw new TimeoutException($"node {index} did not answer on {ApiUrls[index]}: {Log(index)}");
    }

    /// <summary>Starts every node at once (their start-up JIT work overlaps) and waits for all.</summary>
    public Task StartAllAsync() => Task.WhenAll(Enumerable.Range(0, Nodes.Count).Select(i => StartAsync(i)));

    /// <summary>SIGKILL (no shutdown hooks run, RocksDB is not closed cleanly).</summary>
    public void Kill(int index)
    {
        if (_processes[index] is not { } p) return;
        if (!p.HasExited)
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit(10_000);
        }
        p.Dispose();
        _processes[index] = null;
    }

    public string Log(int index)
    {
        lock (_logs[index]) return _logs[index].ToString();
    }

    public Ed25519Keys Key(int index) => KeyFile.Open(File.ReadAllBytes(Nodes[index].KeyPath), DevnetLayout.Passphrase);

    public async Task<JsonObject> GetAsync(int index, string path) =>
        (JsonObject)JsonNode.Parse(await Http.GetStringAsync(ApiUrls[index] + path))!;

    public async Task<ulong?> TryHeightAsync(int index)
    {
        try
        {
            return (ulong)(await GetAsync(index, "/api/head"))["height"]!;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    public async Task<JsonNode?> RpcAsync(int index, string method, params object[] args)
    {
        var body = new JsonObject { ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = method, ["params"] = new JsonArray(args.Select(a => JsonValue.Create(a.ToString())).ToArray<JsonNode?>()) };
        using var response = await Http.PostAsJsonAsync(ApiUrls[index] + "/rpc", body);
        var json = (JsonObject)JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        if (json["error"] is JsonNode e) throw new InvalidOperationException($"{method}: {e.ToJsonString()}");
        return json["result"];
    }

    /// <summary>Index in <see cref="Nodes"/> of consensus id <paramref name="nodeId"/> (ascending address order).</summary>
    public int IndexOfNodeId(int nodeId) => Nodes.OrderBy(n => n.Address, StringComparer.Ordinal).ElementAt(nodeId).Index;

    /// <summary>Polls until every listed node's head reaches <paramref name="height"/>.</summary>
    public async Task<bool> WaitForHeightAsync(IEnumerable<int> nodes, ulong height, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var list = nodes.ToArray();
        while (DateTime.UtcNow < deadline)
        {
            bool all = true;
            foreach (int i in list) if ((await TryHeightAsync(i) ?? 0) < height) all = false;
            if (all) return true;
            await Task.Delay(150);
        }
        return false;
    }

    /// <summary>Waits until the listed nodes report the same head (height and hash) and returns it.</summary>
    public async Task<(ulong Height, string Hash)?> WaitForAgreementAsync(IEnumerable<int> nodes, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var list = nodes.ToArray();
        while (DateTime.UtcNow < deadline)
        {
            var heads = new HashSet<(ulong, string)>();
            try
            {
                foreach (int i in list)
                {
                    var head = await GetAsync(i, "/api/head");
                    heads.Add(((ulong)head["height"]!, (string)head["hash"]!));
                }
                if (heads.Count == 1) return heads.Single();
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }
            await Task.Delay(200);
        }
        return null;
    }

    /// <summary>Status lines of every node, for failure messages.</summary>
    public async Task<string> DescribeAsync()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < Nodes.Count; i++)
        {
            try
            {
                sb.Append($"[{i}] ").Append((await GetAsync(i, "/api/status")).ToJsonString());
                string metrics = await Http.GetStringAsync(ApiUrls[i] + "/metrics");
                foreach (var line in metrics.Split('\n').Where(l => l.StartsWith("pot_consensus_skipped", StringComparison.Ordinal) || l.StartsWith("pot_consensus_requeued", StringComparison.Ordinal) || l.StartsWith("pot_blocks_fetched", StringComparison.Ordinal)))
                    sb.Append(' ').Append(line);
                sb.AppendLine();
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                sb.AppendLine($"[{i}] unreachable ({(_processes[i] is null ? "stopped" : "running")})");
            }
        }
        return sb.ToString();
    }

    /// <summary>Submits signed transfers from one validator account to <paramref name="target"/> in the background until cancelled.</summary>
    public Task RunLoadAsync(Ed25519Keys from, string to, Func<int> target, int intervalMs, Action<ulong> submitted, CancellationToken stop) => Task.Run(async () =>
    {
        ulong nonce = 0;
        while (!stop.IsCancellationRequested)
        {
            var tx = TestNetwork.Transfer(from, nonce, to, 1);
            try
            {
                await RpcAsync(target(), "pot_sendTransaction", Hex.Encode(tx.Encode()));
                submitted(++nonce);
            }
            catch (InvalidOperationException ex) when (ex.Message.Contains($"transaction {Hex.Encode(tx.Hash)} is already", StringComparison.Ordinal))
            {
                submitted(++nonce); // an earlier attempt got through (its answer was lost)
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stop.IsCancellationRequested)
            {
                LoadErrors++;
                LastLoadError = ex.GetType().Name + ": " + ex.Message;
            }
            try
            {
                await Task.Delay(intervalMs, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    });

    /// <summary>Submissions of <see cref="RunLoadAsync"/> that failed, and the last failure.</summary>
    public int LoadErrors { get; private set; }
    public string? LastLoadError { get; private set; }

    public async ValueTask DisposeAsync()
    {
        for (int i = 0; i < _processes.Length; i++) Kill(i);
        Http.Dispose();
        await Task.Yield();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
