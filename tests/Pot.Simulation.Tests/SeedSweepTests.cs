using Pot.Simulation;
using Xunit.Abstractions;

namespace Pot.Simulation.Tests;

public sealed class SeedSweepTests(ITestOutputHelper output)
{
    private void Report(SimulationSummary s, int n, int b, TimeSpan elapsed)
    {
        output.WriteLine($"n={n} B={b}: runs={s.Runs} safety={s.SafetyViolations} liveness={s.LivenessFailures} blocks={s.BlocksCommitted} views={s.ViewChanges} messages={s.Messages} in {elapsed.TotalSeconds:F1}s ({s.Runs / elapsed.TotalSeconds:F0} seeds/s)");
        foreach (var f in s.Failures)
        {
            output.WriteLine($"seed {f.Seed} [{string.Join(",", f.Byzantine.Select(p => $"{p.Key}:{p.Value}"))}]: {f.SafetyViolation ?? f.LivenessFailure}");
            output.WriteLine("  replay: " + SimulationRunner.ReplayCommand(n, b, f.Seed));
        }
    }

    [Theory]
    [InlineData(4, 0)]
    [InlineData(4, 1)]
    [InlineData(7, 1)]
    [InlineData(7, 2)]
    public void FiveHundredRandomSeedsPass(int n, int b)
    {
        // Proves safety (agreement, validity, no honest double vote) and liveness after healing on 500
        // random seeds per configuration: loss, duplication, reordering, symmetric and asymmetric
        // partitions, crashes (also just before persist points), restarts with corrupted blocks, and
        // B <= f Byzantine identities with behaviours drawn from the seed.
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var s = SimulationRunner.RunMany(new SimulationOptions { Validators = n, Byzantine = b }, 1, 500);
        Report(s, n, b, watch.Elapsed);
        Assert.Equal(500, s.Runs);
        Assert.True(s.BlocksCommitted > 500, "expected blocks to be committed");
        Assert.Empty(s.FailingSeeds);
    }
}
