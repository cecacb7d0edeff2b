using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Pot.Commitments;
using Pot.Commitments.Keys;
using Pot.Consensus;

namespace Pot.Node.Tests;

public sealed class HostileInputTests
{
    private static async Task<string> Snapshot(TestNetwork net, int i, string watched)
    {
        var head = await net.GetAsync(i, "/api/head");
        var status = await net.GetAsync(i, "/api/status");
        var account = await net.GetAsync(i, "/api/account/" + watched);
        return $"{head["hash"]}|{status["mempool"]}|{status["view"]}|{account["balance"]}|{account["nonce"]}";
    }

    // Proves that malformed, oversized, wrongly signed and replayed traffic to the consensus, tx,
    // block-signature and RPC endpoints gets a clear error status, is counted in /metrics, and leaves
    // the node's head, mempool, view and accounts unchanged.
    [Fact]
    public async Task HostileRequestsGetClearErrorsAndChangeNothing()
    {
        await using var net = new TestNetwork(4);
        await net.StartAllAsync();
        using var alice = net.Key(0);
        using var carol = Ed25519Keys.Generate();
        var first = TestNetwork.Transfer(alice, 0, carol.Address, 5);
        await net.RpcAsync(0, "pot_sendTransaction", Hex.Encode(first.Encode()));
        Assert.True(await net.WaitForHeightAsync([0, 1, 2, 3], 1, TimeSpan.FromSeconds(30)));
        for (var deadline = DateTime.UtcNow.AddSeconds(10); DateTime.UtcNow < deadline; await Task.Delay(100))
            if ((string)(await net.GetAsync(1, "/api/tx/" + Hex.Encode(first.Hash)))["status"]! == "committed") break;

        const int target = 1;
        string before = await Snapshot(net, target, alice.Address);

        // Consensus endpoint.
        var garbage = await net.PostP2pAsync(target, "/p2p/consensus", [0xFF, 1, 2, 3]);
        Assert.Equal(HttpStatusCode.BadRequest, garbage.StatusCode);
        Assert.Contains("does not decode", await garbage.Content.ReadAsStringAsync());
        var oversize = await net.PostP2pAsync(target, "/p2p/consensus", new byte[9 << 20]);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, oversize.StatusCode);
        using var outsider = Ed25519Keys.Generate();
        // Claims to come from a validator other than the target itself (node ids follow address order, not the network's index).
        int claimed = Enumerable.Range(0, 4).First(id => net.IndexOfNodeId(id) != target);
        var forged = new Prepare { Sender = claimed, View = 0, Height = 5, Digest = new byte[32] }.SignWith(new Ed25519ConsensusSigner(claimed, outsider.ExportSeed()));
        var badSig = await net.PostP2pAsync(target, "/p2p/consensus", MessageCodec.Encode(forged));
        Assert.Equal(HttpStatusCode.Unauthorized, badSig.StatusCode);
        Assert.Contains("does not verify", await badSig.Content.ReadAsStringAsync());
        // A genuine message from validator 0 for the height it already committed, replayed: the
        // replica has it or no longer needs it, so it is refused and changes nothing.
        using var v0 = net.Key(0);
        int v0Id = (int)(await net.GetAsync(0, "/api/status"))["nodeId"]!;
        using var v0Signer = new Ed25519ConsensusSigner(v0Id, v0.ExportSeed());
        var stale = new Checkpoint { Sender = v0Id, Height = 0, StateDigest = new byte[32] }.SignWith(v0Signer);
        var replay1 = await net.PostP2pAsync(target, "/p2p/consensus", MessageCodec.Encode(stale));
        var replay2 = await net.PostP2pAsync(target, "/p2p/consensus", MessageCodec.Encode(stale));
        Assert.NotEqual(HttpStatusCode.Accepted, replay2.StatusCode);
        Assert.Contains("dropped by the replica", await replay2.Content.ReadAsStringAsync());
        _ = replay1;

        // Transaction endpoints (peer gossip and user API).
        var txGarbage = await net.PostP2pAsync(target, "/p2p/tx", Encoding.ASCII.GetBytes("not a transaction"));
        Assert.Equal(HttpStatusCode.BadRequest, txGarbage.StatusCode);
        byte[] tampered = TestNetwork.Transfer(alice, 1, carol.Address, 7).Encode();
        tampered[^1] ^= 0x01;
        var txBadSig = await net.PostP2pAsync(target, "/p2p/tx", tampered);
        Assert.Equal(HttpStatusCode.Unauthorized, txBadSig.StatusCode);
        var txReplay = await net.Http.PostAsync(net.Nodes[target].ApiUrl + "/api/tx", new StringContent(Hex.Encode(first.Encode())));
        Assert.Equal(HttpStatusCode.Conflict, txReplay.StatusCode);
        Assert.Contains("already committed", await txReplay.Content.ReadAsStringAsync());
        var txBig = await net.Http.PostAsync(net.Nodes[target].ApiUrl + "/api/tx", new ByteArrayContent(new byte[300 << 10]));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, txBig.StatusCode);

        // Block-signature endpoint.
        Assert.Equal(HttpStatusCode.BadRequest, (await net.PostP2pAsync(target, "/p2p/blocksig", new byte[10])).StatusCode);
        byte[] sigMsg = [.. new byte[32], .. v0.PublicKey, .. new byte[64]];
        Assert.Equal(HttpStatusCode.Unauthorized, (await net.PostP2pAsync(target, "/p2p/blocksig", sigMsg)).StatusCode);

        // JSON-RPC.
        async Task<JsonObject> Rpc(string body)
        {
            var r = await net.Http.PostAsync(net.Nodes[target].ApiUrl + "/rpc", new StringContent(body, Encoding.UTF8, "application/json"));
            return (JsonObject)JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
        }
        Assert.Equal(-32700, (int)(await Rpc("{not json"))["error"]!["code"]!);
        Assert.Equal(-32600, (int)(await Rpc("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"pot_head\"}"))["error"]!["code"]!);
        Assert.Equal(-32601, (int)(await Rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pot_mint\"}"))["error"]!["code"]!);
        Assert.Equal(-32602, (int)(await Rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pot_getBlockByHeight\",\"params\":[\"-1\"]}"))["error"]!["code"]!);
        var rpcReplay = await Rpc($"{{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"pot_sendTransaction\",\"params\":[\"{Hex.Encode(first.Encode())}\"]}}");
        Assert.Equal(-32010, (int)rpcReplay["error"]!["code"]!);
        Assert.Equal(7, (int)rpcReplay["id"]!);
        Assert.Equal(HttpStatusCode.NotFound, (await net.Http.GetAsync(net.Nodes[target].ApiUrl + "/api/block/999")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await net.Http.GetAsync(net.Nodes[target].ApiUrl + "/api/account/nonsense")).StatusCode);

        Assert.Equal(before, await Snapshot(net, target, alice.Address));
        string metrics = await net.Http.GetStringAsync(net.Nodes[target].ApiUrl + "/metrics");
        Assert.Contains("pot_requests_rejected_total{endpoint=\"/p2p/consensus\",reason=\"malformed\"} 1", metrics);
        Assert.Contains("pot_requests_rejected_total{endpoint=\"/p2p/consensus\",reason=\"badsignature\"} 1", metrics);
        Assert.Contains("pot_requests_rejected_total{endpoint=\"/p2p/consensus\",reason=\"oversize\"} 1", metrics);
        Assert.Contains("pot_requests_rejected_total{endpoint=\"/api/tx\",reason=\"duplicate\"} 1", metrics);
    }

    // Proves the peer endpoint speaks only HTTP/2 with prior knowledge, and the API answers HTTP/1.1 (curl, browsers).
    [Fact]
    public async Task PeerEndpointIsHttp2AndApiIsHttp11()
    {
        await using var net = new TestNetwork(1);
        await net.StartAllAsync();
        using var h1 = new HttpClient { DefaultRequestVersion = HttpVersion.Version11, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var api = await h1.GetAsync(net.Nodes[0].ApiUrl + "/api/head");
        Assert.Equal(HttpStatusCode.OK, api.StatusCode);
        Assert.Equal(HttpVersion.Version11, api.Version);
        // HTTP/1.1 on the peer port is refused: either the connection fails or Kestrel answers with an error.
        try
        {
            var wrong = await h1.PostAsync(net.Nodes[0].P2pUrl + "/p2p/tx", new ByteArrayContent([1]));
            Assert.False(wrong.IsSuccessStatusCode, $"HTTP/1.1 on the HTTP/2-only peer port got {wrong.StatusCode}");
        }
        catch (HttpRequestException)
        {
        }
    }

    // Proves the API rate limiter: a burst above ApiRequestsPerSecond gets 429 and is counted.
    [Fact]
    public async Task BurstAboveTheRateLimitGets429()
    {
        await using var net = new TestNetwork(1, new Dictionary<string, object> { ["ApiRequestsPerSecond"] = 5 });
        await net.StartAllAsync();
        int ok = 0, limited = 0;
        for (int i = 0; i < 20; i++)
        {
            var r = await net.Http.GetAsync(net.Nodes[0].ApiUrl + "/api/head");
            if (r.StatusCode == HttpStatusCode.OK) ok++;
            else if (r.StatusCode == HttpStatusCode.TooManyRequests) limited++;
        }
        Assert.InRange(ok, 1, 10);
        Assert.True(limited >= 10, $"only {limited} of 20 requests were rate limited");
        await Task.Delay(1100);
        string metrics = await net.Http.GetStringAsync(net.Nodes[0].ApiUrl + "/metrics");
        Assert.Contains("reason=\"rate_limited\"", metrics);
    }

    // Proves the endpoints the test above does not reach: block fetch (/p2p/block/{h}), block-signature
    // and transaction replays on the peer port, oversized and batched JSON-RPC, every /api GET route
    // with malformed parameters, wrongly signed /api/tx, and a write to /metrics. Each gets a clear
    // 4xx (or a JSON-RPC error), is counted in /metrics, and head, mempool and accounts stay as they were.
    [Fact]
    public async Task HostileRequestsToBlockFetchApiRoutesAndMetricsChangeNothing()
    {
        await using var net = new TestNetwork(1);
        await net.StartAllAsync();
        using var alice = net.Key(0);
        using var carol = Ed25519Keys.Generate();
        var first = TestNetwork.Transfer(alice, 0, carol.Address, 5);
        await net.RpcAsync(0, "pot_sendTransaction", Hex.Encode(first.Encode()));
        for (var deadline = DateTime.UtcNow.AddSeconds(30); DateTime.UtcNow < deadline; await Task.Delay(100))
            if ((string)(await net.GetAsync(0, "/api/tx/" + Hex.Encode(first.Hash)))["status"]! == "committed") break;
        string before = await Snapshot(net, 0, alice.Address);
        string api = net.Nodes[0].ApiUrl;
        async Task<HttpStatusCode> Get(string path) => (await net.Http.GetAsync(api + path)).StatusCode;

        // Block fetch on the peer port.
        using var h2 = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        foreach (string bad in new[] { "abc", "-1", "1.5", "99999999999999999999999" })
            Assert.Equal(HttpStatusCode.BadRequest, (await h2.GetAsync(net.Nodes[0].P2pUrl + "/p2p/block/" + bad)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await h2.GetAsync(net.Nodes[0].P2pUrl + "/p2p/block/999999")).StatusCode);
        var good = await h2.GetAsync(net.Nodes[0].P2pUrl + "/p2p/block/1");
        Assert.Equal(HttpStatusCode.OK, good.StatusCode);
        var (block1, cert1) = NodeCore.DecodeCertifiedBlock(await good.Content.ReadAsByteArrayAsync());

        // Replays on the peer port: a genuine signature of an already-certified block, a committed transaction.
        byte[] replayedSig = [.. block1.Hash, .. alice.PublicKey, .. cert1.Signatures[0].Signature];
        var sigReplay = await net.PostP2pAsync(0, "/p2p/blocksig", replayedSig);
        Assert.Equal(HttpStatusCode.Conflict, sigReplay.StatusCode);
        Assert.Contains("already certified", await sigReplay.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Conflict, (await net.PostP2pAsync(0, "/p2p/tx", first.Encode())).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await net.PostP2pAsync(0, "/p2p/tx", new byte[1 << 20])).StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await net.PostP2pAsync(0, "/p2p/tx", new byte[9 << 20])).StatusCode);

        // JSON-RPC: oversized body, batch, wrong parameter types.
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await net.Http.PostAsync(api + "/rpc", new StringContent(new string(' ', 300 << 10)))).StatusCode);
        async Task<int> RpcError(string body)
        {
            var r = await net.Http.PostAsync(api + "/rpc", new StringContent(body, Encoding.UTF8, "application/json"));
            return (int)JsonNode.Parse(await r.Content.ReadAsStringAsync())!["error"]!["code"]!;
        }
        Assert.Equal(-32600, await RpcError("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pot_head\"}]"));
        Assert.Equal(-32602, await RpcError("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pot_head\",\"params\":{\"a\":1}}"));
        Assert.Equal(-32602, await RpcError("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pot_sendTransaction\",\"params\":[\"zz\"]}"));
        Assert.Equal(-32700, await RpcError(new string('[', 100)));

        // Every GET route with malformed parameters.
        Assert.Equal(HttpStatusCode.BadRequest, await Get("/api/block/abc"));
        Assert.Equal(HttpStatusCode.BadRequest, await Get("/api/block/hash/zz"));
        Assert.Equal(HttpStatusCode.NotFound, await Get("/api/block/hash/" + new string('0', 64)));
        Assert.Equal(HttpStatusCode.BadRequest, await Get("/api/tx/nothex"));
        Assert.Equal(HttpStatusCode.BadRequest, await Get("/api/account/pot123"));
        Assert.Equal(HttpStatusCode.BadRequest, await Get("/api/task/abc"));
        Assert.Equal(HttpStatusCode.BadRequest, await Get("/api/task/abc/round"));
        Assert.Equal(HttpStatusCode.BadRequest, await Get("/api/task/1/model-root?height=abc"));
        Assert.Equal(HttpStatusCode.BadRequest, await Get("/api/submission/xyz"));

        // Wrongly signed transaction on the user API; writes to /metrics.
        byte[] tampered = TestNetwork.Transfer(alice, 1, carol.Address, 7).Encode();
        tampered[^1] ^= 0x01;
        Assert.Equal(HttpStatusCode.Unauthorized, (await net.Http.PostAsync(api + "/api/tx", new ByteArrayContent(tampered))).StatusCode);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await net.Http.PostAsync(api + "/metrics", new StringContent("x"))).StatusCode);

        Assert.Equal(before, await Snapshot(net, 0, alice.Address));
        Assert.Equal(HttpStatusCode.OK, await Get("/api/head")); // still serving
        string metrics = await net.Http.GetStringAsync(api + "/metrics");
        Assert.Contains("pot_requests_rejected_total{endpoint=\"/p2p/block\",reason=\"malformed\"} 4", metrics);
        Assert.Contains("pot_requests_rejected_total{endpoint=\"/p2p/blocksig\",reason=\"duplicate\"} 1", metrics);
        Assert.Contains("pot_requests_rejected_total{endpoint=\"/p2p/tx\",reason=\"duplicate\"} 1", metrics);
        Assert.Contains("pot_requests_rejected_total{endpoint=\"/p2p/tx\",reason=\"oversize\"} 1", metrics);
        Assert.Contains("pot_requests_rejected_total{endpoint=\"/rpc\",reason=\"oversize\"} 1", metrics);
        Assert.Contains("pot_requests_rejected_total{endpoint=\"/api/tx\",reason=\"badsignature\"} 1", metrics);
        Assert.Contains("pot_rpc_calls_total{method=\"pot_getBlockByHeight\",outcome=\"error\"} 1", metrics);
        Assert.Contains("pot_rpc_calls_total{method=\"pot_getTask\",outcome=\"error\"} 1", metrics);
        Assert.Contains("pot_requests_rejected_total{endpoint=\"/metrics\",reason=\"method\"} 1", metrics);
    }
}
