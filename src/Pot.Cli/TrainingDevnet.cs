using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Keys;
using Pot.Node;
using Pot.Protocol;

namespace Pot.Cli;

/// <summary>Settings of a training devnet.</summary>
/// <param name="Validators">Validator processes.</param>
/// <param name="Miners">One strategy per miner process.</param>
/// <param name="Rounds">Rounds to finalize.</param>
/// <param name="Task">The protocol task.</param>
/// <param name="BlockIntervalMs">EmptyBlockIntervalMs.</param>
/// <param name="Byzantine">Validators given Byzantine=equivocate (the last ones).</param>
/// <param name="KillMinerAfterRound">SIGKILL miner 0 once this round is finalized (−1: never).</param>
/// <param name="EvaluationBatches">Validation batches per evaluation.</param>
/// <param name="TimeoutS">Overall limit.</param>
/// <param name="Keep">Keep the directory.</param>
/// <param name="Json">JSON report instead of live lines.</param>
/// <param name="Stay">After the report, keep the nodes running until cancelled.</param>
internal sealed record TrainingDevnetOptions(int Validators, IReadOnlyList<MinerStrategy> Miners, int Rounds, ProtocolTask Task, int BlockIntervalMs, int Byzantine,
    int KillMinerAfterRound, int EvaluationBatches, int TimeoutS, bool Keep, bool Json, bool Stay = false);

/// <summary>
/// <c>pot devnet</c> with a task: lays out validators and miners, starts each as a <c>pot node</c> process, creates the
/// task from the owner once every validator registered as a verifier, follows the rounds on the validators' APIs
/// (GET /api/task/0/rounds) and reports the training and whether the honest validators agree.
/// </summary>
internal static class TrainingDevnet
{
    private const int SigKill = 9;

    public static async Task<int> RunAsync(TrainingDevnetOptions o, CancellationToken cancellation)
    {
        string dir = Path.Combine(Path.GetTempPath(), "pot-devnet-" + DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture) + "-" + Environment.ProcessId);
        var strategyNames = o.Miners.Select(s => s == MinerStrategy.Honest ? "honest" : ProtocolSimulation.StrategyName(s)).ToArray();
        var byzantine = Enumerable.Range(o.Validators - o.Byzantine, o.Byzantine).ToArray();
        var layout = DevnetLayout.CreateTraining(dir, o.Validators, o.Task, strategyNames, o.Rounds, new Dictionary<string, object>
        {
            ["ViewTimeoutMs"] = 3000,
            ["EmptyBlockIntervalMs"] = o.BlockIntervalMs,
            ["SyncIntervalMs"] = 150,
            ["EvaluationBatches"] = o.EvaluationBatches,
        }, byzantine);
        var honest = layout.Validators.Where(v => !byzantine.Contains(v.Index)).ToArray();
        var children = new List<Process>();
        var minerProcesses = new Process?[layout.Miners.Count];
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var ctrlC = Devnet.CancelOnCtrlC(cts);
        var started = Stopwatch.StartNew();
        int exit = 0;
        var report = new JsonObject();
        bool reported = false;
        void Say(string line)
        {
            if (!o.Json) Console.WriteLine(line);
        }
        try
        {
            Say($"devnet: {o.Validators} validators, {layout.Miners.Count} miners ({string.Join(", ", strategyNames.GroupBy(x => x).Select(g => $"{g.Count()} {g.Key}"))}), task {o.Task.Id} (H = {o.Task.InnerSteps}, W = {o.Task.WindowBlocks} blocks, empty block every {o.BlockIntervalMs} ms), {o.Rounds} rounds; directory {dir}");
            for (int i = 0; i < layout.Miners.Count; i++) Say($"  miner {i} ({strategyNames[i]}): {layout.Miners[i].Address}");
            foreach (var v in layout.Validators) children.Add(Devnet.StartChild(v, dir, $"validator-{v.Index}.log"));
            foreach (var m in layout.Miners)
            {
                var p = Devnet.StartChild(m, dir, $"miner-{m.Index - o.Validators}.log");
                children.Add(p);
                minerProcesses[m.Index - o.Validators] = p;
            }
            var deadline = DateTime.UtcNow.AddSeconds(o.TimeoutS);
            void CheckDeadline(string what)
            {
                cts.Token.ThrowIfCancellationRequested();
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"devnet: {what} within {o.TimeoutS} s; see the *.log files in {dir}");
            }

            // The initial model and its held-out loss (the same deterministic evaluation the validators run).
            var engine = new StepEngine(o.Task);
            float[] initial = engine.InitialModel();
            byte[] initialRoot = ModelCommitment.ComputeRoot([initial]);
            var initialEval = engine.Evaluate(initial, o.EvaluationBatches);
            Say(string.Create(CultureInfo.InvariantCulture, $"initial model {Hex.Encode(initialRoot)[..12]}: held-out loss {initialEval.ValidationLoss:F4}{(initialEval.Accuracy is double a0 ? $", accuracy {a0:F4}" : "")}"));

            // Every node's API answers.
            foreach (var node in layout.Validators.Concat(layout.Miners))
            {
                while (!await Answers(node, cts.Token).ConfigureAwait(false))
                {
                    CheckDeadline("the nodes did not start");
                    await Task.Delay(200, cts.Token).ConfigureAwait(false);
                }
            }
            Say($"nodes up after {started.Elapsed.TotalSeconds:F1} s; waiting for the validators to register as verifiers");
            string api0 = honest[0].ApiUrl;
            Say($"dashboard: {api0}/  (open in a browser: live head, validators, loss curve, slashes; every node serves one at its API URL)");
            while (true)
            {
                bool all = true;
                foreach (var v in layout.Validators)
                {
                    var account = await NodeCommands.CallAsync(api0, "pot_getAccount", [v.Address], cts.Token).ConfigureAwait(false);
                    all &= ((string?)account?["roles"] ?? "").Contains("Verifier", StringComparison.Ordinal);
                }
                if (all) break;
                CheckDeadline("the validators did not register as verifiers");
                await Task.Delay(300, cts.Token).ConfigureAwait(false);
            }

            // The owner creates the task (chain task id 0): reward per round and a budget for exactly the requested rounds.
            var status = (JsonObject)(await NodeCommands.CallAsync(api0, "pot_status", [], cts.Token).ConfigureAwait(false))!;
            string chainId = (string)status["chainId"]!;
            ulong perByte = (ulong)status["minFeePerByte"]!;
            using (var owner = KeyFile.Open(File.ReadAllBytes(layout.OwnerKeyPath), DevnetLayout.Passphrase))
            {
                var payload = new CreateTaskPayload(Hashing.Utf8(o.Task.Id), Hashing.Domain("pot/sim/dataset/v1", Hashing.Utf8(o.Task.Id)), initialRoot,
                    o.Task.InitialModel is null ? (ulong)o.Task.Training.Seed : null, Hashing.Utf8(o.Task.Id), PotProtocolRules.VerificationOf(o.Task),
                    o.Task.RewardPerRound, o.Task.RewardPerRound * (ulong)o.Rounds);
                ulong fee = 0;
                Transaction tx;
                while (true)
                {
                    tx = Transaction.Create(chainId, owner, 0, fee, payload);
                    if (fee >= (ulong)tx.Size * perByte) break;
                    fee = (ulong)tx.Size * perByte;
                }
                await NodeCommands.CallAsync(api0, "pot_sendTransaction", [Hex.Encode(tx.Encode())], cts.Token).ConfigureAwait(false);
            }
            Say("task created; training");

            JsonArray rounds = [];
            int printed = 0;
            bool killed = false;
            int? killedInRound = null;
            while (true)
            {
                CheckDeadline($"{o.Rounds} rounds were not finalized and evaluated");
                var source = await FirstAnswer(honest, "pot_getRounds", ["0"], cts.Token).ConfigureAwait(false);
                if (source is JsonArray arr) rounds = arr;
                var evaluated = rounds.TakeWhile(x => x?["validationLoss"] is not null).ToList();
                for (; printed < evaluated.Count; printed++)
                {
                    var x = evaluated[printed]!;
                    var acc = (double?)x["validationAccuracy"];
                    Say(string.Create(CultureInfo.InvariantCulture,
                        $"round {x["round"]} finalized at height {x["height"]}: held-out loss {(double)x["validationLoss"]!:F4}{(acc is double ac ? $", accuracy {ac:F4}" : "")}; accepted {x["accepted"]}, rejected {x["rejected"]}, slashed {x["slashed"]}, rewards {x["rewards"]}; model {((string)x["modelRoot"]!)[..12]}  [{started.Elapsed.TotalSeconds:F0} s]"));
                }
                // Killed as soon as the round is finalized (not evaluated: the evaluation can lag while the next round runs).
                // The round open at that moment is recorded: the miner may have submitted to it before it died, never to a later one.
                if (!killed && o.KillMinerAfterRound >= 0 && rounds.Count > o.KillMinerAfterRound && minerProcesses[0] is { HasExited: false } victim)
                {
                    Devnet.Kill(victim.Id, SigKill);
                    killed = true;
                    killedInRound = rounds.Count;
                    Say($"fault injection: miner 0 (pid {victim.Id}) killed with SIGKILL during round {killedInRound}");
                }
                if (evaluated.Count >= o.Rounds) break;
                if (!o.Json && printed == evaluated.Count)
                {
                    var head = await FirstAnswer(honest, "pot_getRound", ["0"], cts.Token).ConfigureAwait(false);
                    var st = await FirstAnswer(honest, "pot_status", [], cts.Token).ConfigureAwait(false);
                    if (head is not null && st is not null)
                        Console.WriteLine($"  height {st["height"]}, round {head["round"]}, pending submissions {head["pendingSubmissions"]}  [{started.Elapsed.TotalSeconds:F0} s]");
                }
                await Task.Delay(o.Json ? 300 : 1000, cts.Token).ConfigureAwait(false);
            }

            // Agreement: every honest validator has evaluated the rounds, and at one common height they hold the same block
            // hash and model root, and they recorded the same rounds (model roots and held-out evaluations).
            var histories = new string[honest.Length];
            for (int attempt = 0; ; attempt++)
            {
                for (int i = 0; i < honest.Length; i++)
                {
                    var h = await TryCall(honest[i], "pot_getRounds", ["0"], cts.Token).ConfigureAwait(false) as JsonArray;
                    var evaluatedThere = h?.TakeWhile(x => x?["validationLoss"] is not null).Take(o.Rounds).ToList() ?? [];
                    histories[i] = evaluatedThere.Count < o.Rounds ? "" : string.Join(";", evaluatedThere.Select(x => $"{x!["modelRoot"]}/{x["validationLoss"]}/{x["validationAccuracy"]}"));
                }
                if (histories.All(x => x.Length > 0) || attempt >= 120) break;
                CheckDeadline("the honest validators did not all evaluate the rounds");
                await Task.Delay(500, cts.Token).ConfigureAwait(false);
            }
            bool evaluationsAgree = histories.All(x => x.Length > 0) && histories.Distinct().Count() == 1;
            ulong common = ulong.MaxValue;
            foreach (var v in honest)
            {
                var st = await TryCall(v, "pot_status", [], cts.Token).ConfigureAwait(false);
                common = Math.Min(common, st is null ? 0 : (ulong)st["height"]!);
            }
            var blockHashes = new List<string?>();
            var roots = new List<string?>();
            foreach (var v in honest)
            {
                blockHashes.Add((string?)(await TryCall(v, "pot_getBlockByHeight", [common.ToString(CultureInfo.InvariantCulture)], cts.Token).ConfigureAwait(false))?["header"]?["hash"]);
                roots.Add((string?)(await TryCall(v, "pot_getModelRoot", ["0", common.ToString(CultureInfo.InvariantCulture)], cts.Token).ConfigureAwait(false))?["modelRoot"]);
            }
            bool agree = common > 0 && blockHashes.All(x => x is not null) && blockHashes.Distinct().Count() == 1 && roots.All(x => x is not null) && roots.Distinct().Count() == 1;
            var heads = new JsonObject?[] { new JsonObject { ["height"] = common, ["headHash"] = blockHashes[0] } };

            var done = rounds.Take(o.Rounds).Select(x => x!).ToList();
            var last = done[^1];
            var minersJson = new JsonArray();
            for (int i = 0; i < layout.Miners.Count; i++)
            {
                string address = layout.Miners[i].Address;
                int acc = done.Sum(x => ((JsonArray)x["acceptedMiners"]!).Count(a => (string?)a == address));
                var acceptedRounds = done.Where(x => ((JsonArray)x["acceptedMiners"]!).Any(a => (string?)a == address)).Select(x => (JsonNode?)JsonValue.Create((ulong)x["round"]!)).ToArray();
                int rej = done.Sum(x => ((JsonArray)x["rejectedMiners"]!).Count(a => (string?)a == address));
                bool slashed = done.Any(x => ((JsonArray)x["slashedAddresses"]!).Any(a => (string?)a == address));
                ulong reward = done.Aggregate(0UL, (s, x) => s + ((JsonObject)x["rewardsByAddress"]!).Where(kv => kv.Key == address).Aggregate(0UL, (t, kv) => t + (ulong)kv.Value!));
                minersJson.Add(new JsonObject
                {
                    ["index"] = i, ["address"] = address, ["strategy"] = strategyNames[i], ["accepted"] = acc, ["acceptedRounds"] = new JsonArray(acceptedRounds), ["rejected"] = rej, ["slashed"] = slashed, ["rewards"] = reward,
                    ["killed"] = killed && i == 0,
                });
            }
            report["validators"] = o.Validators;
            report["miners"] = minersJson;
            report["task"] = o.Task.Id;
            report["innerSteps"] = o.Task.InnerSteps;
            report["windowBlocks"] = o.Task.WindowBlocks;
            report["rounds"] = done.Count;
            report["dashboard"] = api0 + "/";
            report["height"] = (ulong)heads[0]!["height"]!;
            report["headHash"] = (string?)heads[0]!["headHash"];
            report["initialLoss"] = initialEval.ValidationLoss;
            report["initialAccuracy"] = initialEval.Accuracy;
            report["finalLoss"] = (double)last["validationLoss"]!;
            report["finalAccuracy"] = (double?)last["validationAccuracy"];
            report["lossByRound"] = new JsonArray(done.Select(x => (JsonNode?)JsonValue.Create((double)x["validationLoss"]!)).ToArray());
            report["accepted"] = done.Sum(x => (int)x["accepted"]!);
            report["rejected"] = done.Sum(x => (int)x["rejected"]!);
            report["slashed"] = done.Sum(x => (int)x["slashed"]!);
            report["rewards"] = done.Aggregate(0UL, (s, x) => s + (ulong)x["rewards"]!);
            report["modelRoot"] = (string)last["modelRoot"]!;
            report["validatorsAgree"] = agree;
            report["evaluationsAgree"] = evaluationsAgree;
            report["byzantine"] = o.Byzantine;
            report["minerKilled"] = killed;
            report["minerKilledInRound"] = killedInRound;
            report["seconds"] = Math.Round(started.Elapsed.TotalSeconds, 1);
            report["directory"] = o.Keep ? dir : null;
            Say(string.Create(CultureInfo.InvariantCulture,
                $"done: {done.Count} rounds, held-out loss {initialEval.ValidationLoss:F4} -> {(double)last["validationLoss"]!:F4}; accepted {report["accepted"]}, rejected {report["rejected"]}, slashed {report["slashed"]}; height {report["height"]}; honest validators agree on head and model: {agree}; evaluations agree: {evaluationsAgree}; {report["seconds"]} s"));
            foreach (var m in minersJson)
                Say($"  miner {m!["index"]} ({m["strategy"]}{((bool)m["killed"]! ? ", killed" : "")}): accepted {m["accepted"]}, rejected {m["rejected"]}{((bool)m["slashed"]! ? ", slashed" : "")}, rewards {m["rewards"]}");
            if (!agree || !evaluationsAgree)
            {
                Console.Error.WriteLine($"error: the honest validators disagree (head/model agree: {agree}, evaluations agree: {evaluationsAgree}); see the *.log files in {dir}");
                exit = 1;
            }
            if (o.Stay)
            {
                if (o.Json)
                {
                    Console.WriteLine(report.ToJsonString());
                    reported = true;
                }
                Say($"the nodes keep running (--stay): dashboard {api0}/, API {string.Join(", ", layout.Validators.Select(v => v.ApiUrl))}; e.g. pot model download --rpc {api0} --task 0 --out model.safetensors; Ctrl-C stops every node");
                try
                {
                    await Task.Delay(Timeout.Infinite, cts.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    Say("stopping every node");
                }
            }
        }
        catch (OperationCanceledException)
        {
            Say("interrupted: stopping every node");
            report["interrupted"] = true;
            exit = 130;
        }
        catch (Exception ex) when (ex is TimeoutException or HttpRequestException or RpcException or IOException or InvalidOperationException)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            report["error"] = ex.Message;
            report["directory"] = dir;
            exit = 1;
        }
        finally
        {
            ctrlC.Dispose(); // before stopping the children: a second Ctrl-C then ends the process
            Devnet.StopChildren(children);
            // A failed run keeps its directory: the error message points at the node logs in it.
            if (!o.Keep && exit != 1)
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
        if (o.Json && !reported) Console.WriteLine(report.ToJsonString());
        return exit;
    }

    private static async Task<bool> Answers(DevnetNode node, CancellationToken cancellation) =>
        await TryCall(node, "pot_status", [], cancellation).ConfigureAwait(false) is not null;

    private static async Task<JsonNode?> TryCall(DevnetNode node, string method, string[] args, CancellationToken cancellation)
    {
        try
        {
            return await NodeCommands.CallAsync(node.ApiUrl, method, args, cancellation).ConfigureAwait(false);
        }
        catch (Exception ex) when ((ex is HttpRequestException or TaskCanceledException or RpcException or IOException) && !cancellation.IsCancellationRequested)
        {
            return null;
        }
    }

    private static async Task<JsonNode?> FirstAnswer(IEnumerable<DevnetNode> nodes, string method, string[] args, CancellationToken cancellation)
    {
        foreach (var node in nodes)
        {
            if (await TryCall(node, method, args, cancellation).ConfigureAwait(false) is { } answer) return answer;
        }
        return null;
    }
}
