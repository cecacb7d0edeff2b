using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Pot.Protocol;

namespace Pot.Cli;

/// <summary>The protocol commands: <c>pot simulate protocol</c>.</summary>
public static class ProtocolCommands
{
    /// <summary>
    /// Creates the <c>protocol</c> subcommand (meant to be attached under <c>pot simulate</c>): runs whole
    /// Proof-of-Training rounds in one process with the real engine, commitments and signatures.
    /// </summary>
    /// <returns>The command.</returns>
    public static Command CreateProtocolSimulation()
    {
        var validators = new Option<int>("--validators") { Description = "Validators (each is also a verifier).", DefaultValueFactory = _ => 4 };
        var minersOpt = new Option<int>("--miners") { Description = "Miners in total (cheaters included).", DefaultValueFactory = _ => 4 };
        var cheaters = new Option<string>("--cheaters") { Description = "Cheating miners: comma-separated strategy[:count], e.g. fabricate-step:1,copy-noisy (\"none\" for none).", DefaultValueFactory = _ => "none" };
        var rounds = new Option<int>("--rounds") { Description = "Rounds.", DefaultValueFactory = _ => 3 };
        var task = new Option<string>("--task") { Description = "Engine task (addition, addition3, kjv, fashion-mnist) or \"tiny\" (1-layer addition model, H = 4).", DefaultValueFactory = _ => "addition" };
        var innerSteps = new Option<int?>("--inner-steps") { Description = "Inner steps H (default: 50, or 4 for tiny)." };
        var lazy = new Option<int>("--lazy-verifiers") { Description = "Validators that accept without checking.", DefaultValueFactory = _ => 0 };
        var malicious = new Option<int>("--malicious-verifiers") { Description = "Validators that reject everything with fabricated fraud proofs.", DefaultValueFactory = _ => 0 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the simulated keys (and so of every beacon).", DefaultValueFactory = _ => 1UL };
        var dataDir = new Option<string?>("--data-dir") { Description = "Directory for the RocksDB stores (chain, one chunk store per miner and per validator); kept afterwards. Default: a temporary directory, deleted at the end." };
        var evalRows = new Option<int?>("--eval-rows") { Description = "Rows of each usefulness / own-data evaluation batch (default 32; 128 for tiny)." };
        var carry = new Option<bool>("--carry-optimizer") { Description = "Miners carry their AdamW state (moments, step count) from their last accepted submission into the next round; verifiers check the link (ProtocolTask.CarryOptimizer, docs/protocol.md §1a)." };
        var json = new Option<bool>("--json") { Description = "The last stdout line is one JSON object with the totals (rounds, initialLoss, finalLoss, initialAccuracy, finalAccuracy, accepted, rejected, slashedHonest, slashedCheaters, cheatersUndetected, verifierCpuSeconds, minerCpuSeconds, and more)." };
        var command = new Command("protocol", "Simulate Proof-of-Training rounds in one process on the real chain: a genesis and a create-task transaction, blocks built by the ledger and committed with certificates signed by every validator into a RocksDB chain store; miners train and commit (RocksDB chunk stores), verifiers check and attest, fraud proofs are judged by the chain's protocol rules, rounds finalize, the primary aggregates and validators spot-check it. Exit code 1 when an honest party was slashed or the chain refused a transaction the harness expected to apply.")
        {
            validators, minersOpt, cheaters, rounds, task, innerSteps, lazy, malicious, seed, dataDir, evalRows, carry, json,
        };
        command.SetAction(r => CliErrors.Run(() =>
        {
            string taskName = r.GetValue(task)!;
            var protocolTask = taskName == "tiny" ? ProtocolTask.Tiny() : ProtocolTask.Default(taskName);
            if (r.GetValue(innerSteps) is int h)
            {
                protocolTask = protocolTask with { InnerSteps = h };
            }
            if (r.GetValue(evalRows) is int rows)
            {
                protocolTask = protocolTask with { EvalBatchSize = rows };
            }
            protocolTask = protocolTask with { CarryOptimizer = r.GetValue(carry) };
            var cheating = ProtocolSimulation.ParseCheaters(r.GetValue(cheaters)!);
            int total = r.GetValue(minersOpt);
            if (cheating.Count > total)
            {
                throw new ArgumentException($"--cheaters names {cheating.Count} miners but --miners is {total}; the cheaters are part of the miners");
            }
            var strategies = Enumerable.Repeat(MinerStrategy.Honest, total - cheating.Count).Concat(cheating).ToArray();
            var verifierStrategies = Enumerable.Repeat(VerifierStrategy.Lazy, r.GetValue(lazy)).Concat(Enumerable.Repeat(VerifierStrategy.Malicious, r.GetValue(malicious))).ToArray();
            bool asJson = r.GetValue(json);
            var report = ProtocolSimulation.Run(new SimulationOptions
            {
                Task = protocolTask, Validators = r.GetValue(validators), Miners = strategies, Rounds = r.GetValue(rounds),
                VerifierStrategies = verifierStrategies, Seed = r.GetValue(seed), DataDirectory = r.GetValue(dataDir),
            }, round => Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"round {round.Round}: held-out loss {round.ValidationLoss:F4}{(round.ValidationAccuracy is { } acc ? $", accuracy {acc:P1}" : "")}, accepted {round.Accepted}, rejected {round.Rejected}, aggregation leaf failures {round.AggregationLeafFailures}")));
            foreach (var s in report.Submissions.Where(s => !s.Accepted || s.Cheated))
            {
                Console.WriteLine($"  round {s.Round} miner {s.Miner} ({ProtocolSimulation.StrategyName(s.Strategy)}): {(s.Accepted ? "accepted" : "rejected")}{(s.Slashed ? ", slashed" : "")} {s.RejectedBy}");
            }
            double ratio = report.MinerCpuSeconds > 0 ? report.VerifierCpuSeconds / report.MinerCpuSeconds : 0;
            double perVerification = report.Verifications > 0 && report.Submissions.Count > 0
                ? (report.VerifierCpuSeconds / report.Verifications) / (report.MinerCpuSeconds / report.Submissions.Count) : 0;
            if (asJson)
            {
                var o = new JsonObject
                {
                    ["rounds"] = report.Rounds,
                    ["initialLoss"] = report.InitialLoss,
                    ["finalLoss"] = report.FinalLoss,
                    ["initialAccuracy"] = report.InitialAccuracy,
                    ["finalAccuracy"] = report.FinalAccuracy,
                    ["accepted"] = report.Accepted,
                    ["rejected"] = report.Rejected,
                    ["slashedHonest"] = report.SlashedHonest,
                    ["slashedCheaters"] = report.SlashedCheaters,
                    ["cheatersUndetected"] = report.CheatersUndetected,
                    ["honestRejected"] = report.HonestRejected,
                    ["verifierCpuSeconds"] = report.VerifierCpuSeconds,
                    ["minerCpuSeconds"] = report.MinerCpuSeconds,
                    ["verifierToMinerCpuRatio"] = ratio,
                    ["perVerificationToPerSubmissionCpuRatio"] = perVerification,
                    ["verifications"] = report.Verifications,
                    ["supplyConserved"] = report.SupplyConserved,
                    ["finalModelRoot"] = report.FinalModelRoot,
                    ["lossByRound"] = new JsonArray(report.RoundReports.Select(x => (JsonNode)JsonValue.Create(x.ValidationLoss)).ToArray()),
                    ["accuracyByRound"] = new JsonArray(report.RoundReports.Select(x => (JsonNode?)JsonValue.Create(x.ValidationAccuracy)).ToArray()),
                    ["chainHeight"] = report.ChainHeight,
                    ["verifierCpuSecondsByCheck"] = new JsonObject(Enum.GetValues<CheckKind>().Where(k => k != CheckKind.None)
                        .Select(k => KeyValuePair.Create(k.ToString(), (JsonNode?)JsonValue.Create(Math.Round(report.Checks.Seconds(k), 4))))),
                };
                Console.WriteLine(o.ToJsonString());
            }
            else
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"loss {report.InitialLoss:F4} -> {report.FinalLoss:F4}; accepted {report.Accepted}, rejected {report.Rejected}; slashed honest {report.SlashedHonest}, cheaters {report.SlashedCheaters}; undetected cheaters {report.CheatersUndetected}; verifier CPU {report.VerifierCpuSeconds:F2}s vs miner CPU {report.MinerCpuSeconds:F2}s (total ratio {ratio:P1}, per verification vs per submission {perVerification:P1})"));
            }
            foreach (string problem in report.UnexpectedRejections)
            {
                Console.Error.WriteLine("unexpected rejection: " + problem);
            }
            return report.SlashedHonest == 0 && report.UnexpectedRejections.Count == 0 ? 0 : 1;
        }));
        return command;
    }
}
