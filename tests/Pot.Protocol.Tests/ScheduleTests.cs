using Pot.Learning.Training;
using Pot.Protocol;

namespace Pot.Protocol.Tests;

/// <summary>The round-level learning-rate schedule (<see cref="ProtocolTask.ScheduleRounds"/>).</summary>
public sealed class ScheduleTests
{
    private static readonly ProtocolTask Addition = ProtocolTask.Default("addition") with { InnerSteps = 10 };

    /// <summary>peak·factor in float64, rounded once, as the engine computes it.</summary>
    private static float Rate(double factor) => (float)((double)3e-3f * factor);

    [Fact]
    public void InnerLearningRateFollowsTheWarmupAndDecayAcrossRounds()
    {
        // addition: peak 3e-3, 100 warm-up steps, linear decay to 0.1·peak. R = 30 rounds of H = 10 → 300 schedule steps.
        var task = Addition with { ScheduleRounds = 30 };
        task.Validate();
        Assert.Equal(Rate(1.0 / 100), task.InnerConfigAt(0).LearningRateAt(0));   // schedule step 0: peak/100
        Assert.Equal(Rate(10.0 / 100), task.InnerConfigAt(0).LearningRateAt(9));  // step 9: 10/100 of the peak
        Assert.Equal(Rate(11.0 / 100), task.InnerConfigAt(1).LearningRateAt(0));  // round 1 continues at step 10
        Assert.Equal(3e-3f, task.InnerConfigAt(10).LearningRateAt(0));            // step 100: the peak
        Assert.Equal(Rate(1 - 0.5 * (1.0 - 0.1f)), task.InnerConfigAt(20).LearningRateAt(0)); // halfway through the decay
        Assert.Equal(Rate(0.1f), task.InnerConfigAt(29).LearningRateAt(10));      // the end of the schedule
        Assert.Equal(Rate(0.1f), task.InnerConfigAt(30).LearningRateAt(0));       // after R: the minimum
        Assert.Equal(Rate(0.1f), task.InnerConfigAt(ulong.MaxValue).LearningRateAt(9));
        // The same curve as a centralized run of R·H steps.
        var centralized = Addition.Training with { Steps = 300 };
        for (int s = 0; s < 300; s++)
        {
            Assert.Equal(centralized.LearningRateAt(s), task.InnerConfigAt((ulong)(s / 10)).LearningRateAt(s % 10));
        }
    }

    [Fact]
    public void WithoutAScheduleEveryRoundRunsAtThePeakRate()
    {
        foreach (ulong round in new ulong[] { 0, 1, 7, 1000, ulong.MaxValue })
        {
            for (int j = 0; j < 10; j++)
            {
                Assert.Equal(3e-3f, Addition.InnerConfigAt(round).LearningRateAt(j));
            }
        }
        Assert.Equal(10, Addition.InnerConfigAt(5).Steps);
    }

    [Fact]
    public void ReplayUsesTheRoundsRateSoAStepAtAnotherRateIsCaught()
    {
        // Proves: the verifier's replay runs at the schedule's rate of the round; a miner that trains the round at the
        // peak rate instead produces a state the replay does not reproduce (the trace leaf after the step differs).
        var scheduled = ProtocolTask.Tiny() with { ScheduleRounds = 10 };
        var constant = ProtocolTask.Tiny();
        var honest = new StepEngine(scheduled);
        var lazy = new StepEngine(constant);
        var start = TrainingState.Fresh(honest.InitialModel(), honest.OptimizerBuffers);
        var assignment = new DataAssignment(7, 3, 11);
        var (honestNext, _) = honest.Step(start, 0, assignment);
        var (lazyNext, _) = lazy.Step(start, 0, assignment);
        var (before, after, _) = honest.Replay(start.Encode(), 0, assignment);
        Assert.Equal(start.TraceLeaf(), before);
        Assert.Equal(honestNext.TraceLeaf(), after);
        Assert.NotEqual(lazyNext.TraceLeaf(), after);
        // Same round and rate: the two engines agree.
        var (_, sameAfter, _) = lazy.Replay(start.Encode(), 0, assignment);
        Assert.Equal(lazyNext.TraceLeaf(), sameAfter);
    }

    [Fact]
    public void HonestMinersOnAScheduleAreAllAcceptedAndTrainDifferently()
    {
        var options = new SimulationOptions
        {
            Task = ProtocolTask.Tiny() with { ScheduleRounds = 3 }, Validators = 4, Miners = [MinerStrategy.Honest, MinerStrategy.Honest], Rounds = 3, Evaluate = true,
        };
        var scheduled = ProtocolSimulation.Run(options);
        var constant = ProtocolSimulation.Run(options with { Task = ProtocolTask.Tiny() });
        Assert.Equal(6, scheduled.Accepted);
        Assert.Equal(0, scheduled.Rejected);
        Assert.Equal(0, scheduled.SlashedHonest);
        Assert.Empty(scheduled.UnexpectedRejections);
        Assert.NotEqual(constant.FinalLoss, scheduled.FinalLoss);
    }

    [Theory]
    [InlineData(-1, 10)]
    [InlineData(300_000_000, 10)]
    public void OutOfRangeSchedulesAreRejected(int rounds, int h)
    {
        var ex = Assert.Throws<ArgumentException>(() => (Addition with { ScheduleRounds = rounds, InnerSteps = h }).Validate());
        Assert.Contains("schedule rounds", ex.Message, StringComparison.Ordinal);
        var bad = Assert.Throws<ArgumentException>(() => (TrainingConfig.Default("addition") with { ScheduleOffset = -1 }).Validate());
        Assert.Contains("schedule offset", bad.Message, StringComparison.Ordinal);
    }
}
