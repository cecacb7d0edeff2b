using Pot.Protocol;
using Xunit.Abstractions;

namespace Pot.Protocol.Tests;

public sealed class AdversaryTests(ITestOutputHelper output)
{
    public static TheoryData<MinerStrategy> DeterministicallyCaught => new()
    {
        MinerStrategy.ReplayOldUpdate, MinerStrategy.CopyExact, MinerStrategy.CopyNoisy, MinerStrategy.WrongData, MinerStrategy.FalseLoss,
        MinerStrategy.WithholdChunks, MinerStrategy.LateSubmission,
    };

    [Theory]
    [MemberData(nameof(DeterministicallyCaught))]
    public void CheaterIsRejectedEveryRoundAndHonestMinersAreUntouched(MinerStrategy strategy)
    {
        // Proves: a cheater whose fraud every verifier sees (or the ledger refuses) is rejected in every round in
        // which it deviates, while the two honest miners beside it are accepted and nobody honest is slashed.
        var report = ProtocolSimulation.Run(new SimulationOptions
        {
            Task = ProtocolTask.Tiny(), Validators = 4, Miners = [MinerStrategy.Honest, MinerStrategy.Honest, strategy], Rounds = 3, Evaluate = false,
        });
        foreach (var s in report.Submissions.Where(s => s.Miner == 2))
        {
            output.WriteLine($"r{s.Round} cheated={s.Cheated} accepted={s.Accepted} slashed={s.Slashed} by={s.RejectedBy}");
        }
        foreach (var (round, slash, honest) in report.Slashes)
        {
            output.WriteLine($"slash r{round} {slash.Offender[..10]} honest={honest}: {slash.Reason}");
        }
        Assert.Contains(report.Submissions, s => s.Cheated);
        Assert.All(report.Submissions.Where(s => s.Cheated), s => Assert.False(s.Accepted));
        Assert.All(report.Submissions.Where(s => s.Miner < 2), s => Assert.True(s.Accepted, s.RejectedBy));
        Assert.Equal(0, report.CheatersUndetected);
        Assert.Equal(0, report.SlashedHonest);
        Assert.True(report.SupplyConserved);
        Assert.Empty(report.UnexpectedRejections);
    }

    [Theory]
    [InlineData(MinerStrategy.ReplayOldUpdate)]
    [InlineData(MinerStrategy.WrongData)]
    [InlineData(MinerStrategy.CopyNoisy)]
    public void WithCarriedOptimizerStateHonestMinersStayAcceptedAndCheatersAreStillCaught(MinerStrategy strategy)
    {
        // Proves: in a task whose miners carry their AdamW state across rounds, the honest miners' carried starts are
        // accepted every round (nobody honest rejected or slashed), a cheater every verifier sees is still rejected whenever it deviates, and
        // the carried state really changes training (the model differs from the same run with fresh state every round).
        var task = ProtocolTask.Tiny() with { CarryOptimizer = true };
        SimulationReport Run(ProtocolTask t) => ProtocolSimulation.Run(new SimulationOptions
        {
            Task = t, Validators = 4, Miners = [MinerStrategy.Honest, MinerStrategy.Honest, strategy], Rounds = 4, Evaluate = true, EvaluationBatches = 2,
        });
        var report = Run(task);
        Assert.All(report.Submissions.Where(s => s.Miner < 2), s => Assert.True(s.Accepted, s.RejectedBy));
        Assert.Contains(report.Submissions, s => s.Cheated);
        Assert.All(report.Submissions.Where(s => s.Cheated), s => Assert.False(s.Accepted));
        Assert.Equal(0, report.SlashedHonest);
        Assert.Empty(report.UnexpectedRejections);
        Assert.NotEqual(Run(task with { CarryOptimizer = false }).FinalLoss, report.FinalLoss);
    }

    [Theory]
    [InlineData(MinerStrategy.FalseLoss)]
    [InlineData(MinerStrategy.WrongData)]
    [InlineData(MinerStrategy.CopyExact)]
    [InlineData(MinerStrategy.ReplayOldUpdate)]
    public void ProvableFraudIsSlashed(MinerStrategy strategy)
    {
        // Proves: fraud a validator can re-check at the cost of one step or a lookup (false losses, wrong data,
        // exact copies, replayed updates) slashes the cheater, not just rejects it.
        var report = ProtocolSimulation.Run(new SimulationOptions
        {
            Task = ProtocolTask.Tiny(), Validators = 4, Miners = [MinerStrategy.Honest, strategy], Rounds = 2, Evaluate = false,
        });
        Assert.All(report.Submissions.Where(s => s.Cheated), s => Assert.True(s.Slashed, s.RejectedBy));
        Assert.True(report.SlashedCheaters > 0);
        Assert.Equal(0, report.SlashedHonest);
    }

    [Fact]
    public void LazyVerifierIsSlashedWhenFraudIsProvenAndMaliciousVerifierPaysForFalseProofs()
    {
        // Proves: with all four validators assigned (c = 4), a lazy verifier that accepted a proven fraud is
        // slashed, a malicious verifier's fabricated fraud proofs are rejected and cost it stake, honest miners
        // stay accepted despite its rejects (3 of 4 stake positive ≥ 2/3), and no honest party is slashed.
        var report = ProtocolSimulation.Run(new SimulationOptions
        {
            Task = ProtocolTask.Tiny() with { VerifiersPerSubmission = 4 }, Validators = 4,
            Miners = [MinerStrategy.Honest, MinerStrategy.CopyExact], Rounds = 2, Evaluate = false,
            VerifierStrategies = [VerifierStrategy.Lazy, VerifierStrategy.Malicious],
        });
        Assert.All(report.Submissions.Where(s => s.Miner == 0), s => Assert.True(s.Accepted, s.RejectedBy));
        Assert.All(report.Submissions.Where(s => s.Miner == 1), s => Assert.True(s.Slashed));
        // Per round: the cheater, the lazy verifier (false accept) and the malicious verifier (false proofs).
        Assert.Equal(6, report.SlashedCheaters);
        Assert.Equal(0, report.SlashedHonest);
        Assert.True(report.SupplyConserved);
    }

    [Fact]
    public void FabricatedStepCatchRateMatchesFormula()
    {
        // Proves: one fabricated inner step out of H is caught only by replay, at the rate
        // p = 1 − (1 − k/H)^c (each of the c verifiers replays k of the H steps, independently), measured over
        // 200 rounds (counting rejections by the replay check) and compared with a 3σ binomial interval; and the
        // cheater is slashed whenever replay catches it.
        var task = ProtocolTask.Tiny();
        var report = ProtocolSimulation.Run(new SimulationOptions { Task = task, Validators = 4, Miners = [MinerStrategy.FabricateStep], Rounds = 200, Evaluate = false });
        double p = 1 - Math.Pow(1 - (double)task.ReplayedSteps / task.InnerSteps, task.VerifiersPerSubmission);
        AssertRate(report, p, 200, "Replay");
        Assert.All(report.Submissions.Where(s => s.RejectedBy.Contains("Replay", StringComparison.Ordinal)), s => Assert.True(s.Slashed, s.RejectedBy));
    }

    [Fact]
    public void SkippedStepsCatchRateMatchesFormula()
    {
        // Proves: skipping the last ⌊H/2⌋ steps is caught at least at the replay rate
        // p = 1 − (C(H − m, k)/C(H, k))^c with m = ⌊H/2⌋ skipped steps (other checks can only add), over 200 rounds.
        var task = ProtocolTask.Tiny();
        var report = ProtocolSimulation.Run(new SimulationOptions { Task = task, Validators = 4, Miners = [MinerStrategy.SkipSteps], Rounds = 200, Evaluate = false });
        double p = 1 - Math.Pow(0.5, task.VerifiersPerSubmission);
        double rate = report.Submissions.Count(s => !s.Accepted) / 200.0;
        output.WriteLine($"skip: measured {rate:F3}, replay formula {p:F3}");
        Assert.True(rate >= p - 3 * Math.Sqrt(p * (1 - p) / 200), $"measured {rate}, formula ≥ {p}");
    }

    [Fact]
    public void ForgedUpdateLeafCatchRateMatchesFormula()
    {
        // Proves: one forged leaf of q among L leaves is caught by the quantization check at the rate
        // p = 1 − (1 − s/L)^c (each verifier samples s of L leaves), measured with s = 1 over 200 rounds.
        var task = ProtocolTask.Tiny() with { SampledLeaves = 1 };
        int leaves = Updates.LeafCount(new StepEngine(task).ParameterCount);
        var report = ProtocolSimulation.Run(new SimulationOptions { Task = task, Validators = 4, Miners = [MinerStrategy.ForgeUpdateLeaf], Rounds = 200, Evaluate = false });
        double p = 1 - Math.Pow(1 - 1.0 / leaves, task.VerifiersPerSubmission);
        AssertRate(report, p, 200, "Quantization");
    }

    [Theory]
    [InlineData(MinerStrategy.ScaledUpdate)]
    [InlineData(MinerStrategy.RandomUpdate)]
    public void FakeFinalStateIsCaughtAtLeastAtTheReplayRate(MinerStrategy strategy)
    {
        // Proves: an update with a consistent fake final state (4× scaled, or random of the honest scale) is caught
        // at least as often as the replay of the last step predicts, 1 − (1 − k/H)^c (usefulness can only add), over
        // 60 rounds; every rejection by replay slashes it; nobody honest is slashed. (A small random update is not
        // caught by the statistical checks alone every round: its first-order effect on the loss is zero, so it
        // neither helps nor clearly hurts a batch; docs/protocol.md §3.)
        var task = ProtocolTask.Tiny();
        var report = ProtocolSimulation.Run(new SimulationOptions { Task = task, Validators = 4, Miners = [strategy], Rounds = 60, Evaluate = false });
        double p = 1 - Math.Pow(1 - 1.0 / task.InnerSteps, task.VerifiersPerSubmission);
        double rate = report.Submissions.Count(s => !s.Accepted) / 60.0;
        output.WriteLine($"{strategy}: measured {rate:F3}, replay formula {p:F3}");
        Assert.True(rate >= p - 3 * Math.Sqrt(p * (1 - p) / 60), $"measured {rate}, formula ≥ {p}");
        Assert.All(report.Submissions.Where(s => s.RejectedBy.Contains("Replay", StringComparison.Ordinal)), s => Assert.True(s.Slashed, s.RejectedBy));
        Assert.Equal(0, report.SlashedHonest);
        Assert.Empty(report.UnexpectedRejections);
    }

    private void AssertRate(SimulationReport report, double p, int trials, string check)
    {
        // The rate of rejections attributed to the one check that can see this fraud (its own counter).
        double rate = report.Submissions.Count(s => !s.Accepted && s.RejectedBy.Contains(check, StringComparison.Ordinal)) / (double)trials;
        double sigma = Math.Sqrt(p * (1 - p) / trials);
        output.WriteLine($"measured {rate:F3}, formula {p:F3} ± {3 * sigma:F3}");
        Assert.InRange(rate, p - 3 * sigma, p + 3 * sigma);
        Assert.Equal(0, report.SlashedHonest);
    }
}
