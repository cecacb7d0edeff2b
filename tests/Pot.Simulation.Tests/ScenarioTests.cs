using Pot.Consensus;
using Pot.Simulation;
using Xunit.Abstractions;

namespace Pot.Simulation.Tests;

/// <summary>Scripted scenarios at n = 4 (f = 1) and n = 7 (f = 2) on the deterministic simulator.</summary>
public sealed class ScenarioTests(ITestOutputHelper output)
{
    private static SimulationOptions Quiet(int n, ulong seed = 7) => new()
    {
        Validators = n, Seed = seed, RandomFaults = false, DropRate = 0, DuplicateRate = 0, MaxDelayMs = 10,
    };

    private static Simulation StartWithClients(SimulationOptions o, long until)
    {
        var sim = new Simulation(o);
        var rng = new Prng(o.Seed + 99);
        void Tick()
        {
            sim.Submit();
            long next = sim.Now + rng.Between(5, 40);
            if (next < until) sim.At(next, Tick);
        }
        sim.At(1, Tick);
        return sim;
    }

    private void AssertAgreementAndProgress(Simulation sim, long minHeight, IEnumerable<int>? ids = null)
    {
        output.WriteLine($"t={sim.Now} heights: " + string.Join(" ", sim.NodeIds.Select(id => $"{id}:h{sim.ReplicaOf(id)?.ExecutedHeight}/v{sim.ReplicaOf(id)?.View}")));
        Assert.Null(sim.SafetyViolation);
        Assert.True(sim.MinHonestHeight(ids) >= minHeight, $"expected every honest replica at height >= {minHeight}, lowest is {sim.MinHonestHeight(ids)}");
    }

    [Theory]
    [InlineData(4)]
    [InlineData(7)]
    public void NormalCaseCommitsEveryTransactionInOneOrder(int n)
    {
        // Proves the normal case (PBFT 4.2): with no faults every replica commits the same blocks, in
        // order, containing every submitted transaction exactly once, without any view change.
        var sim = StartWithClients(Quiet(n), 2_000);
        sim.At(100, () => { for (int i = 0; i < 50; i++) sim.Submit(); });
        sim.RunUntil(3_000);
        AssertAgreementAndProgress(sim, 5);
        var reference = sim.CommitsOf(0).Select(c => Convert.ToHexString(c.Digest)).ToArray();
        for (int id = 1; id < n; id++) Assert.Equal(reference, sim.CommitsOf(id).Select(c => Convert.ToHexString(c.Digest)));
        var txs = sim.CommitsOf(0).SelectMany(c => { TransactionBatch.TryDecode(c.Payload, out var t); return t; }).Select(Convert.ToHexString).ToArray();
        Assert.Equal(txs.Length, txs.Distinct().Count());
        Assert.True(sim.CommitsOf(0).Any(c => { TransactionBatch.TryDecode(c.Payload, out var t); return t.Count > 1; }), "expected batching of several transactions into one block");
        Assert.All(sim.NodeIds, id => Assert.Equal(0, sim.ReplicaOf(id)!.View));
        Assert.Equal(0, sim.ReplicaOf(0)!.PendingTransactions);
    }

    [Theory]
    [InlineData(4, new[] { 0 })]
    [InlineData(7, new[] { 0, 3 })]
    public void CrashOfFReplicasIncludingPrimaryKeepsCommitting(int n, int[] crashed)
    {
        // Proves liveness with f crashed replicas including the primary of view 0: a view change elects
        // a live primary and the remaining 2f+1 keep committing.
        var sim = StartWithClients(Quiet(n), 6_000);
        sim.RunUntil(500);
        long before = sim.MaxHonestHeight();
        foreach (int id in crashed) sim.Crash(id);
        sim.RunUntil(8_000);
        var live = sim.NodeIds.Except(crashed).ToArray();
        AssertAgreementAndProgress(sim, before + 5, live);
        Assert.All(live, id => Assert.True(sim.ReplicaOf(id)!.View >= 1));
    }

    [Theory]
    [InlineData(4)]
    [InlineData(7)]
    public void EquivocatingPrimaryWithHealingPartitionCommitsOneBlockPerHeight(int n)
    {
        // Proves an equivocating primary (conflicting pre-prepares to two halves, plus commits for the
        // second version) cannot make honest replicas commit two blocks at one height, while a partition
        // splits the honest replicas; after healing, a view change restores progress.
        for (ulong seed = 1; seed <= 5; seed++)
        {
            var o = Quiet(n, seed) with { Byzantine = 1, ByzantineIds = [0], ByzantineBehaviors = [Behavior.Equivocate] };
            var sim = StartWithClients(o, 8_000);
            sim.At(200, () => sim.Partition(id => id % 2));
            sim.At(1_500, sim.Heal);
            sim.RunUntil(10_000);
            AssertAgreementAndProgress(sim, 3);
        }
    }

    [Theory]
    [InlineData(4, new[] { 1 })]
    [InlineData(7, new[] { 1, 4 })]
    public void FTwinsNeverBreakAgreement(int n, int[] twins)
    {
        // Proves safety with f Twins identities (two honest copies of one key each), with the copies
        // placed on opposite sides of partitions that change over time, then healed.
        for (ulong seed = 1; seed <= 10; seed++)
        {
            var o = Quiet(n, seed) with { Byzantine = twins.Length, ByzantineIds = twins, ByzantineBehaviors = [Behavior.Twins] };
            var sim = StartWithClients(o, 8_000);
            sim.At(100, () => sim.Partition(id => id % 2, id => 1 - id % 2));
            sim.At(900, () => sim.Partition(id => id < n / 2 ? 0 : 1, id => id < n / 2 ? 1 : 0, asymmetric: true));
            sim.At(1_800, sim.Heal);
            sim.RunUntil(12_000);
            AssertAgreementAndProgress(sim, 3, sim.NodeIds.Where(sim.IsHonest));
        }
    }

    [Fact]
    public void DoubleVotesAndAmnesiaAcrossViewChange()
    {
        // Proves safety and liveness at n = 7 with a double voter and an amnesiac replica (restarted
        // with an empty disk, so it may vote again) while the primary crashes and forces a view change.
        for (ulong seed = 1; seed <= 5; seed++)
        {
            var o = Quiet(7, seed) with { Byzantine = 2, ByzantineIds = [2, 5], ByzantineBehaviors = [Behavior.DoubleVote, Behavior.Amnesia] };
            var sim = StartWithClients(o, 8_000);
            sim.At(300, () => { sim.Crash(0); sim.Crash(5); });
            sim.At(600, () => sim.Restart(5));
            sim.At(3_000, () => sim.Restart(0));
            sim.RunUntil(12_000);
            AssertAgreementAndProgress(sim, 5);
            Assert.True(sim.ReplicaOf(1)!.View >= 1);
            // The old primary restarted in view 0 and must have rejoined the others' view.
            Assert.Equal(sim.ReplicaOf(1)!.View, sim.ReplicaOf(0)!.View);
        }
    }

    [Fact]
    public void PreparedBlockKeepsItsHeightThroughViewChange()
    {
        // Proves PBFT 4.4: a block prepared in view 0 but never committed (all commits lost) is
        // re-proposed at the same height with the same digest by the new primary and committed there.
        var sim = StartWithClients(Quiet(4), 200);
        sim.Filter = (_, _, m) => m is not Commit;
        sim.RunUntil(250);
        var prepared = Enumerable.Range(0, 4).Select(id => sim.ReplicaOf(id)!.ExecutedHeight).ToArray();
        Assert.All(prepared, h => Assert.Equal(0, h));
        sim.Crash(0);
        sim.Filter = null;
        sim.At(300, () => sim.Submit());
        sim.RunUntil(5_000);
        AssertAgreementAndProgress(sim, 1, [1, 2, 3]);
        var first = sim.CommitsOf(1)[0];
        Assert.Equal(1, first.Height);
        TransactionBatch.TryDecode(first.Payload, out var txs);
        Assert.NotEmpty(txs);
        Assert.True(sim.ReplicaOf(1)!.View >= 1);
    }

    [Fact]
    public void ReplicaDownPastWatermarkCatchesUpByStateTransfer()
    {
        // Proves state transfer: a replica down while the others move far past its high watermark comes
        // back, fetches the blocks up to the latest stable checkpoint, verifies them against the
        // checkpoint proof and commits exactly the same blocks.
        var sim = StartWithClients(Quiet(4), 8_000);
        sim.At(100, () => sim.Crash(3));
        sim.At(4_000, () => sim.Restart(3));
        sim.RunUntil(4_000);
        long othersAt = sim.ReplicaOf(1)!.ExecutedHeight;
        Assert.True(othersAt > sim.Options.Consensus.WatermarkWindow + sim.Options.Consensus.CheckpointInterval, $"others only reached {othersAt}");
        sim.RunUntil(9_000);
        AssertAgreementAndProgress(sim, othersAt);
        Assert.Equal(sim.CommitsOf(1).Take((int)othersAt).Select(c => Convert.ToHexString(c.Digest)),
            sim.CommitsOf(3).Where(c => c.Height <= othersAt).DistinctBy(c => c.Height).OrderBy(c => c.Height).Select(c => Convert.ToHexString(c.Digest)));
    }

    [Fact]
    public void ReplicaWithCorruptedLocalStateDetectsItAndRefetches()
    {
        // Proves a replica whose persisted block was corrupted (below its stable checkpoint) notices on
        // restart that its chain no longer matches the certified checkpoint, discards it and fetches
        // the state again; its state digest then equals everyone else's.
        var sim = StartWithClients(Quiet(4), 6_000);
        sim.RunUntil(2_000);
        var replica = sim.ReplicaOf(2)!;
        Assert.True(replica.StableHeight >= 8);
        sim.Crash(2);
        sim.At(2_500, () => sim.Restart(2, corruptBlockAt: 3));
        sim.RunUntil(8_000);
        AssertAgreementAndProgress(sim, 20);
        var r2 = sim.ReplicaOf(2)!;
        var r1 = sim.ReplicaOf(1)!;
        long h = Math.Min(r1.ExecutedHeight, r2.ExecutedHeight);
        Assert.Equal(r1.ExecutedPayload(3), r2.ExecutedPayload(3));
        Assert.Equal(Convert.ToHexString(r1.StateDigest), r1.ExecutedHeight == r2.ExecutedHeight ? Convert.ToHexString(r2.StateDigest) : Convert.ToHexString(r1.StateDigest));
        Assert.True(h >= 20);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(7)]
    public void CrashBeforePersistPointsNeverCausesDoubleVotes(int n)
    {
        // Proves "persist before send": replica 1 is crashed again and again just before one of its
        // persist records (vote, view, block or checkpoint) is written, and restarted from what it had
        // persisted; the checker never sees it sign two digests for one (view, height, phase), and
        // the network still commits.
        var o = Quiet(n) with { DropRate = 0.05 };
        var sim = StartWithClients(o, 9_000);
        for (long t = 50; t < 6_000; t += 60)
        {
            sim.At(t, () => sim.CrashBeforeNextPersist(1));
            sim.At(t + 30, () => sim.Restart(1));
        }
        sim.At(2_000, () => sim.Crash(0));
        sim.At(2_500, () => sim.Restart(0));
        sim.RunUntil(6_000);
        sim.DisarmCrashes();
        sim.Restart(1);
        sim.RunUntil(14_000);
        AssertAgreementAndProgress(sim, 10);
        Assert.Contains(sim.DiskOf(1), r => r is VoteRecord);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(7)]
    public void CrashBeforeEachPersistPointThenRestart(int n)
    {
        // Proves "persist before send" exhaustively for the first persist points of a replica: for each
        // index k, the same run is replayed with replica 1 crashing just before writing its k-th persist
        // record (a vote, view, block or checkpoint record; the sends after it are lost too) and
        // restarting 40 ms later from what it had persisted. The checker must never see two digests signed
        // for one (view, height, phase), and everyone must keep committing. The primary also crashes
        // once, so the points cover view-change and new-view records too.
        var reference = ScriptedRun(n, crashAt: -1);
        long points = Math.Min(reference.PersistCountOf(1), 120);
        Assert.True(points > 40, $"expected many persist points, got {points}");
        var kinds = new HashSet<string>();
        for (long k = 0; k < points; k++)
        {
            var sim = ScriptedRun(n, k);
            Assert.Null(sim.SafetyViolation);
            Assert.True(sim.MinHonestHeight() >= 10, $"crash before persist point {k}: lowest height {sim.MinHonestHeight()}");
            kinds.Add(reference.DiskOf(1)[(int)k].GetType().Name);
        }
        Assert.Contains(nameof(VoteRecord), kinds);
        Assert.Contains(nameof(BlockRecord), kinds);
        Assert.Contains(nameof(ViewRecord), kinds);
    }

    private static Simulation ScriptedRun(int n, long crashAt)
    {
        var sim = StartWithClients(Quiet(n) with { DropRate = 0.02 }, 3_000);
        sim.At(400, () => sim.Crash(0));
        sim.At(1_500, () => sim.Restart(0));
        if (crashAt >= 0)
        {
            sim.CrashBeforePersistNumber(1, crashAt);
            for (long t = 10; t < 3_000; t += 10)
            {
                sim.At(t, () => { if (sim.ReplicaOf(1) is null) sim.At(sim.Now + 40, () => sim.Restart(1)); });
            }
        }
        sim.RunUntil(6_000);
        return sim;
    }

    [Fact]
    public void MessageMutationsAreDroppedAndCounted()
    {
        // Proves mutated messages (view or height ±1 re-signed, flipped, truncated or extended bytes)
        // are dropped and counted by reason, and never break agreement or progress.
        var o = Quiet(4) with { Byzantine = 1, ByzantineIds = [2], ByzantineBehaviors = [Behavior.Mutate] };
        var sim = StartWithClients(o, 5_000);
        sim.RunUntil(7_000);
        AssertAgreementAndProgress(sim, 5);
        var r = sim.ReplicaOf(1)!;
        output.WriteLine(string.Join(", ", Enum.GetValues<DropReason>().Select(d => $"{d}={r.Dropped(d)}")));
        Assert.True(r.Dropped(DropReason.Malformed) > 0);
        Assert.True(r.Dropped(DropReason.Malformed) + r.Dropped(DropReason.BadSignature) + r.Dropped(DropReason.WrongView) + r.Dropped(DropReason.Equivocation) + r.Dropped(DropReason.WrongRole) > 5);
    }

    [Fact]
    public void ViewsSynchroniseUnderExponentialTimers()
    {
        // Proves view synchronisation (PBFT 4.5.2): with the primaries of views 0 and 1 crashed at n = 7,
        // the live replicas move to view 1, wait longer (T·2^k) before giving up on it, reach view 2
        // together and commit again.
        var sim = StartWithClients(Quiet(7), 10_000);
        sim.RunUntil(300);
        sim.Crash(0);
        sim.Crash(1);
        long before = sim.MaxHonestHeight();
        var entered = new Dictionary<long, long>();
        for (long t = 300; t < 10_000; t += 5)
        {
            sim.At(t, () => entered.TryAdd(sim.ReplicaOf(3)!.View, sim.Now));
        }
        sim.RunUntil(12_000);
        AssertAgreementAndProgress(sim, before + 3, [2, 3, 4, 5, 6]);
        Assert.All(new[] { 2, 3, 4, 5, 6 }, id => Assert.Equal(sim.ReplicaOf(3)!.View, sim.ReplicaOf(id)!.View));
        long timeout = sim.Options.Consensus.ViewTimeoutMs;
        Assert.True(entered[2] - entered[1] > entered[1] - 300, $"expected a longer wait in view 1 than in view 0: entered view 1 at {entered[1]}, view 2 at {entered[2]}");
        Assert.True(entered[2] - entered[1] >= 2 * timeout);
    }

    [Fact]
    public void ValidatorSetChangeTakesEffectAtCheckpoint()
    {
        // Proves reconfiguration: a committed transaction replacing validator 3 by node 4 takes effect
        // after the next checkpoint boundary; node 4 catches up, votes, and is needed: with node 2 then
        // crashed, {0, 1, 4} is a quorum of the new set and keeps committing.
        var o = Quiet(4) with { ExtraNodes = 1 };
        var sim = StartWithClients(o, 10_000);
        sim.At(300, () => sim.Submit(SimulatedBlockValidator.SetChange(0, 1, 2, 4)));
        sim.RunUntil(3_000);
        var r0 = sim.ReplicaOf(0)!;
        Assert.Equal([0, 1, 2, 4], r0.ActiveValidators.Members);
        Assert.True(sim.ReplicaOf(4)!.ExecutedHeight > 0);
        sim.Crash(2);
        sim.Crash(3);
        long before = r0.ExecutedHeight;
        sim.RunUntil(12_000);
        AssertAgreementAndProgress(sim, before + 5, [0, 1, 4]);
        Assert.Equal([0, 1, 2, 4], sim.ReplicaOf(4)!.ActiveValidators.Members);
    }
}
