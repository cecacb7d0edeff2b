using System.Diagnostics;
using System.Globalization;
using Pot.Chain.CrashChild;
using Pot.Chain.Storage;
using Pot.Commitments;
using Xunit.Abstractions;

namespace Pot.Chain.Tests;

public class CrashTests(ITestOutputHelper output)
{
    private const int Kills = 50;

    private sealed class Run
    {
        public ulong StartHead = ulong.MaxValue;
        public ulong LastCommitted;
        public bool Finished;
    }

    private static Run RunChild(string dir, ulong seed, int killAfterMs, Random rng)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "Pot.Chain.CrashChild.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        psi.ArgumentList.Add(dir);
        psi.ArgumentList.Add(seed.ToString(CultureInfo.InvariantCulture));
        psi.ArgumentList.Add("1000000");
        var run = new Run();
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var reader = Task.Run(() =>
        {
            string? line;
            while ((line = p.StandardOutput.ReadLine()) is not null)
            {
                var parts = line.Split(' ');
                if (parts[0] == "head")
                {
                    run.StartHead = ulong.Parse(parts[1], CultureInfo.InvariantCulture);
                }
                else if (parts[0] == "committed")
                {
                    run.LastCommitted = ulong.Parse(parts[1], CultureInfo.InvariantCulture);
                }
                else if (parts[0] == "done")
                {
                    run.Finished = true;
                }
            }
        });
        // Wait until the child has opened the store and committed a first block (so the kill lands in
        // its block loop, not in the runtime's start-up), then kill it at a random moment.
        var clock = Stopwatch.StartNew();
        while ((run.StartHead == ulong.MaxValue || run.LastCommitted <= run.StartHead) && !p.HasExited && clock.ElapsedMilliseconds < 30_000)
        {
            Thread.Sleep(1);
        }
        Thread.Sleep(killAfterMs + rng.Next(0, 3));
        if (!p.HasExited)
        {
            p.Kill(); // SIGKILL on Unix
        }
        p.WaitForExit();
        reader.Wait();
        Assert.True(run.StartHead != ulong.MaxValue, $"child never opened its store: {stderr.Result}");
        Assert.False(p.ExitCode == 0 && !run.Finished, "child exited normally without finishing");
        Assert.True(string.IsNullOrWhiteSpace(stderr.Result) || p.ExitCode != 0, stderr.Result);
        return run;
    }

    [Fact]
    public void KilledProcessesLoseNoCommittedBlockAndRestartToTheReplayedState()
    {
        // Proves crash safety with a real process: a child committing blocks to RocksDB is killed with
        // SIGKILL at random moments 50 times; every restart starts at or after the last height the
        // previous run reported committed (at most one block further: the one in flight), and at the
        // end the stored chain equals the replay of its blocks from genesis, block for block and root
        // for root.
        using var dir = new TempDir();
        const ulong seed = 99;
        var rng = new Random(12345);
        ulong lastReported = 0;
        int killedMidRun = 0;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < Kills; i++)
        {
            var run = RunChild(dir.Path, seed, rng.Next(0, 40), rng);
            Assert.True(run.StartHead >= lastReported, $"restart {i}: head {run.StartHead} is below the last reported commit {lastReported}: a committed block was lost");
            Assert.True(run.StartHead <= lastReported + 1, $"restart {i}: head {run.StartHead} is more than one block past the last reported commit {lastReported}");
            if (run.LastCommitted > run.StartHead)
            {
                killedMidRun++;
            }
            lastReported = Math.Max(run.StartHead, run.LastCommitted);
        }
        output.WriteLine($"{Kills} kills in {clock.Elapsed.TotalSeconds:F1} s; {killedMidRun} runs had committed blocks; last reported height {lastReported}");
        Assert.True(killedMidRun == Kills, $"only {killedMidRun} of {Kills} runs got to commit blocks before the kill");

        var w = new Workload(seed);
        using var store = ChainStore.Open(dir.Path, w.Genesis);
        Assert.True(store.Height >= lastReported && store.Height <= lastReported + 1);
        var replay = Ledger.FromGenesis(w.Genesis);
        while (replay.Head.Height < store.Height)
        {
            var (block, cert) = w.NextBlock(replay);
            var stored = store.GetBlock(block.Header.Height)!.Value;
            Assert.Equal(Hex.Encode(block.Hash), Hex.Encode(stored.Block.Hash));
            replay.Commit(block, cert);
        }
        Assert.Equal(Hex.Encode(replay.State.Root), Hex.Encode(store.Ledger.State.Root));
        Assert.Equal(Hex.Encode(replay.HeadHash), Hex.Encode(store.Ledger.HeadHash));
        Assert.True(State.SupplyAudit.Compute(store.Ledger.State).Conserved);
        output.WriteLine($"verified {store.Height} blocks by replay; total {clock.Elapsed.TotalSeconds:F1} s");
    }
}
