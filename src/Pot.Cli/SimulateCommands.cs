using System.CommandLine;
using System.Text.Json;
using Pot.Simulation;
using Spectre.Console;

namespace Pot.Cli;

/// <summary>The <c>pot simulate</c> command group: deterministic, seed-replayable simulations.</summary>
public static class SimulateCommands
{
    /// <summary>Creates <c>simulate</c> with its <c>consensus</c> subcommand.</summary>
    /// <returns>The command.</returns>
    public static Command Create()
    {
        var simulate = new Command("simulate", "Run deterministic, seed-replayable simulations.");
        simulate.Subcommands.Add(CreateConsensus());
        simulate.Subcommands.Add(ProtocolCommands.CreateProtocolSimulation());
        simulate.Subcommands.Add(SimulateNetworkCommand.Create());
        return simulate;
    }

    private static Command CreateConsensus()
    {
        var validators = new Option<int>("--validators", "-n") { Description = "Number of validators n (f = (n-1)/3 faults tolerated).", DefaultValueFactory = _ => 4 };
        var byzantine = new Option<int>("--byzantine", "-b") { Description = "Number of Byzantine validators B; B > f is expected to break safety.", DefaultValueFactory = _ => 0 };
        var seeds = new Option<int>("--seeds", "-s") { Description = "Number of seeds to run (seed, seed+1, ...).", DefaultValueFactory = _ => 100 };
        var seed = new Option<ulong>("--seed") { Description = "First seed. Replay one failing run with --seeds 1 --seed X.", DefaultValueFactory = _ => 1UL };
        var json = new Option<bool>("--json") { Description = "Print the summary as one JSON object on the last line of stdout." };
        var ed25519 = new Option<bool>("--ed25519") { Description = "Sign with Ed25519 instead of the fast simulation keyed hash (much slower)." };
        validators.Validators.Add(r =>
        {
            int n = r.GetValueOrDefault<int>();
            if (n < 1 || n > 200) r.AddError($"--validators must be between 1 and 200, got {n}.");
        });
        byzantine.Validators.Add(r =>
        {
            int b = r.GetValueOrDefault<int>();
            if (b < 0) r.AddError($"--byzantine must be 0 or more, got {b}.");
        });
        seeds.Validators.Add(r =>
        {
            int s = r.GetValueOrDefault<int>();
            if (s < 1 || s > 10_000_000) r.AddError($"--seeds must be between 1 and 10000000, got {s}.");
        });

        var command = new Command("consensus", "Simulate PBFT consensus under message loss, delay, duplication, reordering, partitions, crashes, restarts and Byzantine validators; check agreement, validity and liveness on every seed.")
        {
            validators, byzantine, seeds, seed, json, ed25519,
        };
        command.SetAction(parse =>
        {
            int n = parse.GetValue(validators);
            int b = parse.GetValue(byzantine);
            int count = parse.GetValue(seeds);
            ulong first = parse.GetValue(seed);
            bool asJson = parse.GetValue(json);
            if (b > n)
            {
                Console.Error.WriteLine($"error: --byzantine {b} exceeds --validators {n}; expected 0 <= B <= n.");
                return 2;
            }
            var template = new SimulationOptions { Validators = n, Byzantine = b, UseEd25519 = parse.GetValue(ed25519) };
            var started = System.Diagnostics.Stopwatch.StartNew();
            SimulationSummary summary;
            if (asJson)
            {
                summary = SimulationRunner.RunMany(template, first, count);
            }
            else if (Console.IsOutputRedirected)
            {
                // Line progress: one line per tenth of the seeds.
                int done = 0;
                int every = Math.Max(1, count / 10);
                var gate = new object();
                summary = SimulationRunner.RunMany(template, first, count, _ =>
                {
                    lock (gate)
                    {
                        done++;
                        if (done % every == 0 && done < count) Console.WriteLine($"seeds {done}/{count}  [{started.Elapsed.TotalSeconds:F0} s]");
                    }
                });
            }
            else
            {
                summary = null!;
                AnsiConsole.Progress().Start(ctx =>
                {
                    var task = ctx.AddTask($"n={n} B={b} seeds", maxValue: count);
                    var gate = new object();
                    summary = SimulationRunner.RunMany(template, first, count, _ => { lock (gate) task.Increment(1); });
                });
            }
            double seconds = started.Elapsed.TotalSeconds;
            foreach (var failure in summary.Failures)
            {
                string kind = failure.SafetyViolation is not null ? "SAFETY" : "LIVENESS";
                string byz = string.Join(", ", failure.Byzantine.Select(p => $"{p.Key}:{p.Value}"));
                Console.Error.WriteLine($"{kind} seed {failure.Seed} (byzantine {byz}): {failure.SafetyViolation ?? failure.LivenessFailure}");
                Console.Error.WriteLine($"  replay: {SimulationRunner.ReplayCommand(n, b, failure.Seed)}");
            }
            if (asJson)
            {
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["validators"] = n,
                    ["byzantine"] = b,
                    ["firstSeed"] = first,
                    ["runs"] = summary.Runs,
                    ["safetyViolations"] = summary.SafetyViolations,
                    ["livenessFailures"] = summary.LivenessFailures,
                    ["blocksCommitted"] = summary.BlocksCommitted,
                    ["viewChanges"] = summary.ViewChanges,
                    ["messages"] = summary.Messages,
                    ["failingSeeds"] = summary.FailingSeeds,
                    ["seconds"] = Math.Round(seconds, 3),
                    ["drops"] = summary.Drops.ToDictionary(p => p.Key.ToString(), p => p.Value),
                }));
            }
            else
            {
                var table = new Table().AddColumns("runs", "safety violations", "liveness failures", "blocks", "view changes", "messages", "seeds/s");
                table.AddRow($"{summary.Runs}", $"{summary.SafetyViolations}", $"{summary.LivenessFailures}", $"{summary.BlocksCommitted}", $"{summary.ViewChanges}", $"{summary.Messages}", $"{summary.Runs / Math.Max(seconds, 1e-9):F1}");
                AnsiConsole.Write(table);
            }
            return summary.FailingSeeds.Count == 0 ? 0 : 1;
        });
        return command;
    }
}
