using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Pot.Chain;
using Pot.Chain.Genesis;
using Pot.Chain.Transactions;
using Pot.Commitments.Keys;

namespace Pot.Node;

/// <summary>One validator of a local network laid out on disk.</summary>
/// <param name="Index">Position in the layout.</param>
/// <param name="Address">Validator address.</param>
/// <param name="ConfigPath">Its node config file.</param>
/// <param name="DataDir">Its data directory.</param>
/// <param name="P2pUrl">Peer endpoint URL.</param>
/// <param name="ApiUrl">User API URL.</param>
/// <param name="KeyPath">Encrypted key file.</param>
public sealed record DevnetNode(int Index, string Address, string ConfigPath, string DataDir, string P2pUrl, string ApiUrl, string KeyPath);

/// <summary>A training network laid out on disk.</summary>
/// <param name="Validators">Validator nodes.</param>
/// <param name="Miners">Miner (follower) nodes.</param>
/// <param name="GenesisPath">Genesis file.</param>
/// <param name="OwnerKeyPath">Key file of the funded task owner.</param>
public sealed record DevnetNetwork(IReadOnlyList<DevnetNode> Validators, IReadOnlyList<DevnetNode> Miners, string GenesisPath, string OwnerKeyPath);

/// <summary>
/// Writes a local network to a directory: n validator keys (encrypted key files, cheap KDF — local use
/// only), a genesis, a passphrase file, and one node config per validator with loopback ports and
/// every other validator as a peer. Used by <c>pot devnet</c> and the tests.
/// </summary>
public static class DevnetLayout
{
    /// <summary>Passphrase of the devnet key files (written to passphrase.txt; local networks only).</summary>
    public const string Passphrase = "pot-devnet-local-only";

    /// <summary>Writes the layout.</summary>
    /// <param name="directory">Target directory (created).</param>
    /// <param name="validators">Validator count.</param>
    /// <param name="extraConfig">Extra config keys for every node (e.g. ViewTimeoutMs).</param>
    /// <returns>The nodes and the genesis path.</returns>
    public static (IReadOnlyList<DevnetNode> Nodes, string GenesisPath) Create(string directory, int validators, IReadOnlyDictionary<string, object>? extraConfig = null)
    {
        if (validators < 1 || validators > 64) throw new ArgumentOutOfRangeException(nameof(validators), validators, "expected 1 to 64 validators");
        Directory.CreateDirectory(directory);
        var keys = Enumerable.Range(0, validators).Select(_ => Ed25519Keys.Generate()).ToArray();
        try
        {
            var doc = new GenesisDocument("pot-devnet", (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 1000, new ChainParameters(),
                keys.Select(k => new GenesisValidator(k.PublicKey, 100_000, 1_000_000_000)).ToArray(), [], []);
            if (doc.Check() is string error) throw new InvalidOperationException("devnet genesis is invalid: " + error);
            string genesisPath = Path.Combine(directory, "genesis.json");
            File.WriteAllBytes(genesisPath, doc.ToJson());
            string passFile = Path.Combine(directory, "passphrase.txt");
            File.WriteAllText(passFile, Passphrase + "\n");
            var ports = FreePorts(2 * validators);
            var nodes = new List<DevnetNode>();
            for (int i = 0; i < validators; i++)
            {
                string keyPath = Path.Combine(directory, $"validator-{i}.key.json");
                File.WriteAllBytes(keyPath, KeyFile.Create(keys[i], Passphrase, new KeyFileKdfParameters(KeyFileKdfParameters.MinMemoryKiB, 1)));
                string data = Path.Combine(directory, $"node-{i}");
                nodes.Add(new DevnetNode(i, keys[i].Address, Path.Combine(directory, $"node-{i}.json"), data,
                    $"http://127.0.0.1:{ports[2 * i]}", $"http://127.0.0.1:{ports[2 * i + 1]}", keyPath));
            }
            foreach (var n in nodes)
            {
                var peers = new JsonObject();
                foreach (var p in nodes) if (p.Index != n.Index) peers[p.Address] = p.P2pUrl;
                var cfg = new JsonObject
                {
                    ["DataDir"] = n.DataDir, ["Genesis"] = genesisPath, ["KeyFile"] = n.KeyPath, ["PassphraseFile"] = passFile,
                    ["P2pListen"] = n.P2pUrl["http://".Length..], ["ApiListen"] = n.ApiUrl["http://".Length..], ["Peers"] = peers,
                };
                foreach (var (k, v) in extraConfig ?? new Dictionary<string, object>()) cfg[k] = JsonValue.Create(v.ToString());
                File.WriteAllText(n.ConfigPath, cfg.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            }
            return (nodes, genesisPath);
        }
        finally
        {
            foreach (var k in keys) k.Dispose();
        }
    }

    /// <summary>
    /// Writes a training network: <paramref name="validators"/> validator nodes and one follower (miner) node per entry of
    /// <paramref name="minerStrategies"/>, a genesis whose parameters suit the protocol task (slash burn share, window
    /// limit) with every miner staked and holding the miner role and a funded task owner, and node configs that name
    /// the task, the empty-block cadence and each node's chunk peers. The task itself is created by a transaction
    /// from the owner (<see cref="DevnetNetwork.OwnerKeyPath"/>) once the validators registered as verifiers.
    /// </summary>
    /// <param name="directory">Target directory (created).</param>
    /// <param name="validators">Validator count.</param>
    /// <param name="task">The protocol task every node runs.</param>
    /// <param name="minerStrategies">One kebab-case strategy per miner ("honest" or a cheating strategy).</param>
    /// <param name="rounds">Rounds the owner funds.</param>
    /// <param name="extraConfig">Extra config keys for every node.</param>
    /// <param name="byzantine">Validator indices that get <c>Byzantine = equivocate</c>.</param>
    /// <returns>The layout.</returns>
    public static DevnetNetwork CreateTraining(string directory, int validators, Pot.Protocol.ProtocolTask task, IReadOnlyList<string> minerStrategies, int rounds,
        IReadOnlyDictionary<string, object>? extraConfig = null, IReadOnlyCollection<int>? byzantine = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(minerStrategies);
        if (validators < 1 || validators > 64) throw new ArgumentOutOfRangeException(nameof(validators), validators, "expected 1 to 64 validators");
        if (minerStrategies.Count > 64) throw new ArgumentOutOfRangeException(nameof(minerStrategies), minerStrategies.Count, "expected at most 64 miners");
        if (rounds < 1) throw new ArgumentOutOfRangeException(nameof(rounds), rounds, "expected at least one round");
        Directory.CreateDirectory(directory);
        int m = minerStrategies.Count;
        var keys = Enumerable.Range(0, validators + m + 1).Select(_ => Ed25519Keys.Generate()).ToArray();
        try
        {
            const ulong stake = 1_000_000;
            ulong balance = stake * ((ulong)rounds + 4) + 1_000_000_000;
            var parameters = new ChainParameters
            {
                SlashBurnPpm = 1_000_000 - task.ProverSharePpm,
                MaxWindowBlocks = (ulong)Math.Max(10, task.WindowBlocks),
                UnbondingDelayBlocks = (ulong)Math.Max(10, task.WindowBlocks) + 10,
                MaxBlockBytes = ChainLimits.MaxBlockBytes,
            };
            var owner = keys[^1];
            var accounts = keys.Skip(validators).Take(m).Select(k => new GenesisAccount(AccountAddress.BytesFromPublicKey(k.PublicKey), k.PublicKey, balance, stake, Roles.Miner))
                .Append(new GenesisAccount(AccountAddress.BytesFromPublicKey(owner.PublicKey), owner.PublicKey, task.RewardPerRound * (ulong)rounds + 1_000_000_000, 0, Roles.None))
                .ToArray();
            var doc = new GenesisDocument("pot-devnet", (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 1000, parameters,
                keys.Take(validators).Select(k => new GenesisValidator(k.PublicKey, stake, balance)).ToArray(), accounts, []);
            if (doc.Check() is string error) throw new InvalidOperationException("devnet genesis is invalid: " + error);
            string genesisPath = Path.Combine(directory, "genesis.json");
            File.WriteAllBytes(genesisPath, doc.ToJson());
            string passFile = Path.Combine(directory, "passphrase.txt");
            File.WriteAllText(passFile, Passphrase + "\n");
            var ports = FreePorts(2 * (validators + m));
            var kdf = new KeyFileKdfParameters(KeyFileKdfParameters.MinMemoryKiB, 1);
            var nodes = new List<DevnetNode>();
            for (int i = 0; i < validators + m; i++)
            {
                string name = i < validators ? $"validator-{i}" : $"miner-{i - validators}";
                string keyPath = Path.Combine(directory, name + ".key.json");
                File.WriteAllBytes(keyPath, KeyFile.Create(keys[i], Passphrase, kdf));
                nodes.Add(new DevnetNode(i, keys[i].Address, Path.Combine(directory, name + ".json"), Path.Combine(directory, name),
                    $"http://127.0.0.1:{ports[2 * i]}", $"http://127.0.0.1:{ports[2 * i + 1]}", keyPath));
            }
            string ownerPath = Path.Combine(directory, "owner.key.json");
            File.WriteAllBytes(ownerPath, KeyFile.Create(owner, Passphrase, kdf));
            var validatorNodes = nodes.Take(validators).ToArray();
            var minerNodes = nodes.Skip(validators).ToArray();
            foreach (var n in nodes)
            {
                bool isValidator = n.Index < validators;
                var peers = new JsonObject();
                foreach (var p in validatorNodes) if (p.Index != n.Index) peers[p.Address] = p.P2pUrl;
                var cfg = new JsonObject
                {
                    ["DataDir"] = n.DataDir, ["Genesis"] = genesisPath, ["KeyFile"] = n.KeyPath, ["PassphraseFile"] = passFile,
                    ["P2pListen"] = n.P2pUrl["http://".Length..], ["ApiListen"] = n.ApiUrl["http://".Length..], ["Peers"] = peers,
                    ["Task"] = task.Id == "tiny" ? "tiny" : task.Id, ["TaskId"] = "0", ["TaskInnerSteps"] = task.InnerSteps.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    ["TaskWindowBlocks"] = task.WindowBlocks.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    ["TaskScheduleRounds"] = task.ScheduleRounds.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    ["TaskCarryOptimizer"] = task.CarryOptimizer ? "true" : "false",
                    ["ChunkPeers"] = string.Join(",", minerNodes.Where(p => p.Index != n.Index).Select(p => p.P2pUrl)),
                };
                if (!isValidator) cfg["MinerStrategy"] = minerStrategies[n.Index - validators];
                if (isValidator && byzantine?.Contains(n.Index) == true) cfg["Byzantine"] = "equivocate";
                foreach (var (k, v) in extraConfig ?? new Dictionary<string, object>()) cfg[k] = JsonValue.Create(Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture));
                File.WriteAllText(n.ConfigPath, cfg.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            }
            return new DevnetNetwork(validatorNodes, minerNodes, genesisPath, ownerPath);
        }
        finally
        {
            foreach (var k in keys) k.Dispose();
        }
    }

    /// <summary>Picks free loopback TCP ports (bound and released; a race with other programs is possible but rare).</summary>
    /// <param name="count">How many.</param>
    /// <returns>Ports.</returns>
    public static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToArray();
        foreach (var l in listeners) l.Start();
        int[] ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        foreach (var l in listeners) l.Stop();
        return ports;
    }
}
