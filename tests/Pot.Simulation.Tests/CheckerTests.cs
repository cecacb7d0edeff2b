using Pot.Simulation;
using Xunit.Abstractions;

namespace Pot.Simulation.Tests;

public sealed class CheckerTests(ITestOutputHelper output)
{
    [Fact]
    public void FindsSafetyViolationWithFPlusOneByzantine()
    {
        // Proves the checker can fail: with f+1 = 2 Byzantine replicas at n = 4 (an equivocating primary
        // and a double voter, or twins) quorum intersection no longer holds and some seed must show two
        // honest replicas committing different blocks at one height.
        int found = 0;
        foreach (var behaviors in new[] { new[] { Behavior.Equivocate, Behavior.DoubleVote }, new[] { Behavior.Twins, Behavior.Twins } })
        {
            var s = SimulationRunner.RunMany(new SimulationOptions { Validators = 4, Byzantine = 2, ByzantineBehaviors = behaviors, ByzantineIds = [0, 1], LivenessPhaseMs = 5_000 }, 1, 100);
            output.WriteLine($"{string.Join("+", behaviors)}: safety violations {s.SafetyViolations}/100, e.g. {s.Failures.FirstOrDefault(f => f.SafetyViolation is not null)?.SafetyViolation}");
            found += s.SafetyViolations;
            Assert.True(s.SafetyViolations > 0, $"expected the simulator to find a safety violation with {string.Join("+", behaviors)} at n=4, B=2");
        }
        Assert.True(found > 0);
    }

    [Fact]
    public void NeverFindsViolationWithAtMostFByzantine()
    {
        // Proves the same Byzantine strategies stay harmless at B <= f: equivocation, double voting and
        // twins with one Byzantine identity at n = 4 never break agreement.
        foreach (var behavior in new[] { Behavior.Equivocate, Behavior.DoubleVote, Behavior.Twins })
        {
            var s = SimulationRunner.RunMany(new SimulationOptions { Validators = 4, Byzantine = 1, ByzantineBehaviors = [behavior], ByzantineIds = [0] }, 1, 100);
            output.WriteLine($"{behavior}: runs {s.Runs}, safety {s.SafetyViolations}, liveness {s.LivenessFailures}");
            Assert.Equal(0, s.SafetyViolations);
            Assert.Equal(0, s.LivenessFailures);
        }
    }

    [Fact]
    public void SameSeedReplaysBitForBit()
    {
        // Proves determinism: one seed gives the same trace (every commit of every replica, in order),
        // the same message count and the same drop counters; a different seed gives a different trace.
        var o = new SimulationOptions { Validators = 4, Byzantine = 1, Seed = 1234 };
        var a = SimulationRunner.Run(o);
        var b = SimulationRunner.Run(o);
        var c = SimulationRunner.Run(o with { Seed = 1235 });
        Assert.Equal(a.TraceDigest, b.TraceDigest);
        Assert.Equal(a.Messages, b.Messages);
        Assert.Equal(a.Drops, b.Drops);
        Assert.NotEqual(a.TraceDigest, c.TraceDigest);
    }

    [Fact]
    public void Ed25519RunsPassOnAFewSeeds()
    {
        // Proves the simulator and core work end to end with real Ed25519 signatures (NSec), not only
        // with the fast keyed hash used for bulk sweeps.
        var s = SimulationRunner.RunMany(new SimulationOptions { Validators = 4, Byzantine = 1, UseEd25519 = true, LivenessPhaseMs = 10_000 }, 1, 4);
        Assert.Empty(s.FailingSeeds);
        Assert.True(s.BlocksCommitted > 0);
    }
}
