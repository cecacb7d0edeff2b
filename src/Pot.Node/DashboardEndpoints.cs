using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Pot.Chain.Blocks;
using Pot.Chain.State;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Keys;

namespace Pot.Node;

/// <summary>
/// The node's dashboard (docs/dashboard.md): a single page embedded in this assembly, served on the
/// API port at <c>/</c> and <c>/dashboard</c>, plus the read-only JSON routes it needs —
/// <c>/api/validators</c> (set, view, reachability from this node), <c>/api/participants</c> (miners
/// and verifiers with stake and slashing record), <c>/api/tasks</c>, <c>/api/activity</c> (submissions,
/// attestations, fraud proofs and round finalizations in recent blocks) — and the block event stream
/// <c>/api/events</c> (<see cref="BlockEvents"/>). Every list is bounded.
/// </summary>
public static class DashboardEndpoints
{
    /// <summary>Most blocks one <c>/api/activity</c> call scans.</summary>
    public const int MaxActivityBlocks = 1024;

    /// <summary>Blocks <c>/api/activity</c> scans when not told.</summary>
    public const int DefaultActivityBlocks = 256;

    /// <summary>Most entries a list route returns (accounts, tasks, slash records).</summary>
    public const int MaxListEntries = 1000;

    /// <summary>Recent blocks whose certificates give each validator's last signed height.</summary>
    public const int SignerWindow = 64;

    private static readonly Dictionary<string, string> Assets = new(StringComparer.Ordinal)
    {
        ["index.html"] = "text/html; charset=utf-8",
        ["app.js"] = "text/javascript; charset=utf-8",
        ["app.css"] = "text/css; charset=utf-8",
    };

    /// <summary>Reads an embedded dashboard asset.</summary>
    /// <param name="name">File name (index.html, app.js, app.css).</param>
    /// <returns>Its bytes, or null when there is no such asset.</returns>
    public static byte[]? Asset(string name)
    {
        if (!Assets.ContainsKey(name)) return null;
        using var stream = typeof(DashboardEndpoints).Assembly.GetManifestResourceStream("Pot.Node.Dashboard." + name);
        if (stream is null) return null;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>Maps the page, its assets and its routes on the API port.</summary>
    /// <param name="app">The application.</param>
    /// <param name="core">The node.</param>
    /// <param name="events">The block event hub (registered as a role of <paramref name="core"/>).</param>
    /// <param name="config">Configuration (peers to probe).</param>
    /// <param name="port">API port.</param>
    /// <param name="history">The round history this node records (validators running a task); null: none.</param>
    public static void Map(WebApplication app, NodeCore core, BlockEvents events, NodeConfig config, int port, Training.RoundHistory? history)
    {
        var api = app.MapGroup("").RequireHost($"*:{port}").RequireRateLimiting("api");
        var cache = new BlockDigests(core);
        var health = new PeerHealth(core, config);
        app.Lifetime.ApplicationStopped.Register(health.Dispose);
        var stopping = app.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;

        async Task Serve(HttpContext ctx, string name)
        {
            byte[]? body = Asset(name);
            if (body is null)
            {
                ctx.Response.StatusCode = StatusCodes.Status404NotFound;
                await ctx.Response.WriteAsJsonAsync(new JsonObject { ["error"] = $"no dashboard asset '{name}'" }).ConfigureAwait(false);
                return;
            }
            ctx.Response.ContentType = Assets[name];
            ctx.Response.Headers.CacheControl = "no-cache";
            ctx.Response.Headers["X-Content-Type-Options"] = "nosniff";
            ctx.Response.Headers["Content-Security-Policy"] = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'";
            await ctx.Response.Body.WriteAsync(body, ctx.RequestAborted).ConfigureAwait(false);
        }
        api.MapGet("/", ctx => Serve(ctx, "index.html"));
        api.MapGet("/dashboard", ctx => Serve(ctx, "index.html"));
        api.MapGet("/dashboard/{file}", (HttpContext ctx, string file) => Serve(ctx, file));

        api.MapGet("/api/events", ctx => events.ServeAsync(ctx, core.Read(v => new JsonObject
        {
            ["type"] = "hello", ["height"] = v.Store.Height, ["hash"] = Hex.Encode(v.Store.Ledger.HeadHash), ["timeMs"] = v.Store.Ledger.Head.TimeMs,
        }), stopping));

        api.MapGet("/api/validators", ctx => Json(ctx, Validators(core, cache, health)));
        // State scans run at most once per committed height, however many viewers poll.
        var participants = new PerHeight(core);
        var tasks = new PerHeight(core);
        api.MapGet("/api/participants", ctx => Json(ctx, participants.Get(() => Participants(core))));
        // Which task's round history this node records (a validator running a task); the page asks
        // /api/task/{id}/rounds only for that task, so other tasks show "no rounds yet" and log no 404.
        api.MapGet("/api/tasks", ctx => Json(ctx, tasks.Get(() => Tasks(core, history?.TaskId))));
        api.MapGet("/api/activity", async ctx =>
        {
            int blocks = DefaultActivityBlocks;
            if (ctx.Request.Query.TryGetValue("blocks", out var b)
                && (!int.TryParse(b.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out blocks) || blocks < 1 || blocks > MaxActivityBlocks))
            {
                ctx.Response.StatusCode = StatusCodes.Status400BadRequest;
                await ctx.Response.WriteAsJsonAsync(new JsonObject { ["error"] = $"blocks '{b}' must be an integer from 1 to {MaxActivityBlocks}" }).ConfigureAwait(false);
                return;
            }
            await Json(ctx, Activity(core, cache, blocks)).ConfigureAwait(false);
        });
    }

    private static Task Json(HttpContext ctx, JsonNode node)
    {
        ctx.Response.ContentType = "application/json";
        return ctx.Response.WriteAsync(node.ToJsonString());
    }

    private static string Addr(ReadOnlySpan<byte> address) => AccountAddress.Prefix + Hex.Encode(address);

    // ------------------------------------------------------------------ validators

    private static JsonObject Validators(NodeCore core, BlockDigests cache, PeerHealth health)
    {
        health.ProbeIfStale();
        var (head, view, changing, set, stakes) = core.Read(v => (v.Store.Height, v.Replica?.View, v.Replica?.IsChangingView, v.Store.Ledger.Validators.Addresses.Select(a => a.ToArray()).ToArray(),
            v.Store.Ledger.Validators.Addresses.Select(a => StateAccess.Account(v.Store.Ledger.State, a)).ToArray()));
        var lastSigned = new Dictionary<string, ulong>(StringComparer.Ordinal);
        for (ulong h = head; h >= 1 && h + SignerWindow > head; h--)
        {
            if (cache.Get(h) is not { } d) continue;
            foreach (var s in d.Signers) lastSigned.TryAdd(s, h);
        }
        var list = new JsonArray();
        for (int i = 0; i < set.Length; i++)
        {
            string hex = Hex.Encode(set[i]);
            var entry = new JsonObject
            {
                ["index"] = i, ["address"] = AccountAddress.Prefix + hex, ["self"] = i == core.NodeId, ["primary"] = set.Length > 0 && view is { } pv && pv % set.Length == i,
                ["stake"] = stakes[i].Stake, ["balance"] = stakes[i].Balance,
                ["lastSignedHeight"] = lastSigned.TryGetValue(AccountAddress.Prefix + hex, out ulong ls) ? ls : null,
            };
            if (i == core.NodeId)
            {
                entry["reachable"] = true;
                entry["lastSeenMs"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            }
            else if (health.Get(hex) is { } p)
            {
                entry["peerUrl"] = p.Url;
                entry["reachable"] = p.Reachable;
                entry["lastSeenMs"] = p.LastSeenMs;
                entry["latencyMs"] = p.LatencyMs;
                entry["probeError"] = p.Error;
            }
            else
            {
                entry["reachable"] = null;
                entry["probeError"] = "not a configured peer of this node";
            }
            list.Add(entry);
        }
        return new JsonObject
        {
            ["height"] = head, ["view"] = view, ["changingView"] = changing, ["primaryIndex"] = set.Length == 0 || view is null ? null : view % set.Length,
            ["faultsTolerated"] = Math.Max(0, (set.Length - 1) / 3), ["self"] = core.NodeId, ["signerWindow"] = SignerWindow, ["validators"] = list,
        };
    }

    // ------------------------------------------------------------------ accounts, tasks

    private static JsonObject Participants(NodeCore core) => core.Read(v =>
    {
        var state = v.Store.Ledger.State;
        var list = new JsonArray();
        bool truncated = false;
        foreach (var (key, value) in state.Entries)
        {
            if (key.Length == 0 || key[0] < StateKeys.AccountPrefix) continue;
            if (key[0] > StateKeys.AccountPrefix) break;
            var acc = Account.Decode(value);
            if ((acc.Roles & (Roles.Miner | Roles.Verifier)) == 0) continue;
            if (list.Count >= MaxListEntries)
            {
                truncated = true;
                break;
            }
            byte[] address = key[1..];
            var slash = state.Get(StateKeys.SlashRecord(address)) is { } sr ? SlashRecord.Decode(sr) : null;
            list.Add(new JsonObject
            {
                ["address"] = Addr(address), ["roles"] = acc.Roles.ToString(), ["stake"] = acc.Stake, ["balance"] = acc.Balance, ["nonce"] = acc.Nonce,
                ["slashed"] = slash is null ? null : new JsonObject { ["total"] = slash.TotalSlashed, ["count"] = slash.Count, ["lastHeight"] = slash.LastHeight },
            });
        }
        return new JsonObject { ["height"] = v.Store.Height, ["participants"] = list, ["truncated"] = truncated };
    });

    private static JsonObject Tasks(NodeCore core, ulong? historyTask) => core.Read(v =>
    {
        var state = v.Store.Ledger.State;
        var list = new JsonArray();
        bool truncated = false;
        foreach (var (key, _) in state.Entries)
        {
            if (key.Length == 0 || key[0] < StateKeys.TaskPrefix) continue;
            if (key[0] > StateKeys.TaskPrefix) break;
            if (key.Length != 10 || key[9] != 0) continue; // 0x03 ‖ id (8, BE) ‖ 0x00 = static info
            if (list.Count >= MaxListEntries)
            {
                truncated = true;
                break;
            }
            ulong id = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(key.AsSpan(1, 8));
            var info = StateAccess.TaskInfo(state, id)!;
            var round = StateAccess.TaskRound(state, id);
            list.Add(new JsonObject
            {
                ["id"] = id, ["roundsAvailable"] = historyTask == id, ["owner"] = Addr(info.Owner), ["rewardPerRound"] = info.RewardPerRound, ["initialModelRoot"] = Hex.Encode(info.InitialModelRoot),
                ["round"] = round is null ? null : new JsonObject
                {
                    ["round"] = round.Round, ["modelRoot"] = Hex.Encode(round.ModelRoot), ["roundStartHeight"] = round.RoundStartHeight,
                    ["escrow"] = round.Escrow, ["finished"] = round.Finished, ["pendingSubmissions"] = round.PendingCount,
                },
            });
        }
        return new JsonObject { ["height"] = v.Store.Height, ["tasks"] = list, ["truncated"] = truncated };
    });

    // ------------------------------------------------------------------ activity

    private static JsonObject Activity(NodeCore core, BlockDigests cache, int blocks)
    {
        ulong head = core.Read(v => v.Store.Height);
        ulong from = head >= (ulong)blocks ? head - (ulong)blocks + 1 : 1;
        var submissions = new JsonArray();
        var attestations = new JsonArray();
        var proofs = new JsonArray();
        var finals = new JsonArray();
        ulong transactions = 0;
        // Newest first.
        for (ulong h = head; h >= from && h >= 1; h--)
        {
            if (cache.Get(h) is not { } d) continue;
            transactions += (ulong)d.TransactionCount;
            foreach (var n in d.Submissions) submissions.Add(n.DeepClone());
            foreach (var n in d.Attestations) attestations.Add(n.DeepClone());
            foreach (var n in d.FraudProofs) proofs.Add(n.DeepClone());
            foreach (var n in d.Finalizations) finals.Add(n.DeepClone());
        }
        var slashRecords = core.Read(v =>
        {
            var list = new JsonArray();
            foreach (var (key, value) in v.Store.Ledger.State.Entries)
            {
                if (key.Length == 0 || key[0] < StateKeys.SlashRecordPrefix) continue;
                if (key[0] > StateKeys.SlashRecordPrefix || list.Count >= MaxListEntries) break;
                var r = SlashRecord.Decode(value);
                list.Add(new JsonObject { ["address"] = Addr(key.AsSpan(1)), ["total"] = r.TotalSlashed, ["count"] = r.Count, ["lastHeight"] = r.LastHeight });
            }
            return list;
        });
        return new JsonObject
        {
            ["fromHeight"] = from, ["toHeight"] = head, ["transactions"] = transactions,
            ["submissions"] = submissions, ["attestations"] = attestations, ["fraudProofs"] = proofs, ["finalizations"] = finals, ["slashRecords"] = slashRecords,
        };
    }

    /// <summary>The last answer of a state scan, reused while the head height is unchanged (answers are never mutated after they are built).</summary>
    private sealed class PerHeight(NodeCore core)
    {
        private readonly object _gate = new();
        private ulong _height = ulong.MaxValue;
        private JsonObject? _value;

        public JsonObject Get(Func<JsonObject> compute)
        {
            ulong head = core.Read(v => v.Store.Height);
            lock (_gate)
            {
                if (_value is not null && _height == head) return _value;
            }
            var value = compute();
            ulong at = value["height"]?.GetValue<ulong>() ?? head;
            lock (_gate)
            {
                _height = at;
                _value = value;
            }
            return value;
        }
    }

    /// <summary>What the dashboard keeps of one committed block (blocks never change once certified, so digests are cached).</summary>
    private sealed record BlockDigest(ulong Height, string[] Signers, int TransactionCount, JsonObject[] Submissions, JsonObject[] Attestations, JsonObject[] FraudProofs, JsonObject[] Finalizations);

    private sealed class BlockDigests(NodeCore core)
    {
        private const int Capacity = 4096;
        private readonly ConcurrentDictionary<ulong, BlockDigest> _cache = new();

        public BlockDigest? Get(ulong height)
        {
            if (_cache.TryGetValue(height, out var d)) return d;
            var entry = core.Read(v => v.Store.GetBlock(height));
            if (entry is not { } e) return null;
            d = Digest(height, e.Block, e.Certificate);
            if (_cache.Count >= Capacity)
            {
                foreach (ulong old in _cache.Keys.Order().Take(Capacity / 4)) _cache.TryRemove(old, out _);
            }
            _cache[height] = d;
            return d;
        }

        private static BlockDigest Digest(ulong height, Block block, CommitCertificate cert)
        {
            var subs = new List<JsonObject>();
            var atts = new List<JsonObject>();
            var proofs = new List<JsonObject>();
            var finals = new List<JsonObject>();
            foreach (var tx in block.Transactions)
            {
                string id = Hex.Encode(tx.Hash);
                switch (tx.Payload)
                {
                    case SubmitPayload s:
                        subs.Add(new JsonObject
                        {
                            ["height"] = height, ["id"] = id, ["miner"] = Addr(tx.Sender), ["taskId"] = s.TaskId, ["round"] = s.Round,
                            ["updateRoot"] = Hex.Encode(s.UpdateRoot), ["sampleCount"] = s.SampleCount,
                            ["claimedFinalLoss"] = s.ClaimedLossBits.Count == 0 ? null : BitConverter.UInt32BitsToSingle(s.ClaimedLossBits[^1]),
                        });
                        break;
                    case AttestPayload a:
                        atts.Add(new JsonObject
                        {
                            ["height"] = height, ["id"] = id, ["verifier"] = Addr(tx.Sender), ["submissionId"] = Hex.Encode(a.SubmissionId), ["accept"] = a.Accept,
                            ["evidenceHash"] = Hex.Encode(a.EvidenceHash), ["failedCheck"] = a.FailedCheck,
                            ["replayedSteps"] = a.ReplayedSteps.Count, ["sampledLeaves"] = a.SampledLeaves.Count,
                        });
                        break;
                    case FraudProofPayload f:
                        proofs.Add(new JsonObject
                        {
                            ["height"] = height, ["id"] = id, ["prover"] = Addr(tx.Sender), ["submissionId"] = Hex.Encode(f.SubmissionId),
                            ["reference"] = Hex.Encode(f.Reference), ["evidenceBytes"] = f.Evidence.Length, ["evidenceSha256"] = Hex.Encode(SHA256.HashData(f.Evidence)),
                        });
                        break;
                    case FinalizeRoundPayload r:
                        finals.Add(new JsonObject
                        {
                            ["height"] = height, ["id"] = id, ["taskId"] = r.TaskId, ["round"] = r.Round, ["newModelRoot"] = Hex.Encode(r.NewModelRoot),
                            ["accepted"] = new JsonArray(r.Accepted.Select(x => (JsonNode)JsonValue.Create(Hex.Encode(x))).ToArray()),
                            ["rejected"] = new JsonArray(r.Rejected.Select(x => (JsonNode)JsonValue.Create(Hex.Encode(x))).ToArray()),
                            ["rewards"] = new JsonArray(r.Rewards.Select(p => (JsonNode)new JsonObject { ["address"] = Addr(p.Address), ["amount"] = p.Amount }).ToArray()),
                            ["slashes"] = new JsonArray(r.Slashes.Select(s => (JsonNode)new JsonObject
                            {
                                ["offender"] = Addr(s.Offender), ["amount"] = s.Amount, ["beneficiary"] = s.Beneficiary is null ? null : Addr(s.Beneficiary),
                            }).ToArray()),
                        });
                        break;
                }
            }
            return new BlockDigest(height, cert.Signatures.Select(s => Addr(s.Validator)).ToArray(), block.Transactions.Count, [.. subs], [.. atts], [.. proofs], [.. finals]);
        }
    }

    // ------------------------------------------------------------------ peer reachability

    private sealed record PeerState(string Url, bool? Reachable, long? LastSeenMs, long? LatencyMs, string? Error);

    /// <summary>
    /// Reachability of the configured peers, probed lazily: a request for the validator list starts a
    /// probe round when the last one is older than <see cref="ProbeInterval"/> (so nothing is probed
    /// while nobody watches) and answers with the latest results. A probe is one HTTP/2 GET of
    /// <c>/p2p/block/0</c> on the peer endpoint; any HTTP answer (it is 404) counts as reachable.
    /// </summary>
    private sealed class PeerHealth : IDisposable
    {
        private static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(2);
        private static readonly TimeSpan ProbeTimeout = TimeSpan.FromMilliseconds(1500);
        private readonly Dictionary<string, string> _urls = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, PeerState> _states = new(StringComparer.Ordinal);
        private readonly HttpClient _http;
        private long _lastRoundTicks;

        public PeerHealth(NodeCore core, NodeConfig config)
        {
            foreach (var (address, url) in config.Peers)
            {
                string hex = address.StartsWith(AccountAddress.Prefix, StringComparison.Ordinal) ? address[AccountAddress.Prefix.Length..] : address;
                _urls[hex.ToLowerInvariant()] = url.TrimEnd('/');
                _states[hex.ToLowerInvariant()] = new PeerState(url.TrimEnd('/'), null, null, null, "not probed yet");
            }
            _http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = ProbeTimeout, PooledConnectionLifetime = TimeSpan.FromMinutes(1) })
            {
                DefaultRequestVersion = HttpVersion.Version20,
                DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Timeout = ProbeTimeout,
            };
            _ = core;
        }

        public void Dispose() => _http.Dispose();

        public PeerState? Get(string hex) => _states.TryGetValue(hex, out var s) ? s : null;

        public void ProbeIfStale()
        {
            long now = Environment.TickCount64;
            long last = Interlocked.Read(ref _lastRoundTicks);
            if (last != 0 && now - last < ProbeInterval.TotalMilliseconds) return;
            if (Interlocked.CompareExchange(ref _lastRoundTicks, now, last) != last) return;
            foreach (var (hex, url) in _urls) _ = ProbeAsync(hex, url);
        }

        private async Task ProbeAsync(string hex, string url)
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            var previous = _states[hex];
            try
            {
                using var response = await _http.GetAsync(url + "/p2p/block/0", HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
                _states[hex] = new PeerState(url, true, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), started.ElapsedMilliseconds, null);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or OperationCanceledException)
            {
                _states[hex] = previous with { Reachable = false, LatencyMs = null, Error = ex is HttpRequestException h ? h.Message : "timed out after " + ProbeTimeout.TotalMilliseconds + " ms" };
            }
        }
    }
}
