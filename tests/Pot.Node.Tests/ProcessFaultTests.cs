using System.Diagnostics;
using Pot.Commitments.Keys;
using Xunit.Abstractions;

namespace Pot.Node.Tests;

/// <summary>Crash faults with real OS processes: `pot node` children killed with SIGKILL under load.</summary>
[Collection("OS processes")]
public sealed class ProcessFaultTests(ITestOutputHelper output)
{
    // Runs the common scenario: 4 validator processes under a steady load of signed transfers; the
    // validator chosen by <paramref name="pickVictim"/> is SIGKILLed, the other three must keep
    // committing; it is restarted from its data directory, must catch up, and at the end all four
    // agree on the head hash and every submitted transfer is in every node's state.
    private async Task KillUnderLoadAndRecover(Func<ProcessNetwork, Task<int>> pickVictim, bool expectViewChange)
    {
        var clock = Stopwatch.StartNew();
        void Phase(string what) => output.WriteLine($"{clock.Elapsed.TotalSeconds,6:F1} s  {what}");
        await using var net = new ProcessNetwork(4);
        await net.StartAllAsync();
        Phase("4 processes answer");
        int victim = await pickVictim(net);
        int loadTarget = (victim + 1) % 4;
        var live = Enumerable.Range(0, 4).Where(i => i != victim).ToArray();
        using var alice = net.Key(loadTarget);
        using var bob = Ed25519Keys.Generate();
        using var stop = new CancellationTokenSource();
        ulong submitted = 0;
        var load = net.RunLoadAsync(alice, bob.Address, () => loadTarget, 40, n => Volatile.Write(ref submitted, n), stop.Token);
        try
        {
            Assert.True(await net.WaitForHeightAsync([0, 1, 2, 3], 2, TimeSpan.FromSeconds(40)), "no progress before the fault: " + await net.DescribeAsync());

            Phase("height 2 everywhere");
            net.Kill(victim);
            Phase($"SIGKILL node {victim}");
            ulong atKill = (ulong)(await net.TryHeightAsync(loadTarget))!;
            Assert.True(await net.WaitForHeightAsync(live, atKill + 3, TimeSpan.FromSeconds(60)), $"the other three did not commit 3 blocks after the SIGKILL of node {victim} (load errors {net.LoadErrors}, last: {net.LastLoadError}): " + await net.DescribeAsync());
            if (expectViewChange)
                foreach (int i in live) Assert.True((long)(await net.GetAsync(i, "/api/status"))["view"]! >= 1, "no view change after the primary was killed");

            Phase("three survivors committed 3 more blocks");
            await net.StartAsync(victim);
            Phase("restarted");
            ulong target = (ulong)(await net.TryHeightAsync(loadTarget))!;
            Assert.True(await net.WaitForHeightAsync([victim], target, TimeSpan.FromSeconds(60)), $"restarted node {victim} did not catch up to {target}: " + await net.DescribeAsync());
            Phase("caught up");
            // It takes part again: the network keeps committing with it.
            Assert.True(await net.WaitForHeightAsync([0, 1, 2, 3], target + 2, TimeSpan.FromSeconds(60)), "no commits after the restart: " + await net.DescribeAsync());
        }
        finally
        {
            await stop.CancelAsync();
            await load;
        }
        Phase("all four committed 2 more blocks");
        ulong sent = Volatile.Read(ref submitted);
        Assert.True(sent >= 10, $"the load generator got only {sent} transfers in");
        // Every accepted transfer ends up committed on every node, and the heads agree.
        for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60); DateTime.UtcNow < deadline; await Task.Delay(200))
        {
            bool all = true;
            for (int i = 0; i < 4 && all; i++)
                if ((ulong)(await net.GetAsync(i, "/api/account/" + bob.Address))["balance"]! != sent) all = false;
            if (all) break;
        }
        for (int i = 0; i < 4; i++)
            Assert.True((ulong)(await net.GetAsync(i, "/api/account/" + bob.Address))["balance"]! == sent, $"node {i} lacks some of the {sent} transfers: " + await net.DescribeAsync());
        var head = await net.WaitForAgreementAsync([0, 1, 2, 3], TimeSpan.FromSeconds(30));
        Assert.True(head is not null, "the four nodes do not agree on the head: " + await net.DescribeAsync());
        Phase($"all {sent} transfers everywhere, heads agree");
    }

    // Proves crash tolerance of a backup: SIGKILL of a non-primary validator mid-run, the other
    // three keep committing, the restarted process catches up (block sync) and agrees.
    [Fact]
    public Task SigkilledBackupIsToleratedAndCatchesUpAfterRestart() =>
        KillUnderLoadAndRecover(async net =>
        {
            var status = await net.GetAsync(0, "/api/status");
            int primaryId = (int)((long)status["view"]! % 4);
            return net.IndexOfNodeId((primaryId + 2) % 4);
        }, expectViewChange: false);

    // Proves crash tolerance of the primary: SIGKILL of the current primary mid-run, the others
    // change view and keep committing; the restarted process catches up and agrees.
    [Fact]
    public Task SigkilledPrimaryIsReplacedByAViewChangeAndCatchesUpAfterRestart() =>
        KillUnderLoadAndRecover(async net =>
        {
            var status = await net.GetAsync(0, "/api/status");
            return net.IndexOfNodeId((int)((long)status["view"]! % 4));
        }, expectViewChange: true);
}
