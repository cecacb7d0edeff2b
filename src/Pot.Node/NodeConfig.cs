using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Pot.Node;

/// <summary>A configuration mistake: names the key, the value and what was expected.</summary>
public sealed class NodeConfigException(string message) : Exception(message);

/// <summary>
/// The node's configuration. Layers, later wins: the JSON file, then environment variables with the
/// <c>POT_</c> prefix (<c>__</c> separates sections, e.g. <c>POT_Consensus__ViewTimeoutMs</c>), then
/// <c>--set KEY=VALUE</c> command-line pairs (<c>Consensus:ViewTimeoutMs=500</c>). Keys are
/// case-insensitive. Any key not in the schema is rejected (see docs/operator.md).
/// </summary>
public sealed record NodeConfig
{
    /// <summary>Directory of the node's RocksDB databases (chain, consensus log, chunks).</summary>
    public required string DataDir { get; init; }
    /// <summary>Path of the genesis JSON file.</summary>
    public required string Genesis { get; init; }
    /// <summary>Path of the validator's encrypted key file.</summary>
    public required string KeyFile { get; init; }
    /// <summary>Environment variable holding the key-file passphrase.</summary>
    public string PassphraseEnv { get; init; } = "POT_PASSPHRASE";
    /// <summary>File holding the passphrase (first line); wins over <see cref="PassphraseEnv"/> when set.</summary>
    public string? PassphraseFile { get; init; }
    /// <summary>host:port of the peer endpoint (HTTP/2 cleartext, prior knowledge).</summary>
    public string P2pListen { get; init; } = "127.0.0.1:7100";
    /// <summary>host:port of the user API (HTTP/1.1: JSON-RPC, GET routes, /metrics).</summary>
    public string ApiListen { get; init; } = "127.0.0.1:7200";
    /// <summary>Validator address (pot…) → peer endpoint base URL (http://host:port of its P2pListen).</summary>
    public IReadOnlyDictionary<string, string> Peers { get; init; } = new Dictionary<string, string>();
    /// <summary>PBFT view timeout in ms.</summary>
    public long ViewTimeoutMs { get; init; } = 1000;
    /// <summary>Wait for a batch to fill, ms; also the retry delay of a primary whose chain is not ready.</summary>
    public long BatchDelayMs { get; init; } = 20;
    /// <summary>PBFT checkpoint interval K.</summary>
    public int CheckpointInterval { get; init; } = 8;
    /// <summary>PBFT watermark window L (a multiple of K).</summary>
    public int WatermarkWindow { get; init; } = 16;
    /// <summary>Transactions per block at most.</summary>
    public int MaxBlockTransactions { get; init; } = 500;
    /// <summary>Largest accepted peer request body in bytes.</summary>
    public long MaxPeerRequestBytes { get; init; } = 8 << 20;
    /// <summary>Largest accepted user API request body in bytes.</summary>
    public long MaxApiRequestBytes { get; init; } = 256 << 10;
    /// <summary>Peer requests per second per remote address (token bucket).</summary>
    public int PeerRequestsPerSecond { get; init; } = 5000;
    /// <summary>User API requests per second per remote address (token bucket).</summary>
    public int ApiRequestsPerSecond { get; init; } = 500;
    /// <summary>Period of the block/certificate catch-up loop in ms.</summary>
    public long SyncIntervalMs { get; init; } = 500;
    /// <summary>Mempool capacity in transactions.</summary>
    public int MempoolCapacity { get; init; } = 10_000;
    /// <summary>Protocol task this node runs (addition, addition3, kjv, fashion-mnist, tiny); null: none (plain chain, no roles).</summary>
    public string? Task { get; init; }
    /// <summary>Chain task id the protocol task is registered under (the id its create-task transaction received).</summary>
    public ulong TaskId { get; init; }
    /// <summary>Inner steps H of the task (null: the task's default).</summary>
    public int? TaskInnerSteps { get; init; }
    /// <summary>Submission window W of the task in blocks (null: the task's default).</summary>
    public int? TaskWindowBlocks { get; init; }
    /// <summary>Rounds R over which the task's learning-rate schedule is spread (<see cref="Pot.Protocol.ProtocolTask.ScheduleRounds"/>; null: 0, constant rate).</summary>
    public int? TaskScheduleRounds { get; init; }
    /// <summary>Whether the task's miners carry their inner optimiser state across rounds (<see cref="Pot.Protocol.ProtocolTask.CarryOptimizer"/>; "true" or "false", default false). Every node of a task must agree.</summary>
    public bool TaskCarryOptimizer { get; init; }
    /// <summary>Validation batches of the held-out evaluation after each finalized round (validators only).</summary>
    public int EvaluationBatches { get; init; } = 5;
    /// <summary>When above 0, the primary proposes an empty block once this many ms have passed since the head's time while a task round is open (so height-based windows pass without traffic).</summary>
    public long EmptyBlockIntervalMs { get; init; }
    /// <summary>Behaviour of a miner (follower) node: honest, or a cheating strategy for tests (kebab-case, as in pot simulate protocol --cheaters).</summary>
    public string MinerStrategy { get; init; } = "honest";
    /// <summary>Extra chunk peers (P2P URLs of follower nodes: miners) that chunk fetches also try.</summary>
    public IReadOnlyList<string> ChunkPeers { get; init; } = [];

    /// <summary>
    /// Test-only fault switch, never for a real validator: "" (default) is honest; "equivocate" makes
    /// the node send conflicting pre-prepares (as primary) and conflicting prepare/commit digests to
    /// different peers (see <see cref="ConsensusOutbound"/>).
    /// </summary>
    public string Byzantine { get; init; } = ByzantineModes.None;

    /// <summary>Every accepted key (section keys for nested values use ':').</summary>
    public static readonly string[] Keys =
    [
        "DataDir", "Genesis", "KeyFile", "PassphraseEnv", "PassphraseFile", "P2pListen", "ApiListen",
        "ViewTimeoutMs", "BatchDelayMs", "CheckpointInterval", "WatermarkWindow", "MaxBlockTransactions",
        "MaxPeerRequestBytes", "MaxApiRequestBytes", "PeerRequestsPerSecond", "ApiRequestsPerSecond",
        "SyncIntervalMs", "MempoolCapacity", "Task", "TaskId", "TaskInnerSteps", "TaskWindowBlocks", "TaskScheduleRounds", "TaskCarryOptimizer", "EvaluationBatches",
        "EmptyBlockIntervalMs", "MinerStrategy", "ChunkPeers", "Byzantine",
    ];

    /// <summary>Loads and validates the layered configuration.</summary>
    /// <param name="file">JSON file (may be null for environment/command line only).</param>
    /// <param name="overrides">KEY=VALUE pairs from the command line.</param>
    /// <param name="environment">Environment variables (normally <see cref="Environment.GetEnvironmentVariables()"/>).</param>
    /// <returns>The configuration.</returns>
    /// <exception cref="NodeConfigException">Unknown key, missing required key or bad value.</exception>
    public static NodeConfig Load(string? file, IEnumerable<string> overrides, IReadOnlyDictionary<string, string> environment)
    {
        var builder = new ConfigurationBuilder();
        string baseDir = Directory.GetCurrentDirectory();
        if (file is not null)
        {
            if (!File.Exists(file)) throw new NodeConfigException($"config file '{Path.GetFullPath(file)}' does not exist");
            try
            {
                var probe = new ConfigurationBuilder().AddJsonFile(Path.GetFullPath(file), optional: false, reloadOnChange: false).Build();
                _ = probe.AsEnumerable().ToList();
            }
            catch (Exception ex) when (ex is FormatException or InvalidDataException or System.Text.Json.JsonException)
            {
                throw new NodeConfigException($"config file '{file}' is not valid JSON: {ex.Message}");
            }
            builder.AddJsonFile(Path.GetFullPath(file), optional: false, reloadOnChange: false);
            baseDir = Path.GetDirectoryName(Path.GetFullPath(file))!;
        }
        // The passphrase variables share the POT_ prefix but are not configuration keys.
        var env = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var skip = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "POT_PASSPHRASE" };
        foreach (var (name, value) in environment)
        {
            if (!name.StartsWith("POT_", StringComparison.Ordinal) || skip.Contains(name)) continue;
            env[name["POT_".Length..].Replace("__", ":", StringComparison.Ordinal)] = value;
        }
        builder.AddInMemoryCollection(env);
        var cli = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (string pair in overrides)
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new NodeConfigException($"--set '{pair}': expected KEY=VALUE, e.g. ViewTimeoutMs=500");
            cli[pair[..eq].Trim()] = pair[(eq + 1)..];
        }
        builder.AddInMemoryCollection(cli);
        IConfiguration c = builder.Build();

        string? passphraseEnv = c["PassphraseEnv"];
        var known = new HashSet<string>(Keys, StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in c.AsEnumerable())
        {
            if (value is null) continue; // section nodes
            if (known.Contains(key)) continue;
            if (key.StartsWith("Peers:", StringComparison.OrdinalIgnoreCase) && key.Count(ch => ch == ':') == 1) continue;
            if (passphraseEnv is not null && env.ContainsKey(key) && string.Equals("POT_" + key, passphraseEnv, StringComparison.OrdinalIgnoreCase)) continue;
            throw new NodeConfigException($"unknown configuration key '{key}'; accepted keys: {string.Join(", ", Keys)}, Peers:<validator address>");
        }

        string Require(string key) => c[key] is { Length: > 0 } v ? v : throw new NodeConfigException($"configuration key '{key}' is required");
        string PathOf(string key) => Path.GetFullPath(Path.Combine(baseDir, Require(key)));
        long Long(string key, long def, long min, long max)
        {
            string? v = c[key];
            if (v is null) return def;
            if (!long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out long x) || x < min || x > max)
                throw new NodeConfigException($"configuration key '{key}' = '{v}': expected an integer from {min} to {max}");
            return x;
        }
        var peers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var child in c.GetSection("Peers").GetChildren())
        {
            string url = child.Value ?? "";
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != "http")
                throw new NodeConfigException($"configuration key 'Peers:{child.Key}' = '{url}': expected an http:// URL of the peer's P2pListen endpoint");
            peers[child.Key.ToLowerInvariant()] = url.TrimEnd('/');
        }
        var config = new NodeConfig
        {
            DataDir = PathOf("DataDir"),
            Genesis = PathOf("Genesis"),
            KeyFile = PathOf("KeyFile"),
            PassphraseEnv = c["PassphraseEnv"] ?? "POT_PASSPHRASE",
            PassphraseFile = c["PassphraseFile"] is { Length: > 0 } ? PathOf("PassphraseFile") : null,
            P2pListen = CheckEndpoint("P2pListen", c["P2pListen"] ?? "127.0.0.1:7100"),
            ApiListen = CheckEndpoint("ApiListen", c["ApiListen"] ?? "127.0.0.1:7200"),
            Peers = peers,
            ViewTimeoutMs = Long("ViewTimeoutMs", 1000, 50, 600_000),
            BatchDelayMs = Long("BatchDelayMs", 20, 1, 60_000),
            CheckpointInterval = (int)Long("CheckpointInterval", 8, 1, 1024),
            WatermarkWindow = (int)Long("WatermarkWindow", 16, 1, 65536),
            MaxBlockTransactions = (int)Long("MaxBlockTransactions", 500, 1, 10_000),
            MaxPeerRequestBytes = Long("MaxPeerRequestBytes", 8 << 20, 1024, 64 << 20),
            MaxApiRequestBytes = Long("MaxApiRequestBytes", 256 << 10, 1024, 16 << 20),
            PeerRequestsPerSecond = (int)Long("PeerRequestsPerSecond", 5000, 1, 1_000_000),
            ApiRequestsPerSecond = (int)Long("ApiRequestsPerSecond", 500, 1, 1_000_000),
            SyncIntervalMs = Long("SyncIntervalMs", 500, 10, 600_000),
            MempoolCapacity = (int)Long("MempoolCapacity", 10_000, 1, 1_000_000),
            Byzantine = (c["Byzantine"] ?? "").Trim().ToLowerInvariant(),
            Task = c["Task"] is { Length: > 0 } t && t != "none" ? t : null,
            TaskId = (ulong)Long("TaskId", 0, 0, long.MaxValue),
            TaskInnerSteps = c["TaskInnerSteps"] is null ? null : (int)Long("TaskInnerSteps", 0, 1, 100_000),
            TaskWindowBlocks = c["TaskWindowBlocks"] is null ? null : (int)Long("TaskWindowBlocks", 0, 1, 100_000),
            TaskScheduleRounds = c["TaskScheduleRounds"] is null ? null : (int)Long("TaskScheduleRounds", 0, 0, 1_000_000),
            TaskCarryOptimizer = (c["TaskCarryOptimizer"] ?? "false").Trim().ToLowerInvariant() switch
            {
                "true" => true,
                "false" => false,
                var other => throw new NodeConfigException($"configuration key 'TaskCarryOptimizer' = '{other}': expected true or false"),
            },
            EvaluationBatches = (int)Long("EvaluationBatches", 5, 1, 1000),
            EmptyBlockIntervalMs = Long("EmptyBlockIntervalMs", 0, 0, 3_600_000),
            MinerStrategy = c["MinerStrategy"] is { Length: > 0 } ms ? ms : "honest",
            ChunkPeers = (c["ChunkPeers"] ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(u =>
                Uri.TryCreate(u, UriKind.Absolute, out var cu) && cu.Scheme == "http" ? u.TrimEnd('/')
                    : throw new NodeConfigException($"configuration key 'ChunkPeers' entry '{u}': expected an http:// URL of a peer's P2pListen endpoint")).ToArray(),
        };
        if (!ByzantineModes.All.Contains(config.Byzantine))
            throw new NodeConfigException($"configuration key 'Byzantine' = '{config.Byzantine}': expected \"\" (honest) or \"{ByzantineModes.Equivocate}\" (test-only fault switch)");
        if (config.WatermarkWindow % config.CheckpointInterval != 0)
            throw new NodeConfigException($"WatermarkWindow {config.WatermarkWindow} must be a multiple of CheckpointInterval {config.CheckpointInterval}");
        return config;
    }

    private static string CheckEndpoint(string key, string value)
    {
        int colon = value.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(value[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 0 or > 65535)
            throw new NodeConfigException($"configuration key '{key}' = '{value}': expected host:port, e.g. 127.0.0.1:7100");
        return value;
    }

    /// <summary>Reads the key-file passphrase from <see cref="PassphraseFile"/> or <see cref="PassphraseEnv"/>.</summary>
    /// <param name="environment">Environment variables.</param>
    /// <returns>The passphrase.</returns>
    public string ReadPassphrase(IReadOnlyDictionary<string, string> environment)
    {
        if (PassphraseFile is not null)
        {
            if (!File.Exists(PassphraseFile)) throw new NodeConfigException($"PassphraseFile '{PassphraseFile}' does not exist");
            return File.ReadLines(PassphraseFile).FirstOrDefault() ?? "";
        }
        return environment.TryGetValue(PassphraseEnv, out var p)
            ? p
            : throw new NodeConfigException($"the key-file passphrase is read from environment variable {PassphraseEnv}, which is not set (or set PassphraseFile)");
    }
}
