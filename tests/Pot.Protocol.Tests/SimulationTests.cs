using Pot.Protocol;
using Xunit.Abstractions;

namespace Pot.Protocol.Tests;

public sealed class SimulationTests(ITestOutputHelper output)
{
    private static SimulationOptions Options(params MinerStrategy[] miners) => new()
    {
        Task = ProtocolTask.Tiny(), Validators = 4, Miners = miners, Rounds = 3, Evaluate = true,
    };

    [Fact]
    public void HonestRoundsAcceptEveryoneSlashNobodyAndLowerLoss()
    {
        // Proves: with only honest participants every submission is accepted, nobody is slashed, validators'
        // leaf checks of the aggregation pass, supply is conserved, and held-out loss falls over the rounds.
        var report = ProtocolSimulation.Run(Options(MinerStrategy.Honest, MinerStrategy.Honest, MinerStrategy.Honest) with { Rounds = 4 });
        foreach (var r in report.RoundReports)
        {
            output.WriteLine($"round {r.Round}: loss {r.ValidationLoss:F4} accepted {r.Accepted} rejected {r.Rejected}");
        }
        foreach (var s in report.Submissions.Where(s => !s.Accepted))
        {
            output.WriteLine($"rejected r{s.Round} m{s.Miner}: {s.RejectedBy}");
        }
        Assert.Equal(12, report.Accepted);
        Assert.Equal(0, report.Rejected);
        Assert.Equal(0, report.SlashedHonest);
        Assert.True(report.SupplyConserved);
        Assert.All(report.RoundReports, r => Assert.Equal(0, r.AggregationLeafFailures));
        Assert.Empty(report.UnexpectedRejections);
        // Per round at least: re-bond/beacon, submissions, challenge opening, attestations, finalize (W = 4 from the start).
        Assert.True(report.ChainHeight >= 1 + 4 * 4, $"chain height {report.ChainHeight}");
        Assert.True(report.FinalLoss < report.InitialLoss - 0.05, $"loss {report.InitialLoss} -> {report.FinalLoss}");
    }
}
