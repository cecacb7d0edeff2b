using Pot.Consensus;

namespace Pot.Simulation;

/// <summary>Totals over many seeds.</summary>
public sealed record SimulationSummary
{
    /// <summary>Runs executed.</summary>
    public required int Runs { get; init; }
    /// <summary>Runs with a safety violation.</summary>
    public required int SafetyViolations { get; init; }
    /// <summary>Runs that failed liveness.</summary>
    public required int LivenessFailures { get; init; }
    /// <summary>Sum over runs of the highest honest height.</summary>
    public required long BlocksCommitted { get; init; }
    /// <summary>Sum over runs of the highest honest view.</summary>
    public required long ViewChanges { get; init; }
    /// <summary>Messages delivered over all runs.</summary>
    public required long Messages { get; init; }
    /// <summary>Seeds that failed, in order.</summary>
    public required IReadOnlyList<ulong> FailingSeeds { get; init; }
    /// <summary>Failed runs' results (at most 20), for reporting.</summary>
    public required IReadOnlyList<SimulationResult> Failures { get; init; }
    /// <summary>Drop counters summed over runs.</summary>
    public required IReadOnlyDictionary<DropReason, long> Drops { get; init; }
}

/// <summary>Runs the two-phase scenario (faults, then a healed quorum) for one seed or many.</summary>
public static class SimulationRunner
{
    /// <summary>The command that replays one seed of the random scenario.</summary>
    /// <param name="validators">n.</param>
    /// <param name="byzantine">B.</param>
    /// <param name="seed">Seed.</param>
    /// <returns>A shell command.</returns>
    public static string ReplayCommand(int validators, int byzantine, ulong seed) =>
        $"dotnet run --project src/Pot.Cli -c Release -- simulate consensus --validators {validators} --byzantine {byzantine} --seeds 1 --seed {seed}";

    /// <summary>Runs one seed: a safety phase with random faults, then a liveness phase in which the network heals and every crashed replica restarts; every honest replica must then commit a block above the highest height reached in the safety phase.</summary>
    /// <param name="options">Run parameters.</param>
    /// <returns>The result.</returns>
    public static SimulationResult Run(SimulationOptions options)
    {
        var sim = new Simulation(options);
        var rng = new Prng(options.Seed ^ 0x5DEECE66DUL);
        ScheduleClients(sim, rng, options.SafetyPhaseMs + options.LivenessPhaseMs);
        if (options.RandomFaults) ScheduleFaults(sim, rng);
        sim.RunUntil(options.SafetyPhaseMs);
        return RunLivenessPhase(sim);
    }

    /// <summary>Heals the network, restarts every crashed process and requires every honest replica to commit above the current highest honest height.</summary>
    /// <param name="sim">Simulation after its safety phase.</param>
    /// <returns>The result.</returns>
    public static SimulationResult RunLivenessPhase(Simulation sim)
    {
        sim.Heal();
        sim.DisarmCrashes();
        sim.SetNetwork(0, sim.Options.DuplicateRate, 20);
        foreach (int id in sim.NodeIds) sim.Restart(id);
        long target = sim.MaxHonestHeight() + 1;
        var validators = sim.NodeIds.Where(id => id < sim.Options.Validators && sim.IsHonest(id)).ToArray();
        long deadline = sim.Now + sim.Options.LivenessPhaseMs;
        sim.RunUntil(deadline, () => sim.SafetyViolation is not null || sim.MinHonestHeight(validators) >= target);
        string? liveness = null;
        if (sim.SafetyViolation is null && sim.MinHonestHeight(validators) < target)
        {
            var heights = string.Join(", ", validators.Select(id => $"{id}:h{sim.ReplicaOf(id)?.ExecutedHeight}/s{sim.ReplicaOf(id)?.StableHeight}/v{sim.ReplicaOf(id)?.View}{(sim.ReplicaOf(id)?.IsChangingView == true ? "*" : "")}{(sim.ReplicaOf(id)?.IsTransferringState == true ? "T" : "")}/p{sim.ReplicaOf(id)?.PendingTransactions}"));
            liveness = $"after {sim.Options.LivenessPhaseMs} ms of healed network, honest replicas [{heights}] did not all reach height {target}";
        }
        return sim.Result(liveness);
    }

    private static void ScheduleClients(Simulation sim, Prng rng, long until)
    {
        long interval = Math.Max(1, sim.Options.ClientIntervalMs);
        void Tick()
        {
            sim.Submit();
            long next = sim.Now + rng.Between(1, 2 * interval);
            if (next < until) sim.At(next, Tick);
        }
        sim.At(rng.Between(1, interval), Tick);
    }

    private static void ScheduleFaults(Simulation sim, Prng rng)
    {
        var o = sim.Options;
        long t = 0;
        while (true)
        {
            t += rng.Between(50, 400);
            if (t >= o.SafetyPhaseMs) break;
            int roll = rng.Below(100);
            if (roll < 20)
            {
                int groups = rng.Chance(0.2) ? 3 : 2;
                var groupOf = Enumerable.Range(0, o.Validators + o.ExtraNodes).Select(_ => rng.Below(groups)).ToArray();
                var twinOf = groupOf.Select(_ => rng.Below(groups)).ToArray();
                bool asymmetric = rng.Chance(0.3);
                sim.At(t, () => sim.Partition(id => groupOf[id], id => twinOf[id], asymmetric));
            }
            else if (roll < 35)
            {
                sim.At(t, sim.Heal);
            }
            else if (roll < 60)
            {
                int id = rng.Below(o.Validators);
                bool midStep = rng.Chance(0.5);
                bool corrupt = rng.Chance(0.15);
                long back = t + rng.Between(20, 600);
                sim.At(t, () => { if (midStep) sim.CrashBeforeNextPersist(id); else sim.Crash(id); });
                sim.At(back, () =>
                {
                    long? height = null;
                    if (corrupt)
                    {
                        // Only blocks covered by the replica's stable checkpoint: there the proof reveals the
                        // corruption. A silently corrupted block above it would be one more faulty replica.
                        long stable = sim.DiskOf(id).OfType<CheckpointRecord>().Select(c => c.Height).DefaultIfEmpty(0).Max();
                        var blocks = sim.DiskOf(id).OfType<BlockRecord>().Where(b => b.Height <= stable).ToArray();
                        if (blocks.Length > 0) height = blocks[rng.Below(blocks.Length)].Height;
                    }
                    sim.Restart(id, corruptBlockAt: height);
                });
            }
            else if (roll < 75)
            {
                double drop = rng.NextDouble() * 0.3;
                double dup = rng.NextDouble() * 0.1;
                long delay = rng.Between(5, 80);
                sim.At(t, () => sim.SetNetwork(drop, dup, delay));
            }
        }
    }

    /// <summary>Runs seeds <paramref name="firstSeed"/> .. firstSeed+count−1 on all cores and sums the results.</summary>
    /// <param name="template">Parameters; the seed is replaced per run.</param>
    /// <param name="firstSeed">First seed.</param>
    /// <param name="count">Number of seeds.</param>
    /// <param name="onRunDone">Called after each run (from worker threads).</param>
    /// <returns>The summary.</returns>
    public static SimulationSummary RunMany(SimulationOptions template, ulong firstSeed, int count, Action<SimulationResult>? onRunDone = null)
    {
        var results = new SimulationResult[count];
        Parallel.For(0, count, i =>
        {
            results[i] = Run(template with { Seed = firstSeed + (ulong)i });
            onRunDone?.Invoke(results[i]);
        });
        var failures = results.Where(r => !r.Passed).ToArray();
        return new SimulationSummary
        {
            Runs = count,
            SafetyViolations = results.Count(r => r.SafetyViolation is not null),
            LivenessFailures = results.Count(r => r.LivenessFailure is not null),
            BlocksCommitted = results.Sum(r => r.BlocksCommitted),
            ViewChanges = results.Sum(r => r.ViewChanges),
            Messages = results.Sum(r => r.Messages),
            FailingSeeds = failures.Select(r => r.Seed).ToArray(),
            Failures = failures.Take(20).ToArray(),
            Drops = Enum.GetValues<DropReason>().ToDictionary(d => d, d => results.Sum(r => r.Drops[d])),
        };
    }
}
