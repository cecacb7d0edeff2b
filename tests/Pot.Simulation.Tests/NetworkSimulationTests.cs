using Pot.Cli;

namespace Pot.Simulation.Tests;

[Collection("console")]
public sealed class NetworkSimulationTests
{
    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var oldOut = Console.Out;
        var oldErr = Console.Error;
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Console.SetOut(stdout);
        Console.SetError(stderr);
        try
        {
            return (Program.Run(args), stdout.ToString(), stderr.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }

    [Fact]
    public void CliPrintsOneJsonObjectAndRefusesBadFaultsWithExitCode2()
    {
        // Proves `pot simulate network --json` ends with one JSON object carrying the reported fields (machine figures
        // included), and a malformed --faults or an out-of-range size exits 2 with one error line and no stack trace.
        var (code, stdout, stderr) = Cli("simulate", "network", "--miners", "200", "--validators", "4", "--rounds", "1", "--json");
        Assert.True(code == 0, stderr);
        using var doc = System.Text.Json.JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]);
        foreach (string field in new[] { "roundsCompleted", "uptime", "finalityMedianMs", "finalityP99Ms", "submissionsIncluded", "machine" })
        {
            Assert.True(doc.RootElement.TryGetProperty(field, out _), $"missing {field}");
        }
        Assert.True(doc.RootElement.GetProperty("machine").GetProperty("peakWorkingSetMb").GetDouble() > 0);
        foreach (var (args, expected) in new (string[], string)[]
        {
            (["simulate", "network", "--faults", "miners-crash=2"], "miners-crash takes a fraction"),
            (["simulate", "network", "--faults", "meteor=1"], "unknown fault"),
            (["simulate", "network", "--miners", "-5"], "miners must be in"),
        })
        {
            var (c, _, err) = Cli(args);
            Assert.Equal(2, c);
            Assert.Contains(expected, err, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
        }
    }

    private static NetworkSimulationOptions Small(string faults = "none", ulong seed = 7, int rounds = 3) => new()
    {
        Miners = 500,
        Validators = 10,
        Rounds = rounds,
        Seed = seed,
        Faults = NetworkFaults.Parse(faults, 10),
    };

    [Fact]
    public void SameSeedGivesIdenticalJsonAndAnotherSeedDiffers()
    {
        // Proves the simulation is deterministic: the same seed replays to byte-identical JSON; another seed changes the trace.
        var options = Small("miners-crash=0.1,validators-crash=f");
        string a = SimulateNetworkCommand.ResultJson(new NetworkSimulation(options).Run());
        string b = SimulateNetworkCommand.ResultJson(new NetworkSimulation(options).Run());
        Assert.Equal(a, b);
        var other = new NetworkSimulation(options with { Seed = 8 }).Run();
        Assert.NotEqual(new NetworkSimulation(options).Run().TraceDigest, other.TraceDigest);
    }

    [Fact]
    public void CliWithoutJsonPrintsOneProgressLinePerRound()
    {
        // Proves `pot simulate network` without --json shows progress when stdout is not a terminal (as under the test
        // runner): one line per finalized round, in order, with its virtual finalization time and counts.
        Assert.True(Console.IsOutputRedirected, "the test runner's stdout is expected to be redirected");
        var (code, stdout, stderr) = Cli("simulate", "network", "--miners", "200", "--validators", "4", "--rounds", "2");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n').Where(l => l.StartsWith("round ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, lines.Count);
        Assert.StartsWith("round 1/2 finalized at ", lines[0]);
        Assert.StartsWith("round 2/2 finalized at ", lines[1]);
        Assert.Contains("(on time): included 200, accepted 200, late 0", lines[1]);
    }

    [Fact]
    public void RoundCallbackReportsEachRoundInOrderAndDoesNotChangeTheRun()
    {
        // Proves the progress hook of `pot simulate network`: Run(onRound) reports every finalized round once, in order, as
        // the records of the result, and the result is byte-identical to a run without the hook.
        var options = Small("miners-crash=0.1");
        var seen = new List<NetworkRound>();
        var withHook = new NetworkSimulation(options).Run(seen.Add);
        Assert.Equal(3, seen.Count);
        Assert.Equal(withHook.PerRound, seen);
        Assert.Equal([0L, 1L, 2L], seen.Select(r => r.Round));
        Assert.Equal(SimulateNetworkCommand.ResultJson(new NetworkSimulation(options).Run()), SimulateNetworkCommand.ResultJson(withHook));
    }

    [Fact]
    public void WithoutFaultsEveryRoundFinalizesOnTimeAndEverySubmissionIsAccepted()
    {
        // Proves the fault-free baseline: all rounds complete on time (uptime 1), all 500 submissions per round are included
        // in the window and accepted by RoundRules.Finalize with c = 3 attestations each.
        var r = new NetworkSimulation(Small()).Run();
        Assert.Equal(3, r.RoundsCompleted);
        Assert.Equal(1.0, r.Uptime);
        Assert.Equal(1500, r.SubmissionsIncluded);
        Assert.Equal(1500, r.SubmissionsAccepted);
        Assert.All(r.PerRound, round => Assert.Equal(1500, round.Attestations));
        Assert.Equal(0, r.SubmissionsLate);
        Assert.True(r.FinalityMedianMs > 0 && r.FinalityP99Ms >= r.FinalityMedianMs);
    }

    [Fact]
    public void CrashFaultsReduceSubmissionsByTheExpectedFraction()
    {
        // Proves crashed miners remove exactly their share of submissions (20% of 500 → 400 per round), and f = 3 crashed
        // validators of 10 reject the submissions with fewer than 2 of 3 live assigned verifiers: accepted fraction close to
        // the hypergeometric P(≥ 2 of 3 live) = (C(7,3) + C(7,2)·3) / C(10,3) = 98/120; the rounds still finalize.
        var r = new NetworkSimulation(Small("miners-crash=0.2,validators-crash=f")).Run();
        Assert.Equal(100, r.CrashedMiners);
        Assert.Equal(3, r.CrashedValidators);
        Assert.Equal(3, r.RoundsCompleted);
        Assert.All(r.PerRound, round => Assert.Equal(400, round.Included));
        double accepted = r.SubmissionsAccepted / (double)r.SubmissionsIncluded;
        Assert.InRange(accepted, 98 / 120.0 - 0.05, 98 / 120.0 + 0.05);
        Assert.InRange(r.Uptime, 2 / 3.0, 1.0);
    }

    [Fact]
    public void APartitionOfMoreThanAThirdStallsRoundsThatThenRecover()
    {
        // Proves a partition cutting 50% of the validators off (no quorum on either side) from 10 s to 70 s makes a round
        // late (uptime below 1), and after the heal the remaining rounds still finalize (liveness).
        var r = new NetworkSimulation(Small("partition=0.5@10-70", rounds: 4)).Run();
        Assert.Equal(4, r.RoundsCompleted);
        Assert.True(r.Uptime < 1.0, $"uptime {r.Uptime}");
        Assert.Contains(r.PerRound, round => !round.OnTime);
        Assert.True(r.FinalityMaxMs > 50_000, $"max finality {r.FinalityMaxMs} ms");
    }

    [Theory]
    [InlineData("miners-crash=1.5", "miners-crash takes a fraction")]
    [InlineData("validators-crash=11", "validators-crash takes a count")]
    [InlineData("validators-crash=-1", "validators-crash takes a count")]
    [InlineData("partition=0.4@30-20", "expected partition=FRACTION@START-END")]
    [InlineData("partition=0.4", "expected partition=FRACTION@START-END")]
    [InlineData("byzantine=3", "unknown fault 'byzantine=3'")]
    public void BadFaultSpecsAreRefused(string spec, string expected)
    {
        // Proves malformed fault specs raise ArgumentException (CLI: exit 2) naming the accepted form.
        var ex = Assert.Throws<ArgumentException>(() => NetworkFaults.Parse(spec, 10));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidOptionsAreRefused()
    {
        // Proves out-of-range sizes are refused before the simulation is built.
        Assert.Throws<ArgumentException>(() => new NetworkSimulation(Small() with { Miners = 0 }));
        Assert.Throws<ArgumentException>(() => new NetworkSimulation(Small() with { VerifiersPerSubmission = 11 }));
        Assert.Throws<ArgumentException>(() => new NetworkSimulation(Small() with { MinerBandwidth = -1 }));
    }
}
