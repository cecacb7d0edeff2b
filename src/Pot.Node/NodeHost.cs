using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Pot.Chain.Genesis;
using Pot.Commitments;
using Pot.Commitments.Keys;
using Pot.Storage;
using Prometheus;

namespace Pot.Node;

/// <summary>
/// Composes a node in one process (Microsoft.Extensions.Hosting): <see cref="NodeCore"/> as a hosted
/// service, Kestrel with two endpoints — the peer endpoint (HTTP/2 cleartext, prior knowledge) and
/// the user API endpoint (HTTP/1.1) — the rate limiter, and the routes.
/// </summary>
public static class NodeHost
{
    /// <summary>Builds the node's web application (not started).</summary>
    /// <param name="config">Configuration.</param>
    /// <param name="environment">Environment variables (for the passphrase).</param>
    /// <param name="roles">Roles to host (the seam; empty until the protocol roles are wired).</param>
    /// <param name="logLevel">Minimum log level for the framework's logs.</param>
    /// <param name="roundHistory">Round history to serve (tests that host their own roles); null: the validator role's own, when the node runs a task.</param>
    /// <returns>The application.</returns>
    public static WebApplication Build(NodeConfig config, IReadOnlyDictionary<string, string> environment, IReadOnlyList<INodeRole>? roles = null, LogLevel logLevel = LogLevel.Warning,
        Training.RoundHistory? roundHistory = null)
    {
        GenesisDocument genesis = GenesisDocument.Parse(ReadFile(config.Genesis, "genesis", GenesisDocument.MaxFileBytes));
        Ed25519Keys key;
        try
        {
            key = KeyFile.Open(ReadFile(config.KeyFile, "key file", KeyFile.MaxFileBytes), config.ReadPassphrase(environment));
        }
        catch (PotFormatException ex)
        {
            throw new NodeConfigException($"key file '{config.KeyFile}': {ex.Message}");
        }
        // Consensus node ids are positions in the ascending validator address order (the chain's set).
        var order = genesis.Validators.Select(v => Hex.Encode(AccountAddress.BytesFromPublicKey(v.PublicKey))).Order(StringComparer.Ordinal).ToList();
        var peers = new Dictionary<int, Uri>();
        foreach (var (address, url) in config.Peers)
        {
            string hex = address.StartsWith(AccountAddress.Prefix, StringComparison.Ordinal) ? address[AccountAddress.Prefix.Length..] : address;
            int id = order.IndexOf(hex);
            if (id < 0) throw new NodeConfigException($"Peers:{address} is not a genesis validator address");
            peers[id] = new Uri(url + "/");
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], EnvironmentName = "Production" });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(logLevel);
        var p2p = ParseEndpoint(config.P2pListen, "P2pListen");
        var api = ParseEndpoint(config.ApiListen, "ApiListen");
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = Math.Max(config.MaxPeerRequestBytes, config.MaxApiRequestBytes);
            k.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
            k.Limits.Http2.MaxStreamsPerConnection = 256;
            k.Listen(p2p, o => o.Protocols = HttpProtocols.Http2);
            k.Listen(api, o => o.Protocols = HttpProtocols.Http1);
        });
        var metrics = new NodeMetrics();
        var transport = new HttpPeerTransport(peers);
        // The protocol task (config Task) decides the chain's rules and the roles; without one the node is a plain chain.
        var task = Training.NodeTasks.FromConfig(config);
        Directory.CreateDirectory(config.DataDir);
        var chunks = ChunkStore.Open(Path.Combine(config.DataDir, "chunks"));
        var events = new BlockEvents(); // first role: the dashboard's event stream never waits behind a protocol role
        var chunkService = new Training.NetworkChunkService(chunks, config.Peers.Values.Concat(config.ChunkPeers).Distinct(StringComparer.Ordinal).Select(u => new Uri(u + "/")),
            log: line => Console.Out.WriteLine(DateTime.Now.ToString("HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture) + " " + line));
        metrics.ObserveChunkPrefetch(() => chunkService.Wanted, () => chunkService.Prefetched);
        Pot.Protocol.PotProtocolRules? rules = task is null ? null
            : new Pot.Protocol.PotProtocolRules(new Dictionary<ulong, Pot.Protocol.ProtocolTask> { [config.TaskId] = task }, chunkService.LocalThenPrefetch);
        bool validator = order.Contains(Hex.Encode(AccountAddress.BytesFromPublicKey(key.PublicKey)));
        Training.RoundHistory? history = roundHistory ?? (task is null || !validator ? null : new Training.RoundHistory(config.TaskId));
        var hosted = new List<INodeRole> { events };
        hosted.AddRange(roles ?? []);
        if (task is not null && roles is null)
        {
            void Log(string line) => Console.Out.WriteLine(line);
            if (validator)
            {
                hosted.Add(new Training.ValidatorRole(task, config.TaskId, key, chunkService, history!, config.EvaluationBatches, rules!, metrics, Log));
            }
            else
            {
                var strategy = ParseStrategy(config.MinerStrategy);
                hosted.Add(new Training.MinerNodeRole(task, config.TaskId, key, strategy, chunkService, metrics, Log));
            }
        }
        var core = new NodeCore(config, genesis, key, transport, chunkService, hosted, metrics, rules);
        builder.Services.AddSingleton(core);
        builder.Services.AddHostedService(_ => new NodeLifetime(core, transport, chunks, chunkService, hosted));
        var chunkOptions = new Pot.Network.ChunkServerOptions
        {
            RateLimitTokens = Math.Max(1, config.PeerRequestsPerSecond),
            RateLimitTokensPerPeriod = Math.Max(1, config.PeerRequestsPerSecond),
        };
        var chunkMetrics = new Pot.Network.ChunkServerMetrics();
        Pot.Network.ChunkEndpoints.AddChunkRateLimiting(builder.Services, chunkOptions, chunkMetrics);
        builder.Services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = (ctx, _) =>
            {
                metrics.Rejected.WithLabels(ctx.HttpContext.Request.Path.Value ?? "", "rate_limited").Inc();
                return ValueTask.CompletedTask;
            };
            o.AddPolicy("p2p", ctx => Bucket(ctx, "p2p", config.PeerRequestsPerSecond));
            o.AddPolicy("api", ctx => Bucket(ctx, "api", config.ApiRequestsPerSecond));
        });

        var app = builder.Build();
        app.UseRateLimiter();
        var rpc = new RpcMethods(core, history);
        MapPeerRoutes(app, core, metrics, config, p2p.Port);
        // Chunk transfer (Pot.Network): GET|HEAD /chunks/{sha256} and POST /chunks/have on the peer endpoint, and
        // GET /p2p/name/{commitment} → the 32-byte content hash a protocol commitment is bound to here.
        Pot.Network.ChunkEndpoints.MapChunkEndpoints(app, chunks, chunkOptions, chunkMetrics).RequireHost($"*:{p2p.Port}");
        app.MapGet("/p2p/name/{commitment}", async (HttpContext ctx, string commitment) =>
        {
            byte[] name;
            try
            {
                name = Hex.Decode(commitment, "commitment", 32);
            }
            catch (PotFormatException ex)
            {
                metrics.Rejected.WithLabels("/p2p/name", "malformed").Inc();
                await Problem(ctx, StatusCodes.Status400BadRequest, ex.Message).ConfigureAwait(false);
                return;
            }
            if (chunkService.ResolveName(name) is not byte[] hash)
            {
                await Problem(ctx, StatusCodes.Status404NotFound, $"no blob named {commitment} here").ConfigureAwait(false);
                return;
            }
            ctx.Response.ContentType = "application/octet-stream";
            await ctx.Response.Body.WriteAsync(hash, ctx.RequestAborted).ConfigureAwait(false);
        }).RequireHost($"*:{p2p.Port}").RequireRateLimiting("p2p");
        MapApiRoutes(app, core, rpc, metrics, config, api.Port);
        ModelRoutes.Map(app, core, chunks, api.Port);
        DashboardEndpoints.Map(app, core, events, config, api.Port, history);
        return app;
    }

    private static Pot.Protocol.MinerStrategy ParseStrategy(string name)
    {
        if (name == "honest") return Pot.Protocol.MinerStrategy.Honest;
        try
        {
            return Pot.Protocol.ProtocolSimulation.ParseCheaters(name) is [var one] ? one
                : throw new NodeConfigException($"configuration key 'MinerStrategy' = '{name}': expected honest or one cheating strategy");
        }
        catch (ArgumentException ex)
        {
            throw new NodeConfigException($"configuration key 'MinerStrategy' = '{name}': {ex.Message}");
        }
    }

    private static RateLimitPartition<string> Bucket(HttpContext ctx, string policy, int perSecond) =>
        RateLimitPartition.GetTokenBucketLimiter(policy + "/" + (ctx.Connection.RemoteIpAddress?.ToString() ?? "?"), _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = perSecond,
            TokensPerPeriod = perSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        });

    private static byte[] ReadFile(string path, string what, int maxBytes)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new NodeConfigException($"{what} '{path}' does not exist");
        if (info.Length > maxBytes) throw new NodeConfigException($"{what} '{path}' is {info.Length} bytes; at most {maxBytes}");
        return File.ReadAllBytes(path);
    }

    private static IPEndPoint ParseEndpoint(string value, string key)
    {
        int colon = value.LastIndexOf(':');
        string host = value[..colon].Trim('[', ']');
        int port = int.Parse(value[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        if (host == "localhost") host = "127.0.0.1";
        if (!IPAddress.TryParse(host, out var ip)) throw new NodeConfigException($"{key} '{value}': host must be an IP address (or localhost)");
        return new IPEndPoint(ip, port);
    }

    // Reads a body up to a limit: 413 beyond it (also when Content-Length announces more).
    private static async Task<byte[]?> ReadBody(HttpContext ctx, long max, NodeMetrics metrics, string endpoint)
    {
        if (ctx.Request.ContentLength > max)
        {
            metrics.Rejected.WithLabels(endpoint, "oversize").Inc();
            await Problem(ctx, StatusCodes.Status413PayloadTooLarge, $"request body is {ctx.Request.ContentLength} bytes; this endpoint accepts at most {max}").ConfigureAwait(false);
            return null;
        }
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[16 * 1024];
        try
        {
            while (true)
            {
                int n = await ctx.Request.Body.ReadAsync(chunk, ctx.RequestAborted).ConfigureAwait(false);
                if (n == 0) break;
                if (buffer.Length + n > max)
                {
                    metrics.Rejected.WithLabels(endpoint, "oversize").Inc();
                    await Problem(ctx, StatusCodes.Status413PayloadTooLarge, $"request body exceeds {max} bytes").ConfigureAwait(false);
                    return null;
                }
                buffer.Write(chunk, 0, n);
            }
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex)
        {
            metrics.Rejected.WithLabels(endpoint, "oversize").Inc();
            await Problem(ctx, ex.StatusCode, ex.Message).ConfigureAwait(false);
            return null;
        }
        return buffer.ToArray();
    }

    private static Task Problem(HttpContext ctx, int status, string message)
    {
        if (ctx.Response.HasStarted) return Task.CompletedTask;
        ctx.Response.StatusCode = status;
        return ctx.Response.WriteAsJsonAsync(new JsonObject { ["error"] = message });
    }

    private static int StatusOf(Admission a) => a.Reason switch
    {
        RejectReason.Malformed => StatusCodes.Status400BadRequest,
        RejectReason.BadSignature => StatusCodes.Status401Unauthorized,
        RejectReason.Duplicate => StatusCodes.Status409Conflict,
        _ => StatusCodes.Status422UnprocessableEntity,
    };

    private static async Task Answer(HttpContext ctx, Admission a, NodeMetrics metrics, string endpoint)
    {
        if (a.Accepted)
        {
            ctx.Response.StatusCode = StatusCodes.Status202Accepted;
            return;
        }
        metrics.Rejected.WithLabels(endpoint, a.Reason.ToString().ToLowerInvariant()).Inc();
        await Problem(ctx, StatusOf(a), a.Message).ConfigureAwait(false);
    }

    private static void MapPeerRoutes(WebApplication app, NodeCore core, NodeMetrics metrics, NodeConfig config, int port)
    {
        var p2p = app.MapGroup("/p2p").RequireHost($"*:{port}").RequireRateLimiting("p2p");
        p2p.MapPost("/consensus", async ctx =>
        {
            if (await ReadBody(ctx, config.MaxPeerRequestBytes, metrics, "/p2p/consensus").ConfigureAwait(false) is { } body)
                await Answer(ctx, core.DeliverConsensus(body), metrics, "/p2p/consensus").ConfigureAwait(false);
        });
        p2p.MapPost("/tx", async ctx =>
        {
            if (await ReadBody(ctx, config.MaxPeerRequestBytes, metrics, "/p2p/tx").ConfigureAwait(false) is { } body)
                await Answer(ctx, core.SubmitTransaction(body, gossip: false), metrics, "/p2p/tx").ConfigureAwait(false);
        });
        p2p.MapPost("/blocksig", async ctx =>
        {
            if (await ReadBody(ctx, config.MaxPeerRequestBytes, metrics, "/p2p/blocksig").ConfigureAwait(false) is { } body)
                await Answer(ctx, core.DeliverBlockSignature(body), metrics, "/p2p/blocksig").ConfigureAwait(false);
        });
        p2p.MapGet("/block/{height}", async (HttpContext ctx, string height) =>
        {
            if (!ulong.TryParse(height, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ulong h))
            {
                metrics.Rejected.WithLabels("/p2p/block", "malformed").Inc();
                await Problem(ctx, StatusCodes.Status400BadRequest, $"height '{height}' is not a non-negative integer").ConfigureAwait(false);
                return;
            }
            byte[]? body = core.Read(v => v.Store.GetBlock(h) is { } e ? NodeCore.EncodeCertifiedBlock(e.Block, e.Certificate) : null);
            if (body is null)
            {
                await Problem(ctx, StatusCodes.Status404NotFound, $"no block at height {h}").ConfigureAwait(false);
                return;
            }
            ctx.Response.ContentType = "application/octet-stream";
            await ctx.Response.Body.WriteAsync(body, ctx.RequestAborted).ConfigureAwait(false);
        });
    }

    private static void MapApiRoutes(WebApplication app, NodeCore core, RpcMethods rpc, NodeMetrics metrics, NodeConfig config, int port)
    {
        var api = app.MapGroup("").RequireHost($"*:{port}").RequireRateLimiting("api");
        api.MapPost("/rpc", async ctx =>
        {
            if (await ReadBody(ctx, config.MaxApiRequestBytes, metrics, "/rpc").ConfigureAwait(false) is not { } body) return;
            JsonNode response = HandleRpc(rpc, metrics, body);
            ctx.Response.ContentType = "application/json";
            await ctx.Response.WriteAsync(response.ToJsonString()).ConfigureAwait(false);
        });
        void Get(string pattern, Func<HttpContext, (string Method, JsonElement[] Args)> call) =>
            api.MapGet(pattern, async ctx =>
            {
                var (method, args) = call(ctx);
                try
                {
                    JsonNode? result = rpc.Invoke(method, args);
                    metrics.RpcCalls.WithLabels(method, "ok").Inc();
                    ctx.Response.ContentType = "application/json";
                    await ctx.Response.WriteAsync(result?.ToJsonString() ?? "null").ConfigureAwait(false);
                }
                catch (RpcException ex)
                {
                    metrics.RpcCalls.WithLabels(method, "error").Inc();
                    int status = ex.Code switch
                    {
                        RpcException.NotFound => 404,
                        RpcException.TransactionRejected => 422,
                        _ => 400,
                    };
                    await Problem(ctx, status, ex.Message).ConfigureAwait(false);
                }
            });
        static JsonElement S(object? v) => JsonSerializer.SerializeToElement(v?.ToString());
        Get("/api/status", _ => ("pot_status", []));
        Get("/api/head", _ => ("pot_head", []));
        Get("/api/block/{height}", c => ("pot_getBlockByHeight", [S(c.Request.RouteValues["height"])]));
        Get("/api/block/hash/{hash}", c => ("pot_getBlockByHash", [S(c.Request.RouteValues["hash"])]));
        Get("/api/tx/{id}", c => ("pot_getTransactionStatus", [S(c.Request.RouteValues["id"])]));
        Get("/api/account/{address}", c => ("pot_getAccount", [S(c.Request.RouteValues["address"])]));
        Get("/api/task/{id}", c => ("pot_getTask", [S(c.Request.RouteValues["id"])]));
        Get("/api/task/{id}/round", c => ("pot_getRound", [S(c.Request.RouteValues["id"])]));
        Get("/api/task/{id}/model-root", c => ("pot_getModelRoot", c.Request.Query.TryGetValue("height", out var h)
            ? [S(c.Request.RouteValues["id"]), S(h.ToString())] : [S(c.Request.RouteValues["id"])]));
        Get("/api/submission/{id}", c => ("pot_getSubmission", [S(c.Request.RouteValues["id"])]));
        Get("/api/submission/{id}/attestations", c => ("pot_getAttestations", [S(c.Request.RouteValues["id"])]));
        Get("/api/task/{id}/rounds", c => ("pot_getRounds", [S(c.Request.RouteValues["id"])]));
        api.MapPost("/api/tx", async ctx =>
        {
            if (await ReadBody(ctx, config.MaxApiRequestBytes, metrics, "/api/tx").ConfigureAwait(false) is not { } body) return;
            // Hex text or raw canonical bytes.
            byte[] tx = body;
            string text = System.Text.Encoding.ASCII.GetString(body).Trim();
            if (text.Length > 0 && text.All(Uri.IsHexDigit))
            {
                try
                {
                    tx = Hex.Decode(text, "transaction");
                }
                catch (PotFormatException)
                {
                    tx = body;
                }
            }
            var a = core.SubmitTransaction(tx, gossip: true);
            if (!a.Accepted)
            {
                await Answer(ctx, a, metrics, "/api/tx").ConfigureAwait(false);
                return;
            }
            ctx.Response.StatusCode = StatusCodes.Status202Accepted;
            await ctx.Response.WriteAsJsonAsync(new JsonObject { ["id"] = Hex.Encode(System.Security.Cryptography.SHA256.HashData(tx)), ["status"] = "pending" }).ConfigureAwait(false);
        });
        app.MapMetrics("/metrics", core.Metrics.Registry).RequireHost($"*:{port}").RequireRateLimiting("api")
            .WithMetadata(new Microsoft.AspNetCore.Routing.HttpMethodMetadata(["GET", "HEAD"]));
        api.MapMethods("/metrics", ["POST", "PUT", "PATCH", "DELETE"], async ctx =>
        {
            metrics.Rejected.WithLabels("/metrics", "method").Inc();
            ctx.Response.Headers.Allow = "GET, HEAD";
            await Problem(ctx, StatusCodes.Status405MethodNotAllowed, "/metrics is read-only: use GET").ConfigureAwait(false);
        });
    }

    /// <summary>Handles one JSON-RPC 2.0 request body (single object; batches are refused).</summary>
    /// <param name="rpc">Methods.</param>
    /// <param name="metrics">Metrics.</param>
    /// <param name="body">Request body.</param>
    /// <returns>The response object.</returns>
    public static JsonNode HandleRpc(RpcMethods rpc, NodeMetrics metrics, byte[] body)
    {
        JsonNode? id = null;
        string method = "?";
        try
        {
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 16 });
            }
            catch (JsonException ex)
            {
                throw new RpcException(RpcException.ParseError, "request is not valid JSON: " + ex.Message);
            }
            using (doc)
            {
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                    throw new RpcException(RpcException.InvalidRequest, root.ValueKind == JsonValueKind.Array ? "batch requests are not supported; send one request object" : "request must be a JSON object");
                if (root.TryGetProperty("id", out var idEl) && idEl.ValueKind is JsonValueKind.String or JsonValueKind.Number or JsonValueKind.Null)
                    id = JsonNode.Parse(idEl.GetRawText());
                if (!root.TryGetProperty("jsonrpc", out var v) || v.ValueKind != JsonValueKind.String || v.GetString() != "2.0")
                    throw new RpcException(RpcException.InvalidRequest, "\"jsonrpc\" must be \"2.0\"");
                if (!root.TryGetProperty("method", out var m) || m.ValueKind != JsonValueKind.String)
                    throw new RpcException(RpcException.InvalidRequest, "\"method\" must be a string");
                method = m.GetString()!;
                JsonElement[] args = [];
                if (root.TryGetProperty("params", out var p))
                {
                    if (p.ValueKind != JsonValueKind.Array) throw new RpcException(RpcException.InvalidParams, "\"params\" must be an array (positional parameters)");
                    args = p.EnumerateArray().Select(e => e.Clone()).ToArray();
                }
                JsonNode? result = rpc.Invoke(method, args);
                metrics.RpcCalls.WithLabels(RpcMethods.Names.Contains(method) ? method : "unknown", "ok").Inc();
                return new JsonObject { ["jsonrpc"] = "2.0", ["id"] = id, ["result"] = result };
            }
        }
        catch (RpcException ex)
        {
            metrics.RpcCalls.WithLabels(RpcMethods.Names.Contains(method) ? method : "unknown", "error").Inc();
            return new JsonObject { ["jsonrpc"] = "2.0", ["id"] = id, ["error"] = new JsonObject { ["code"] = ex.Code, ["message"] = ex.Message } };
        }
    }

    private sealed class NodeLifetime(NodeCore core, HttpPeerTransport transport, ChunkStore chunks, Training.NetworkChunkService chunkService, IReadOnlyList<INodeRole> roles) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            chunkService.StartPrefetch();
            core.Start();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            foreach (var role in roles.OfType<IDisposable>()) role.Dispose();
            transport.Dispose();
            core.Dispose();
            chunkService.Dispose();
            chunks.Dispose();
            return Task.CompletedTask;
        }
    }
}
