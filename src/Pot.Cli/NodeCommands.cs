using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Keys;
using Pot.Node;
using Spectre.Console;

namespace Pot.Cli;

/// <summary><c>pot node</c>, <c>pot status</c>, <c>pot tx …</c> and <c>pot devnet</c>: run and use networked nodes (docs/node.md, docs/operator.md).</summary>
public static class NodeCommands
{
    /// <summary>Creates <c>pot node</c>.</summary>
    /// <returns>The command.</returns>
    public static Command CreateNode()
    {
        var config = new Option<string>("--config") { Description = "Node configuration JSON file (keys in docs/operator.md). Environment variables POT_<Key> and --set override it.", Required = true };
        var set = new Option<string[]>("--set") { Description = "Override a configuration key: --set KEY=VALUE (repeatable), e.g. --set ViewTimeoutMs=500 --set Peers:pot…=http://127.0.0.1:7101.", AllowMultipleArgumentsPerToken = false };
        var verbose = new Option<bool>("--verbose") { Description = "Log framework information messages (requests, lifetime), not only warnings." };
        var command = new Command("node", "Run a node: a validator (key in the genesis validator set: PBFT consensus over HTTP/2 with its peers) or a follower (any other key: follows the chain by catch-up from its validator peers), the chain on RocksDB, chunk transfer on the peer endpoint, the JSON-RPC/REST user API and Prometheus /metrics. With config Task set it runs the protocol role: verifier and aggregator on a validator, miner on a follower (docs/node.md). Stops cleanly on Ctrl-C or SIGTERM.")
        {
            config, set, verbose,
        };
        command.SetAction(async (r, cancellation) =>
        {
            var env = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
                .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "", StringComparer.Ordinal);
            Microsoft.AspNetCore.Builder.WebApplication app;
            NodeConfig cfg;
            try
            {
                cfg = NodeConfig.Load(r.GetValue(config), r.GetValue(set) ?? [], env);
                app = NodeHost.Build(cfg, env, roles: null, r.GetValue(verbose) ? LogLevel.Information : LogLevel.Warning);
            }
            catch (Exception ex) when (ex is NodeConfigException or PotFormatException or IOException or Pot.Chain.Storage.ChainStoreCorruptedException or InvalidDataException)
            {
                Console.Error.WriteLine($"error: {ex.Message}");
                return CliErrors.UserError;
            }
            await app.StartAsync(cancellation).ConfigureAwait(false);
            var core = (NodeCore)app.Services.GetService(typeof(NodeCore))!;
            Console.WriteLine($"node {core.NodeId} {core.Address} chain {core.ChainId}: peers on http://{cfg.P2pListen} (HTTP/2), API on http://{cfg.ApiListen} (/rpc, /api/..., /metrics)");
            await app.WaitForShutdownAsync(cancellation).ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    /// <summary>The compact one-row table <c>pot status</c> prints (fits 80 columns): head height and short hash,
    /// PBFT view (a view change in progress is marked with * and in the title), PBFT height and stable checkpoint, mempool, validator
    /// count, roles; chain id and node in the title.</summary>
    /// <param name="status">The node's <c>pot_status</c> result.</param>
    /// <returns>The table.</returns>
    public static Table StatusTable(JsonObject status)
    {
        string S(string key) => status[key] is JsonNode n ? n.ToJsonString().Trim('"') : "-";
        string hash = S("headHash");
        string address = S("address");
        var roles = status["roles"] is JsonArray a ? string.Join(",", a.Select(r => r?.ToString())) : "-";
        bool changing = status["changingView"] is JsonValue cv && cv.TryGetValue(out bool c) && c;
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"{Markup.Escape(S("chainId"))} · node {Markup.Escape(S("nodeId"))} {Markup.Escape(address.Length > 16 ? address[..10] + "…" + address[^4..] : address)}"
                + (changing ? " · [yellow]view change in progress[/]" : ""));
        foreach (string column in new[] { "height", "head", "view", "pbft/ckpt", "mempool", "vals", "roles" }) table.AddColumn(new TableColumn(column).NoWrap());
        table.AddRow(Markup.Escape(S("height")), Markup.Escape(hash.Length > 8 ? hash[..8] + "…" : hash),
            Markup.Escape(S("view")) + (changing ? "[yellow]*[/]" : ""), Markup.Escape(S("consensusHeight") + "/" + S("stableCheckpoint")),
            Markup.Escape(S("mempool")), Markup.Escape(S("validators")), Markup.Escape(roles.Length == 0 ? "-" : roles));
        return table;
    }

    /// <summary>Creates <c>pot status</c>.</summary>
    /// <returns>The command.</returns>
    public static Command CreateStatus()
    {
        var rpc = RpcOption();
        var json = CliSupport.JsonOption();
        var command = new Command("status", "Show a node's status as a compact table: chain id, node, head height and hash, PBFT view, height and stable checkpoint, mempool, validators, roles (--json: the full pot_status object, with uncertified payloads and the fee floor). The node's live dashboard is at its API URL in a browser.") { rpc, json };
        command.SetAction(async (r, cancellation) => await RunAsync(async () =>
        {
            var status = (JsonObject)(await CallAsync(r.GetValue(rpc)!, "pot_status", [], cancellation).ConfigureAwait(false))!;
            if (r.GetValue(json))
            {
                Console.WriteLine(status.ToJsonString());
                return 0;
            }
            AnsiConsole.Write(StatusTable(status));
            return 0;
        }).ConfigureAwait(false));
        return command;
    }

    /// <summary>Creates <c>pot tx</c> with transfer, stake and task create.</summary>
    /// <returns>The command.</returns>
    public static Command CreateTx()
    {
        var tx = new Command("tx", "Build, sign and submit transactions to a node over JSON-RPC (the nonce is read from the node).");
        {
            var to = new Option<string>("--to") { Description = "Recipient address (pot + 40 hex).", Required = true };
            var amount = new Option<ulong>("--amount") { Description = "Amount to send.", Required = true };
            var c = new Command("transfer", "Send tokens to an address.") { to, amount };
            AddCommon(c, (r, _) => new TransferPayload(ParseAddress(r.GetValue(to)!), r.GetValue(amount)));
            tx.Subcommands.Add(c);
        }
        {
            var amount = new Option<ulong>("--amount") { Description = "Amount to move from balance to stake.", Required = true };
            var c = new Command("stake", "Bond tokens (balance → stake).") { amount };
            AddCommon(c, (r, _) => new BondPayload(r.GetValue(amount)));
            tx.Subcommands.Add(c);
        }
        var task = new Command("task", "Training-task transactions.");
        {
            var spec = new Option<string>("--model-spec") { Description = "Model specification bytes as hex.", Required = true };
            var dataset = new Option<string>("--dataset") { Description = "Dataset commitment (64 hex).", Required = true };
            var initial = new Option<string>("--initial-root") { Description = "Initial model root (64 hex).", Required = true };
            var seed = new Option<ulong?>("--seed") { Description = "Initialisation seed (pretraining); omit for fine-tuning an existing model." };
            var hyper = new Option<string>("--hyper") { Description = "Hyper-parameter bytes as hex.", DefaultValueFactory = _ => "" };
            var verifiers = new Option<uint>("--verifiers") { Description = "Verifiers per submission c.", DefaultValueFactory = _ => 3 };
            var steps = new Option<uint>("--replayed-steps") { Description = "Replayed steps k.", DefaultValueFactory = _ => 2 };
            var leaves = new Option<uint>("--sampled-leaves") { Description = "Sampled leaves s.", DefaultValueFactory = _ => 16 };
            var margin = new Option<float>("--loss-margin") { Description = "Loss margin ε.", DefaultValueFactory = _ => 0.01f };
            var window = new Option<ulong>("--window") { Description = "Blocks W before a round may be finalized.", DefaultValueFactory = _ => 2 };
            var reward = new Option<ulong>("--reward") { Description = "Reward per round.", Required = true };
            var budget = new Option<ulong>("--budget") { Description = "Total budget escrowed from the sender's balance.", Required = true };
            var c = new Command("create", "Create a training task (escrows the budget).") { spec, dataset, initial, seed, hyper, verifiers, steps, leaves, margin, window, reward, budget };
            AddCommon(c, (r, _) => new CreateTaskPayload(Hex.Decode(r.GetValue(spec)!, "--model-spec"), Hex.Decode(r.GetValue(dataset)!, "--dataset", 32),
                Hex.Decode(r.GetValue(initial)!, "--initial-root", 32), r.GetValue(seed), Hex.Decode(r.GetValue(hyper)!, "--hyper"),
                new VerificationParameters(r.GetValue(verifiers), r.GetValue(steps), r.GetValue(leaves), BitConverter.SingleToUInt32Bits(r.GetValue(margin)), r.GetValue(window)),
                r.GetValue(reward), r.GetValue(budget)));
            task.Subcommands.Add(c);
        }
        tx.Subcommands.Add(task);
        return tx;
    }

    private static Option<string> RpcOption() => new("--rpc") { Description = "Node API base URL (its ApiListen), e.g. http://127.0.0.1:7200.", DefaultValueFactory = _ => "http://127.0.0.1:7200" };

    private static void AddCommon(Command c, Func<ParseResult, int, TransactionPayload> payload)
    {
        var rpc = RpcOption();
        var key = new Option<string>("--key") { Description = "Sender's encrypted key file.", Required = true };
        var passEnv = new Option<string>("--passphrase-env") { Description = "Environment variable holding the key-file passphrase.", DefaultValueFactory = _ => "POT_PASSPHRASE" };
        var passFile = new Option<string?>("--passphrase-file") { Description = "File whose first line is the passphrase (wins over --passphrase-env)." };
        var fee = new Option<ulong?>("--fee") { Description = "Fee (default: size × the chain's minFeePerByte)." };
        var nonce = new Option<ulong?>("--nonce") { Description = "Nonce (default: the account's next nonce from the node)." };
        var wait = new Option<bool>("--wait") { Description = "Wait (up to 60 s) until the transaction is committed." };
        var json = CliSupport.JsonOption();
        foreach (var o in new Option[] { rpc, key, passEnv, passFile, fee, nonce, wait, json }) c.Options.Add(o);
        c.SetAction(async (r, cancellation) => await RunAsync(async () =>
        {
            string url = r.GetValue(rpc)!;
            string? pf = r.GetValue(passFile);
            string passphrase = pf is not null ? File.ReadLines(pf).FirstOrDefault() ?? ""
                : Environment.GetEnvironmentVariable(r.GetValue(passEnv)!) ?? throw new CliUserException($"set the key-file passphrase in ${r.GetValue(passEnv)} or pass --passphrase-file");
            using var sender = KeyFile.Open(File.ReadAllBytes(r.GetValue(key)!), passphrase);
            var status = (JsonObject)(await CallAsync(url, "pot_status", [], cancellation).ConfigureAwait(false))!;
            string chainId = (string)status["chainId"]!;
            ulong perByte = (ulong)status["minFeePerByte"]!;
            ulong n = r.GetValue(nonce) ?? (ulong)(await CallAsync(url, "pot_getAccount", [sender.Address], cancellation).ConfigureAwait(false))!["nonce"]!;
            var body = payload(r, 0);
            ulong f = r.GetValue(fee) ?? 0;
            if (r.GetValue(fee) is null)
            {
                // The fee is inside the signed bytes, so iterate until size × rate is stable.
                for (int i = 0; i < 4; i++) f = (ulong)Transaction.EncodeUnsigned(chainId, sender.PublicKey, n, f, body).Length * perByte + 64 * perByte;
            }
            var tx = Transaction.Create(chainId, sender, n, f, body);
            var result = await CallAsync(url, "pot_sendTransaction", [Hex.Encode(tx.Encode())], cancellation).ConfigureAwait(false);
            string id = (string)result!["id"]!;
            JsonNode? final = result;
            if (r.GetValue(wait))
            {
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while (DateTime.UtcNow < deadline)
                {
                    final = await CallAsync(url, "pot_getTransactionStatus", [id], cancellation).ConfigureAwait(false);
                    if ((string)final!["status"]! == "committed") break;
                    await Task.Delay(200, cancellation).ConfigureAwait(false);
                }
            }
            if (r.GetValue(json)) Console.WriteLine(new JsonObject { ["id"] = id, ["nonce"] = n, ["fee"] = f, ["status"] = final?["status"]?.DeepClone(), ["height"] = final?["height"]?.DeepClone() }.ToJsonString());
            else Console.WriteLine($"{tx.Type} {id} nonce {n} fee {f}: {final?["status"]}{(final?["height"] is JsonNode h ? " at height " + h : "")}");
            return 0;
        }).ConfigureAwait(false));
    }

    private static byte[] ParseAddress(string text)
    {
        try
        {
            return AccountAddress.Parse(text);
        }
        catch (Exception ex) when (ex is PotFormatException or FormatException)
        {
            throw new ArgumentException($"--to '{text}': {ex.Message}");
        }
    }

    private static async Task<int> RunAsync(Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is CliUserException or ArgumentException or PotFormatException or IOException or HttpRequestException or RpcException or InvalidOperationException)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return CliErrors.UserError;
        }
    }

    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>Calls a JSON-RPC method; throws <see cref="RpcException"/> with the node's error.</summary>
    internal static async Task<JsonNode?> CallAsync(string baseUrl, string method, string[] args, CancellationToken cancellation)
    {
        var request = new JsonObject { ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = method, ["params"] = new JsonArray(args.Select(a => (JsonNode?)JsonValue.Create(a)).ToArray()) };
        using var response = await Http.PostAsJsonAsync(baseUrl.TrimEnd('/') + "/rpc", request, cancellation).ConfigureAwait(false);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellation).ConfigureAwait(false)) as JsonObject
            ?? throw new InvalidOperationException($"{baseUrl}: the answer is not a JSON-RPC object");
        if (json["error"] is JsonObject e) throw new RpcException((int)e["code"]!, $"{method}: {e["message"]}");
        return json["result"];
    }

    /// <summary>Creates <c>pot devnet</c>.</summary>
    /// <returns>The command.</returns>
    public static Command CreateDevnet()
    {
        var validators = new Option<int>("--validators") { Description = "Validators, each its own `pot node` process on loopback (1 to 16). Each is a verifier, and the aggregator of the rounds it finalizes.", DefaultValueFactory = _ => 4 };
        var miners = new Option<int>("--miners") { Description = "Miners, each its own follower `pot node` process (not a validator: it follows the chain by catch-up, trains, serves its chunks and submits). Cheaters included. 0 to 16.", DefaultValueFactory = _ => 4 };
        var rounds = new Option<int>("--rounds") { Description = "Training rounds to run through the protocol (with --task none: blocks of demo transfers).", DefaultValueFactory = _ => 5 };
        var task = new Option<string>("--task") { Description = "Protocol task every node runs: addition, addition3, kjv, fashion-mnist or tiny; \"none\" runs the old demo (validators only, transfers, no training).", DefaultValueFactory = _ => "addition" };
        var innerSteps = new Option<int>("--inner-steps") { Description = "Inner steps H each miner trains per round.", DefaultValueFactory = _ => 20 };
        var window = new Option<int>("--window-blocks") { Description = "Submission window W in blocks: a round's submissions close W blocks after it starts, then verifiers have up to W more blocks to attest before it is finalized (earlier once every assigned attestation is in).", DefaultValueFactory = _ => 40 };
        var schedule = new Option<int>("--schedule-rounds") { Description = "Rounds R over which the task's learning-rate schedule (warm-up, linear decay to its minimum) is spread: inner step j of round r runs at schedule step min(r, R)·H + j. 0 keeps the peak rate in every round. Set it to --rounds for a run of known length.", DefaultValueFactory = _ => 0 };
        var carry = new Option<bool>("--carry-optimizer") { Description = "Miners carry their AdamW state (moments and step count) from their last accepted submission into the next round instead of restarting it every round; verifiers check the link (TaskCarryOptimizer, docs/protocol.md)." };
        var interval = new Option<int>("--block-interval-ms") { Description = "EmptyBlockIntervalMs of the validators: while a round is open the primary proposes an empty block when this long has passed since the head (so a round lasts at most about W × this; transaction blocks make it shorter).", DefaultValueFactory = _ => 500 };
        var cheaters = new Option<string>("--cheaters") { Description = "Cheating miners, same syntax as `pot simulate protocol --cheaters`: comma-separated strategy[:count] (e.g. random-update, fabricate-step:2); they are the last miners. \"none\" for none.", DefaultValueFactory = _ => "none" };
        var byzantine = new Option<int>("--byzantine") { Description = "Validators (the last ones) started with the test-only fault switch Byzantine=equivocate: they send conflicting pre-prepares, prepares and commits to different peers. Safety and liveness hold while B <= f = (V - 1) / 3.", DefaultValueFactory = _ => 0 };
        var killMiner = new Option<int>("--kill-miner-after-round") { Description = "Fault injection: SIGKILL miner 0 once this round is finalized (-1: never). The remaining rounds must still finalize.", DefaultValueFactory = _ => -1 };
        var evalBatches = new Option<int>("--eval-batches") { Description = "Validation batches of each held-out evaluation (validators and the initial model).", DefaultValueFactory = _ => 5 };
        var txs = new Option<int>("--txs-per-round") { Description = "With --task none: demo transfers submitted per round.", DefaultValueFactory = _ => 4 };
        var timeout = new Option<int>("--timeout-s") { Description = "Give up after this many seconds (exit 1, the directory and its node logs are kept).", DefaultValueFactory = _ => 300 };
        var keep = new Option<bool>("--keep") { Description = "Keep the temporary directory (keys, genesis, configs, data, node logs) instead of deleting it." };
        var json = new Option<bool>("--json") { Description = "No live progress; the last stdout line is one JSON object: rounds, height, initialLoss, finalLoss, finalAccuracy, lossByRound, accepted, rejected, slashed, rewards, modelRoot, validatorsAgree, evaluationsAgree, miners (per-miner fate), seconds and more." };
        var stay = new Option<bool>("--stay") { Description = "With a task: after the rounds and the report (with --json the report line comes first), keep every node running, with its dashboard and API (e.g. for `pot model download --rpc URL --task 0`), until Ctrl-C or SIGTERM; the exit code is the report's." };
        var command = new Command("devnet", "Start a local training network and train a model through the protocol: keys and genesis in a temporary directory, every validator and every miner its own `pot node` process on loopback ports; miners train and submit, validators verify, attest, send fraud proofs, finalize rounds and evaluate each new model; live progress (height, round, held-out loss/accuracy, accepted/rejected/slashed, rewards). Ctrl-C stops every child. Exit 0 when the rounds finalized and the honest validators agree, 1 otherwise.")
        {
            validators, miners, rounds, task, innerSteps, window, schedule, carry, interval, cheaters, byzantine, killMiner, evalBatches, txs, timeout, keep, json, stay,
        };
        command.SetAction(async (r, cancellation) =>
        {
            int n = r.GetValue(validators);
            int rr = r.GetValue(rounds);
            string taskName = r.GetValue(task)!;
            if (taskName == "none")
            {
                if (n < 1 || n > 16 || rr < 0 || r.GetValue(txs) < 1 || r.GetValue(stay))
                {
                    Console.Error.WriteLine($"error: expected --validators 1..16 (got {n}), --rounds ≥ 0 (got {rr}), --txs-per-round ≥ 1, and no --stay (it needs a task)");
                    return CliErrors.UserError;
                }
                return await Devnet.RunAsync(n, rr, r.GetValue(txs), r.GetValue(timeout), r.GetValue(keep), r.GetValue(json), cancellation).ConfigureAwait(false);
            }
            int m = r.GetValue(miners);
            int b = r.GetValue(byzantine);
            IReadOnlyList<Pot.Protocol.MinerStrategy> cheating;
            Pot.Protocol.ProtocolTask protocolTask;
            try
            {
                cheating = Pot.Protocol.ProtocolSimulation.ParseCheaters(r.GetValue(cheaters)!);
                protocolTask = (taskName == "tiny" ? Pot.Protocol.ProtocolTask.Tiny() : Pot.Protocol.ProtocolTask.Default(taskName))
                    with { InnerSteps = r.GetValue(innerSteps), WindowBlocks = r.GetValue(window), ScheduleRounds = r.GetValue(schedule), CarryOptimizer = r.GetValue(carry) };
                protocolTask.Validate();
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FileNotFoundException or DirectoryNotFoundException)
            {
                Console.Error.WriteLine($"error: {ex.Message}");
                return CliErrors.UserError;
            }
            string? problem = n < 1 || n > 16 ? $"--validators must be 1..16 (got {n})"
                : m < 0 || m > 16 ? $"--miners must be 0..16 (got {m})"
                : rr < 1 ? $"--rounds must be at least 1 with a task (got {rr})"
                : cheating.Count > m ? $"--cheaters names {cheating.Count} miners but --miners is {m}; the cheaters are part of the miners"
                : b < 0 || 3 * b >= n ? $"--byzantine must be 0 ≤ B with 3B < validators (got {b} of {n})"
                : n < protocolTask.VerifiersPerSubmission ? $"{n} validators cannot supply c = {protocolTask.VerifiersPerSubmission} verifiers per submission"
                : r.GetValue(window) < 6 ? $"--window-blocks must be at least 6 (got {r.GetValue(window)})"
                : r.GetValue(interval) < 20 ? $"--block-interval-ms must be at least 20 (got {r.GetValue(interval)})"
                : r.GetValue(killMiner) >= rr - 1 && r.GetValue(killMiner) >= 0 ? $"--kill-miner-after-round must be below the last round ({rr - 1})"
                : r.GetValue(killMiner) >= 0 && m == 0 ? "--kill-miner-after-round needs a miner"
                : r.GetValue(evalBatches) < 1 ? "--eval-batches must be at least 1" : null;
            if (problem is not null)
            {
                Console.Error.WriteLine("error: " + problem);
                return CliErrors.UserError;
            }
            var strategies = Enumerable.Repeat(Pot.Protocol.MinerStrategy.Honest, m - cheating.Count).Concat(cheating).ToArray();
            var options = new TrainingDevnetOptions(n, strategies, rr, protocolTask, r.GetValue(interval), b, r.GetValue(killMiner), r.GetValue(evalBatches),
                r.GetValue(timeout), r.GetValue(keep), r.GetValue(json), r.GetValue(stay));
            return await TrainingDevnet.RunAsync(options, cancellation).ConfigureAwait(false);
        });
        return command;
    }
}

/// <summary>The devnet runner: child processes, load, progress and the final report.</summary>
internal static class Devnet
{
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    internal static extern int Kill(int pid, int signal);

    private const int SigTerm = 15;

    /// <summary>Ctrl-C cancels <paramref name="cts"/> instead of killing the process, until the result is disposed.</summary>
    /// <param name="cts">What Ctrl-C cancels.</param>
    /// <returns>Unsubscribes when disposed (idempotent).</returns>
    internal static IDisposable CancelOnCtrlC(CancellationTokenSource cts)
    {
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        return new Unsubscribe(() => Console.CancelKeyPress -= onCancel);
    }

    private sealed class Unsubscribe(Action action) : IDisposable
    {
        private Action? _action = action;

        public void Dispose() => Interlocked.Exchange(ref _action, null)?.Invoke();
    }

    public static async Task<int> RunAsync(int validators, int rounds, int txsPerRound, int timeoutS, bool keep, bool json, CancellationToken cancellation)
    {
        string dir = Path.Combine(Path.GetTempPath(), "pot-devnet-" + DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture) + "-" + Environment.ProcessId);
        var (nodes, _) = DevnetLayout.Create(dir, validators, new Dictionary<string, object> { ["ViewTimeoutMs"] = 2000 });
        var children = new List<Process>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var ctrlC = CancelOnCtrlC(cts);
        var started = Stopwatch.StartNew();
        int exit = 0;
        var report = new JsonObject();
        try
        {
            if (!json) Console.WriteLine($"devnet: {validators} validators, directory {dir}");
            foreach (var node in nodes) children.Add(StartChild(node, dir));
            using var alice = KeyFile.Open(File.ReadAllBytes(nodes[0].KeyPath), DevnetLayout.Passphrase);
            using var sink = Ed25519Keys.Generate();
            ulong nonce = 0;
            int submitted = 0;
            string rpc0 = nodes[0].ApiUrl;
            if (!json) Console.WriteLine($"dashboard: {rpc0}/  (open in a browser; every node serves one at its API URL)");
            var deadline = DateTime.UtcNow.AddSeconds(timeoutS);
            // Wait for every API to answer.
            JsonObject?[] statuses = new JsonObject?[validators];
            while (statuses.Any(s => s is null))
            {
                cts.Token.ThrowIfCancellationRequested();
                if (DateTime.UtcNow > deadline) throw new TimeoutException("nodes did not start in time; see node-*.log in " + dir);
                await Poll(nodes, statuses, cts.Token).ConfigureAwait(false);
                await Task.Delay(200, cts.Token).ConfigureAwait(false);
            }
            string chainId = (string)statuses[0]!["chainId"]!;
            ulong perByte = (ulong)statuses[0]!["minFeePerByte"]!;
            int round = 0;
            ulong roundTarget = 0;
            bool agree = false;
            while (true)
            {
                cts.Token.ThrowIfCancellationRequested();
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"devnet did not finish {rounds} rounds in {timeoutS} s; see node-*.log in {dir}");
                await Poll(nodes, statuses, cts.Token).ConfigureAwait(false);
                ulong minHeight = statuses.Min(s => s is null ? 0 : (ulong)s["height"]!);
                if (round < rounds && minHeight >= roundTarget)
                {
                    ulong h0 = statuses[0] is { } s0 ? (ulong)s0["height"]! : 0;
                    for (int i = 0; i < txsPerRound; i++, nonce++)
                    {
                        var payload = new TransferPayload(AccountAddress.Parse(sink.Address), 1 + (ulong)i);
                        ulong fee = ((ulong)Transaction.EncodeUnsigned(chainId, alice.PublicKey, nonce, 1000, payload).Length + 64) * perByte;
                        var tx = Transaction.Create(chainId, alice, nonce, fee, payload);
                        await NodeCommands.CallAsync(rpc0, "pot_sendTransaction", [Hex.Encode(tx.Encode())], cts.Token).ConfigureAwait(false);
                        submitted++;
                    }
                    round++;
                    roundTarget = h0 + 1;
                }
                if (!json) PrintProgress(statuses, round, rounds, submitted);
                if (round >= rounds && minHeight >= roundTarget)
                {
                    var hashes = statuses.Select(s => (string?)s?["headHash"]).Distinct().ToList();
                    var heights = statuses.Select(s => (ulong?)s?["height"]).Distinct().ToList();
                    if (hashes.Count == 1 && heights.Count == 1 && statuses[0]!["mempool"]!.GetValue<int>() == 0)
                    {
                        agree = true;
                        break;
                    }
                }
                await Task.Delay(300, cts.Token).ConfigureAwait(false);
            }
            report["validators"] = validators;
            report["rounds"] = round;
            report["height"] = (ulong)statuses[0]!["height"]!;
            report["headHash"] = (string)statuses[0]!["headHash"]!;
            report["validatorsAgree"] = agree;
            report["transactions"] = submitted;
            report["views"] = new JsonArray(statuses.Select(s => (JsonNode?)JsonValue.Create((long)s!["view"]!)).ToArray());
            report["seconds"] = Math.Round(started.Elapsed.TotalSeconds, 1);
            report["directory"] = keep ? dir : null;
            if (!json) Console.WriteLine($"done: height {report["height"]}, head {report["headHash"]}, validators agree: {agree}, {submitted} transactions in {report["seconds"]} s");
        }
        catch (OperationCanceledException)
        {
            if (!json) Console.WriteLine("interrupted: stopping every node");
            report["interrupted"] = true;
            exit = 130;
        }
        catch (Exception ex) when (ex is TimeoutException or HttpRequestException or RpcException or IOException)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            report["error"] = ex.Message;
            exit = 1;
        }
        finally
        {
            ctrlC.Dispose(); // before stopping the children: a second Ctrl-C then ends the process
            StopChildren(children);
            // A failed run keeps its directory: the error message points at the node logs in it.
            if (!keep && exit != 1)
            {
                try
                {
                    Directory.Delete(dir, recursive: true);
                }
                catch (IOException)
                {
                }
            }
        }
        if (json) Console.WriteLine(report.ToJsonString());
        return exit;
    }

    private static async Task Poll(IReadOnlyList<DevnetNode> nodes, JsonObject?[] statuses, CancellationToken cancellation)
    {
        for (int i = 0; i < nodes.Count; i++)
        {
            try
            {
                statuses[i] = (JsonObject?)await NodeCommands.CallAsync(nodes[i].ApiUrl, "pot_status", [], cancellation).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellation.IsCancellationRequested)
            {
            }
        }
    }

    private static void PrintProgress(JsonObject?[] statuses, int round, int rounds, int submitted)
    {
        var parts = statuses.Select((s, i) => s is null ? $"n{i}: -" : $"n{i}: h{s["height"]} v{s["view"]}");
        Console.WriteLine($"round {round}/{rounds}  txs {submitted}  " + string.Join("  ", parts));
    }

    internal static Process StartChild(DevnetNode node, string dir, string? logName = null)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find the pot executable");
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(Devnet).Assembly.Location);
        foreach (var a in new[] { "node", "--config", node.ConfigPath }) psi.ArgumentList.Add(a);
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start a node process");
        var log = new StreamWriter(Path.Combine(dir, logName ?? $"node-{node.Index}.log")) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    // SIGTERM lets each node's host stop cleanly (RocksDB closed); a node still running after 10 s is killed.
    internal static void StopChildren(List<Process> children)
    {
        foreach (var p in children)
        {
            if (p.HasExited) continue;
            if (OperatingSystem.IsWindows()) p.Kill();
            else _ = Kill(p.Id, SigTerm);
        }
        foreach (var p in children)
        {
            if (!p.WaitForExit(10_000)) p.Kill(entireProcessTree: true);
            p.Dispose();
        }
    }
}
