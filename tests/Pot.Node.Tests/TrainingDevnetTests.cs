using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;

namespace Pot.Node.Tests;

// Devnet runs start many processes: they run one at a time (not in parallel with each other).
[Collection("OS processes")]
public sealed class TrainingDevnetTests
{
    // Proves the devnet trains a model through the protocol over a real network, one run covering three claims:
    // (1) 4 validator processes and 3 miner processes (followers) finalize 3 rounds, the held-out loss falls, and the
    //     honest validators agree on the block hash and the model root at a common height and on every round's
    //     evaluation;
    // (2) a cheating miner (wrong-data: every step trains on data β did not assign, so any replayed step fails) is
    //     rejected and slashed, and no honest miner is slashed;
    // (3) miner 0 is killed with SIGKILL after round 0: it contributes nothing afterwards and the rounds still finalize;
    // (4) all of it with validator 3 equivocating (--byzantine 1): the honest majority finalizes and slashes the cheater;
    // (5) with a round schedule (--schedule-rounds): every node replays at the round's learning rate, so honest work is accepted;
    // (6) with carried optimiser state (--carry-optimizer): the surviving honest miner, accepted in at least two rounds, starts
    //     every round after its first accepted one from its carried AdamW state, and the validators accept that start.
    [Fact]
    public void DevnetTrainsThroughTheProtocolCatchesACheaterAndSurvivesAKilledMiner()
    {
        var (exit, stdout, stderr) = CliTests.PotWithin(330, "devnet", "--validators", "4", "--miners", "3", "--rounds", "3", "--task", "tiny",
            "--inner-steps", "4", "--schedule-rounds", "3", "--carry-optimizer", "--window-blocks", "20", "--block-interval-ms", "400", "--cheaters", "wrong-data", "--kill-miner-after-round", "0",
            "--eval-batches", "2", "--byzantine", "1", "--json", "--timeout-s", "300");
        Assert.True(exit == 0, $"exit {exit}: {stderr}\n{stdout}");
        var report = (JsonObject)JsonNode.Parse(stdout.Trim().Split('\n')[^1])!;
        Assert.Equal(3, (int)report["rounds"]!);
        Assert.Equal(1, (int)report["byzantine"]!);
        Assert.StartsWith("http://127.0.0.1:", (string)report["dashboard"]!);
        Assert.True((double)report["finalLoss"]! < (double)report["initialLoss"]!, report.ToJsonString());
        Assert.True((bool)report["validatorsAgree"]!, report.ToJsonString());
        Assert.True((bool)report["evaluationsAgree"]!, report.ToJsonString());
        Assert.Equal(64, ((string)report["modelRoot"]!).Length);
        Assert.True((bool)report["minerKilled"]!);
        var miners = ((JsonArray)report["miners"]!).Select(m => (JsonObject)m!).ToArray();
        var cheater = miners.Single(m => (string)m["strategy"]! == "wrong-data");
        Assert.Equal(0, (int)cheater["accepted"]!);
        Assert.True((int)cheater["rejected"]! >= 1, report.ToJsonString());
        Assert.True((bool)cheater["slashed"]!, report.ToJsonString());
        Assert.All(miners.Where(m => (string)m["strategy"]! == "honest"), m => Assert.False((bool)m["slashed"]!, m.ToJsonString()));
        // The killed miner contributed to no round opened after its death (it may have submitted to the round open at the
        // kill: a fast miner often has), at least one round finalized without it, and the surviving honest miner contributed.
        int killedIn = (int)report["minerKilledInRound"]!;
        Assert.True(killedIn == 1, report.ToJsonString()); // the devnet polls every 300 ms; a round lasts at least 20 blocks of 400 ms
        Assert.All(((JsonArray)miners[0]["acceptedRounds"]!).Select(r => (int)r!), r => Assert.True(r <= killedIn, report.ToJsonString()));
        Assert.Equal((int)miners[0]["accepted"]!, ((JsonArray)miners[0]["acceptedRounds"]!).Count);
        Assert.True((int)miners[1]["accepted"]! >= 2, report.ToJsonString());
        Assert.True((int)report["slashed"]! >= 1);
    }

    // Proves `pot devnet --stay` (the getting-started path, docs/getting-started.md): after the rounds the --json report is
    // printed while every node keeps running, a task's model can then be downloaded (verified against the chain) and
    // generated from over the still-running validators' API, and Ctrl-C (SIGINT) stops every node and exits with the
    // report's code 0, leaving no node process and no temporary directory.
    [Fact]
    public void DevnetStayKeepsTheNodesUpForModelDownloadsUntilInterrupted()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pot.dll"));
        foreach (string a in new[] { "devnet", "--task", "tiny", "--validators", "4", "--miners", "1", "--rounds", "1", "--inner-steps", "4", "--window-blocks", "20",
            "--block-interval-ms", "400", "--eval-batches", "2", "--timeout-s", "240", "--json", "--stay" })
            psi.ArgumentList.Add(a);
        using var devnet = Process.Start(psi)!;
        var lines = new List<string>();
        var errors = new List<string>();
        devnet.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
        devnet.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (errors) errors.Add(e.Data); };
        devnet.BeginOutputReadLine();
        devnet.BeginErrorReadLine();
        var nodes = new List<int>();
        try
        {
            JsonObject? report = null;
            var until = DateTime.UtcNow.AddSeconds(260);
            while (report is null)
            {
                lock (lines) report = lines.FirstOrDefault(l => l.StartsWith('{')) is { } json ? (JsonObject)JsonNode.Parse(json)! : null;
                if (devnet.HasExited || DateTime.UtcNow > until)
                    Assert.Fail($"no report from a running devnet (exited: {devnet.HasExited}):\n{string.Join("\n", lines)}\n{string.Join("\n", errors)}");
                Thread.Sleep(300);
            }
            Assert.Equal(1, (int)report["rounds"]!);
            Assert.True((bool)report["validatorsAgree"]!, report.ToJsonString());
            string rpc = ((string)report["dashboard"]!).TrimEnd('/');
            // The node processes: the devnet's children, each `pot node --config DIR/NAME.json`.
            nodes.AddRange(ChildrenOf(devnet.Id));
            Assert.Equal(5, nodes.Count);
            string config = CommandLine(nodes[0]).Split('\0').Single(a => a.EndsWith(".json", StringComparison.Ordinal));
            string dir = Path.GetDirectoryName(config)!;
            Assert.StartsWith("pot-devnet-", Path.GetFileName(dir));

            // The nodes are still up: the task's model downloads and verifies, and answers a prompt.
            string file = Path.Combine(Path.GetTempPath(), $"pot-stay-{Environment.ProcessId}.safetensors");
            try
            {
                var (exit, stdout, stderr) = CliTests.Pot("model", "download", "--rpc", rpc, "--task", "0", "--out", file, "--force", "--json");
                Assert.True(exit == 0, stderr);
                var downloaded = (JsonObject)JsonNode.Parse(stdout.Trim().Split('\n')[^1])!;
                Assert.True((bool)downloaded["verified"]!);
                Assert.Equal(new FileInfo(file).Length, (long)downloaded["bytes"]!);
                Assert.True((ulong)downloaded["height"]! >= (ulong)report["height"]!);
            }
            finally
            {
                File.Delete(file);
            }
            var (gexit, gout, gerr) = CliTests.Pot("generate", "--rpc", rpc, "--task", "0", "--prompt", "12+34=", "--json");
            Assert.True(gexit == 0, gerr);
            Assert.Equal("12+34=", (string)JsonNode.Parse(gout.Trim().Split('\n')[^1])!["prompt"]!);
            Assert.False(devnet.HasExited);

            // Ctrl-C: every node stops, the exit code is the report's.
            using (var interrupt = Process.Start("kill", ["-INT", devnet.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) interrupt.WaitForExit();
            Assert.True(devnet.WaitForExit(60_000), "the devnet did not stop within 60 s of SIGINT");
            devnet.WaitForExit();
            Assert.Equal(0, devnet.ExitCode);
            Assert.All(nodes, pid => Assert.DoesNotContain(dir, CommandLine(pid)));
            Assert.False(Directory.Exists(dir), $"{dir} was not deleted");
        }
        finally
        {
            if (!devnet.HasExited) devnet.Kill(entireProcessTree: true);
        }
    }

    private static IEnumerable<int> ChildrenOf(int parent) =>
        Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Select(n => int.TryParse(n, out int pid) ? pid : 0).Where(pid => pid > 0).Where(pid =>
        {
            try
            {
                string stat = File.ReadAllText($"/proc/{pid}/stat");
                return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture) == parent;
            }
            catch (IOException)
            {
                return false;
            }
        }).ToList();

    // A process's NUL-separated command line, "" once it is gone.
    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline");
        }
        catch (IOException)
        {
            return "";
        }
    }

    // Proves the devnet refuses bad settings with exit code 2 and a message naming the option, before starting anything.
    [Fact]
    public void DevnetRefusesBadSettings()
    {
        var (exit, _, stderr) = CliTests.Pot("devnet", "--miners", "2", "--cheaters", "wrong-data:3");
        Assert.Equal(2, exit);
        Assert.Contains("--cheaters names 3 miners but --miners is 2", stderr);
        (exit, _, stderr) = CliTests.Pot("devnet", "--cheaters", "teleport");
        Assert.Equal(2, exit);
        Assert.Contains("unknown cheater strategy 'teleport'", stderr);
        (exit, _, stderr) = CliTests.Pot("devnet", "--validators", "4", "--byzantine", "2");
        Assert.Equal(2, exit);
        Assert.Contains("--byzantine", stderr);
        (exit, _, stderr) = CliTests.Pot("devnet", "--task", "no-such-task");
        Assert.Equal(2, exit);
    }

    // Proves the peer name route answers a malformed commitment with 400 and an unknown one with 404, and the
    // round-history RPCs refuse a node that runs no task with a clear error.
    [Fact]
    public async Task NameRouteAndHistoryRpcsRefuseBadRequests()
    {
        await using var net = new TestNetwork(4);
        await net.StartAllAsync();
        using var h2 = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var bad = await h2.GetAsync(net.Nodes[0].P2pUrl + "/p2p/name/xyz");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        var missing = await h2.GetAsync(net.Nodes[0].P2pUrl + "/p2p/name/" + new string('a', 64));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using var http = new HttpClient();
        var rounds = await http.GetAsync(net.Nodes[1].ApiUrl + "/api/task/0/rounds");
        Assert.Equal(HttpStatusCode.NotFound, rounds.StatusCode);
        Assert.Contains("no round history", await rounds.Content.ReadAsStringAsync());
        var attestations = await http.GetAsync(net.Nodes[1].ApiUrl + "/api/submission/" + new string('0', 63) + "/attestations");
        Assert.Equal(HttpStatusCode.BadRequest, attestations.StatusCode);
    }
}
