using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Pot.Simulation;
using Spectre.Console;

namespace Pot.Cli;

/// <summary>The <c>pot simulate network</c> command: PBFT validators and modeled miners at scale (docs/simulation-scale.md).</summary>
public static class SimulateNetworkCommand
{
    /// <summary>Creates <c>network</c>.</summary>
    /// <returns>The command.</returns>
    public static Command Create()
    {
        var defaults = new NetworkSimulationOptions();
        var miners = new Option<int>("--miners") { Description = "Miners M (training modeled by measured CPU time).", DefaultValueFactory = _ => defaults.Miners };
        var validators = new Option<int>("--validators") { Description = "Validators n, each a real PBFT replica and a verifier.", DefaultValueFactory = _ => defaults.Validators };
        var rounds = new Option<int>("--rounds") { Description = "Protocol rounds to finalize.", DefaultValueFactory = _ => defaults.Rounds };
        var faults = new Option<string>("--faults") { Description = "Comma-separated faults: miners-crash=F (fraction), validators-crash=K|f, partition=FRACTION@START-END (seconds; repeatable); 'none' for none.", DefaultValueFactory = _ => "none" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of every random choice; the same seed gives the same result.", DefaultValueFactory = _ => 1UL };
        var blockMs = new Option<long>("--block-interval-ms") { Description = "Block cadence: every interval the mempool's new transactions go to consensus.", DefaultValueFactory = _ => defaults.BlockIntervalMs };
        var window = new Option<int>("--window") { Description = "Submission window W in blocks.", DefaultValueFactory = _ => defaults.WindowBlocks };
        var attestBlocks = new Option<int>("--attestation-blocks") { Description = "Blocks after the window for attestations before the finalize.", DefaultValueFactory = _ => defaults.AttestationBlocks };
        var verifiers = new Option<int>("--verifiers") { Description = "Verifiers per submission c.", DefaultValueFactory = _ => defaults.VerifiersPerSubmission };
        var minerSeconds = new Option<double>("--miner-seconds") { Description = "Miner CPU seconds per submission (measured default, docs/simulation-scale.md).", DefaultValueFactory = _ => defaults.MinerSeconds };
        var verifySeconds = new Option<double>("--verification-seconds") { Description = "Verifier CPU seconds per verification (measured default).", DefaultValueFactory = _ => defaults.VerificationSeconds };
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object on the last line of stdout." };
        var command = new Command("network", "Simulate a Proof-of-Training network at scale: real PBFT replicas for the validators, the protocol's verifier assignment, window and finalization rule for miners whose compute is modeled by measured costs, per-node latency and bandwidth, crash and partition faults. Reports finality latency, rounds completed, uptime (rounds finalized on time) and the simulator's own memory and CPU time.")
        {
            miners, validators, rounds, faults, seed, blockMs, window, attestBlocks, verifiers, minerSeconds, verifySeconds, json,
        };
        command.SetAction(parse => CliErrors.Run(() =>
        {
            int n = parse.GetValue(validators);
            var options = defaults with
            {
                Miners = parse.GetValue(miners),
                Validators = n,
                Rounds = parse.GetValue(rounds),
                Seed = parse.GetValue(seed),
                Faults = NetworkFaults.Parse(parse.GetValue(faults), n),
                BlockIntervalMs = parse.GetValue(blockMs),
                WindowBlocks = parse.GetValue(window),
                AttestationBlocks = parse.GetValue(attestBlocks),
                VerifiersPerSubmission = parse.GetValue(verifiers),
                MinerSeconds = parse.GetValue(minerSeconds),
                VerificationSeconds = parse.GetValue(verifySeconds),
            };
            var process = Process.GetCurrentProcess();
            var cpuBefore = process.TotalProcessorTime;
            var wall = Stopwatch.StartNew();
            var simulation = new NetworkSimulation(options);
            NetworkSimulationResult result;
            string RoundLine(NetworkRound r) => string.Create(CultureInfo.InvariantCulture,
                $"round {r.Round + 1}/{options.Rounds} finalized at {r.FinalizedMs / 1000.0:F1} s virtual ({(r.OnTime ? "on time" : "LATE")}): included {r.Included}, accepted {r.Accepted}, late {r.Late}  [{wall.Elapsed.TotalSeconds:F0} s]");
            if (parse.GetValue(json))
            {
                result = simulation.Run();
            }
            else if (Console.IsOutputRedirected)
            {
                // Line progress: one line per finalized round (a run at scale takes minutes).
                result = simulation.Run(r => Console.WriteLine(RoundLine(r)));
            }
            else
            {
                result = null!;
                AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .Start(ctx =>
                    {
                        var bar = ctx.AddTask($"{options.Miners} miners, {n} validators: round 1/{options.Rounds}", maxValue: options.Rounds);
                        result = simulation.Run(r =>
                        {
                            bar.Increment(1);
                            bar.Description = Markup.Escape(RoundLine(r));
                        });
                    });
            }
            wall.Stop();
            process.Refresh();
            var machine = new JsonObject
            {
                ["cpuSeconds"] = Math.Round((process.TotalProcessorTime - cpuBefore).TotalSeconds, 2),
                ["wallSeconds"] = Math.Round(wall.Elapsed.TotalSeconds, 2),
                ["peakWorkingSetMb"] = Math.Round(process.PeakWorkingSet64 / 1048576.0, 1),
                ["gcHeapMb"] = Math.Round(GC.GetGCMemoryInfo().HeapSizeBytes / 1048576.0, 1),
                ["gcTotalAllocatedMb"] = Math.Round(GC.GetTotalAllocatedBytes() / 1048576.0, 1),
                ["processorCount"] = Environment.ProcessorCount,
            };
            if (parse.GetValue(json))
            {
                var node = JsonNode.Parse(ResultJson(result))!.AsObject();
                node["machine"] = machine;
                Console.WriteLine(node.ToJsonString());
            }
            else
            {
                var table = new Table().AddColumns("round", "start s", "finalized s", "on time", "included", "late", "accepted", "attestations");
                foreach (var r in result.PerRound)
                {
                    table.AddRow($"{r.Round}", $"{r.StartMs / 1000.0:F1}", $"{r.FinalizedMs / 1000.0:F1}", r.OnTime ? "yes" : "NO", $"{r.Included}", $"{r.Late}", $"{r.Accepted}", $"{r.Attestations}");
                }
                AnsiConsole.Write(table);
                AnsiConsole.WriteLine($"rounds completed {result.RoundsCompleted}/{options.Rounds}, uptime {result.Uptime:P2}, finality median {result.FinalityMedianMs:F0} ms, p99 {result.FinalityP99Ms:F0} ms, max view {result.MaxView}");
                AnsiConsole.WriteLine($"crashed miners {result.CrashedMiners}, crashed validators {result.CrashedValidators}, blocks {result.Blocks}, messages {result.MessagesDelivered}, virtual {result.VirtualMs / 1000.0:F1} s");
                AnsiConsole.WriteLine($"simulator: {machine["cpuSeconds"]} CPU s, {machine["wallSeconds"]} wall s, peak working set {machine["peakWorkingSetMb"]} MB, GC heap {machine["gcHeapMb"]} MB");
            }
            return CliErrors.Success;
        }));
        return command;
    }

    /// <summary>The deterministic part of the result as compact JSON (no machine figures): equal for equal seeds.</summary>
    /// <param name="result">The result.</param>
    /// <returns>JSON text.</returns>
    public static string ResultJson(NetworkSimulationResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var options = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };
        return JsonSerializer.Serialize(result, options);
    }
}
