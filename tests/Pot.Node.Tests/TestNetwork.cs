using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Pot.Chain.Transactions;
using Pot.Commitments.Keys;
using Pot.Node;

namespace Pot.Node.Tests;

/// <summary>n validators in this process, each a full NodeHost (Kestrel on loopback, RocksDB in a temp directory).</summary>
public sealed class TestNetwork : IAsyncDisposable
{
    private static readonly IReadOnlyDictionary<string, string> NoEnvironment = new Dictionary<string, string>();
    private readonly WebApplication?[] _apps;

    public TestNetwork(int validators, IReadOnlyDictionary<string, object>? extra = null)
    {
        Directory = Path.Combine(Path.GetTempPath(), "pot-node-test-" + Guid.NewGuid().ToString("N")[..8]);
        var config = new Dictionary<string, object> { ["ViewTimeoutMs"] = 1500, ["SyncIntervalMs"] = 200 };
        foreach (var (k, v) in extra ?? new Dictionary<string, object>()) config[k] = v;
        (Nodes, _) = DevnetLayout.Create(Directory, validators, config);
        _apps = new WebApplication?[validators];
        Http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
    }

    public string Directory { get; }
    public IReadOnlyList<DevnetNode> Nodes { get; }
    public HttpClient Http { get; }

    public async Task StartAsync(int index)
    {
        var config = NodeConfig.Load(Nodes[index].ConfigPath, [], NoEnvironment);
        var app = NodeHost.Build(config, NoEnvironment);
        await app.StartAsync();
        _apps[index] = app;
    }

    public async Task StartAllAsync()
    {
        for (int i = 0; i < Nodes.Count; i++) await StartAsync(i);
    }

    public async Task StopAsync(int index)
    {
        if (_apps[index] is { } app)
        {
            await app.StopAsync();
            await app.DisposeAsync();
            _apps[index] = null;
        }
    }

    /// <summary>Index in <see cref="Nodes"/> of the validator with consensus id <paramref name="nodeId"/> (ids follow the ascending address order).</summary>
    public int IndexOfNodeId(int nodeId) => Nodes.OrderBy(n => n.Address, StringComparer.Ordinal).ElementAt(nodeId).Index;

    /// <summary>Sets one key in one node's config file (before it starts).</summary>
    public void SetConfig(int index, string key, string value)
    {
        var cfg = (JsonObject)JsonNode.Parse(File.ReadAllText(Nodes[index].ConfigPath))!;
        cfg[key] = value;
        File.WriteAllText(Nodes[index].ConfigPath, cfg.ToJsonString());
    }

    public Ed25519Keys Key(int index) => KeyFile.Open(File.ReadAllBytes(Nodes[index].KeyPath), DevnetLayout.Passphrase);

    public async Task<JsonObject> GetAsync(int index, string path) =>
        (JsonObject)JsonNode.Parse(await Http.GetStringAsync(Nodes[index].ApiUrl + path))!;

    public async Task<JsonNode?> RpcAsync(int index, string method, params object[] args)
    {
        var body = new JsonObject { ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = method, ["params"] = new JsonArray(args.Select(a => JsonValue.Create(a.ToString())).ToArray<JsonNode?>()) };
        using var response = await Http.PostAsJsonAsync(Nodes[index].ApiUrl + "/rpc", body);
        var json = (JsonObject)JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        if (json["error"] is JsonNode e) throw new InvalidOperationException($"{method}: {e.ToJsonString()}");
        return json["result"];
    }

    public static Transaction Transfer(Ed25519Keys from, ulong nonce, string to, ulong amount) =>
        Transaction.Create("pot-devnet", from, nonce, 2000, new TransferPayload(AccountAddress.Parse(to), amount));

    public async Task<HttpResponseMessage> PostP2pAsync(int index, string path, byte[] body)
    {
        using var client = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        return await client.PostAsync(Nodes[index].P2pUrl + path, new ByteArrayContent(body));
    }

    /// <summary>Polls until every listed node's head reaches <paramref name="height"/> (or the timeout passes).</summary>
    public async Task<bool> WaitForHeightAsync(IEnumerable<int> nodes, ulong height, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            bool all = true;
            foreach (int i in nodes)
            {
                try
                {
                    if ((ulong)(await GetAsync(i, "/api/head"))["height"]! < height) all = false;
                }
                catch (HttpRequestException)
                {
                    all = false;
                }
            }
            if (all) return true;
            await Task.Delay(100);
        }
        return false;
    }

    public async ValueTask DisposeAsync()
    {
        for (int i = 0; i < _apps.Length; i++) await StopAsync(i);
        Http.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
