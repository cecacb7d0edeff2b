using Pot.Simulation;
using Xunit.Abstractions;

namespace Pot.Simulation.Tests;

public sealed class SeedSweepTests(ITestOutputHelper output)
{
    private void Report(SimulationSummary s, int n, int b)
    {
        output.WriteLine($"n={n} B={b}: runs={s.Runs} safety={s.SafetyViolations} liveness={s.LivenessFailures} blocks={s.BlocksCommitted} views={s.ViewChanges} messages={s.Messages}");
        foreach (var f in s.Failures)
        {
            output.WriteLine($"seed {f.Seed} [{string.Join(",", f.Byzantine.Select(p => $"{p.Key}:{p.Value}"))}]: {f.SafetyViolation ?? f.LivenessFailure}");
            output.WriteLine("  replay: " + SimulationRunner.ReplayCommand(n, b, f.Seed));
        }
    }

    [Theory]
    [InlineData(4, 0, 200)]
    [InlineData(4, 1, 200)]
    [InlineData(7, 2, 100)]
    public void Smoke(int n, int b, int seeds)
    {
        // Proves the random two-phase scenario passes (no safety or liveness failure) on a small sweep.
        var s = SimulationRunner.RunMany(new SimulationOptions { Validators = n, Byzantine = b }, 1, seeds);
        Report(s, n, b);
        Assert.Empty(s.FailingSeeds);
    }
}
