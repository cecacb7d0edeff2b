using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Pot.Protocol.Tests;

public sealed class CliTests
{
    /// <summary>Runs the `pot` CLI built beside the tests; fails the test after 2 minutes.</summary>
    internal static (int Exit, string Out, string Err) Pot(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pot.dll"));
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(120_000), $"pot {string.Join(' ', args)} did not finish in 2 minutes");
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void SimulateProtocolPrintsTheJsonTotals()
    {
        // Proves: `pot simulate protocol --json` runs rounds with a cheater and ends with one JSON object holding
        // the documented fields, the cheater caught and slashed and no honest party slashed.
        var (exit, stdout, stderr) = Pot("simulate", "protocol", "--task", "tiny", "--miners", "3", "--cheaters", "false-loss", "--rounds", "2", "--json");
        Assert.True(exit == 0, stderr);
        var json = JsonNode.Parse(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1])!.AsObject();
        foreach (string field in new[] { "rounds", "initialLoss", "finalLoss", "accepted", "rejected", "slashedHonest", "slashedCheaters", "cheatersUndetected", "verifierCpuSeconds", "minerCpuSeconds" })
        {
            Assert.True(json.ContainsKey(field), $"missing {field}");
        }
        Assert.Equal(2, (int)json["rounds"]!);
        Assert.Equal(0, (int)json["slashedHonest"]!);
        Assert.Equal(2, (int)json["slashedCheaters"]!);
        Assert.Equal(0, (int)json["cheatersUndetected"]!);
        Assert.True((double)json["finalLoss"]! < (double)json["initialLoss"]!);

        // --carry-optimizer: the same run with carried AdamW state; honest work is still accepted and the cheater still slashed,
        // and the training differs (the honest miners' rounds after the first start from their carried state).
        var (cexit, cout, cerr) = Pot("simulate", "protocol", "--task", "tiny", "--miners", "3", "--cheaters", "false-loss", "--rounds", "2", "--carry-optimizer", "--json");
        Assert.True(cexit == 0, cerr);
        var carried = JsonNode.Parse(cout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1])!.AsObject();
        Assert.Equal(0, (int)carried["slashedHonest"]!);
        Assert.Equal(2, (int)carried["slashedCheaters"]!);
        Assert.Equal((int)json["accepted"]!, (int)carried["accepted"]!);
        Assert.NotEqual((double)json["finalLoss"]!, (double)carried["finalLoss"]!);
    }

    [Fact]
    public void UnknownCheaterIsAOneLineError()
    {
        // Proves: a typo in --cheaters gives exit code 2 and a message naming the valid strategies, no stack trace.
        var (exit, _, stderr) = Pot("simulate", "protocol", "--task", "tiny", "--cheaters", "bogus");
        Assert.Equal(2, exit);
        Assert.Contains("unknown cheater strategy 'bogus'", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void ExperimentCheatingWritesTablesPlotsAndJson()
    {
        // Proves: `pot experiment cheating` writes its Markdown table, JSON and a real PNG into --out, reports no
        // false slash, and a bad --probabilities value is a usage error (exit 2) that writes nothing.
        string dir = Path.Combine(Path.GetTempPath(), "pot-exp-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (exit, stdout, stderr) = Pot("experiment", "cheating", "--rounds", "6", "--strategies", "copy-exact", "--probabilities", "1", "--out", dir, "--json");
            Assert.True(exit == 0, stderr);
            var json = JsonNode.Parse(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1])!.AsObject();
            Assert.Equal(0, (int)json["falseSlashes"]!);
            Assert.True((bool)json["allAgree"]!);
            var cell = json["cells"]!.AsArray().Single()!;
            Assert.Equal("copy-exact", (string)cell["strategy"]!);
            Assert.Equal((int)cell["cheated"]!, (int)cell["caught"]!);
            Assert.Contains("| copy-exact |", File.ReadAllText(Path.Combine(dir, "cheating.md")));
            byte[] png = File.ReadAllBytes(Path.Combine(dir, "cheating.png"));
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);

            string bad = Path.Combine(dir, "bad");
            (exit, _, stderr) = Pot("experiment", "cheating", "--probabilities", "1.5", "--out", bad);
            Assert.Equal(2, exit);
            Assert.Contains("--probabilities", stderr);
            Assert.False(Directory.Exists(bad));
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    [Fact]
    public void ExperimentQualityIsTheSameWithOneOrTwoJobsAndJudgesTheTarget()
    {
        // Proves: `pot experiment quality` gives the same bits with --jobs 1 and --jobs 2 (each arm is deterministic and
        // single-threaded), ablation and large-batch arms included, writes the target column, the schedule and the ablation table, and a bad --schedule or
        // --inner-lr is a usage error (exit 2) that writes nothing.
        string dir = Path.Combine(Path.GetTempPath(), "pot-quality-" + Guid.NewGuid().ToString("N"));
        try
        {
            var finals = new List<string>();
            foreach (string jobs in new[] { "1", "2" })
            {
                string outDir = Path.Combine(dir, jobs);
                var (exit, stdout, stderr) = Pot("experiment", "quality", "--task", "tiny", "--budget", "48", "--miners", "1,2", "--inner-steps", "4",
                    "--curve-points", "2", "--jobs", jobs, "--ablation", "--large-batch", "--out", outDir, "--json");
                Assert.True(exit == 0, stderr);
                var json = JsonNode.Parse(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1])!.AsObject();
                Assert.Equal("rounds", (string)json["schedule"]!);
                Assert.Equal((float)json["learningRate"]!, (float)json["innerLearningRate"]!);
                var arms = json["protocol"]!.AsArray();
                Assert.Equal([1, 2], arms.Select(a => (int)a!["miners"]!));
                Assert.Equal([12, 6], arms.Select(a => (int)a!["rounds"]!));
                var ablation = json["ablation"]!.AsArray();
                Assert.Equal([false, true], ablation.Select(a => (bool)a!["quantized"]!));
                Assert.All(ablation, a => Assert.Equal(4, (int)a!["innerSteps"]!));
                var large = Assert.Single(json["largeBatch"]!.AsArray())!;
                Assert.Equal((2, 16, 24), ((int)large["miners"]!, (int)large["batchSize"]!, (int)large["steps"]!));
                finals.Add(string.Join(";", arms.Select(a => $"{(double)a!["finalLoss"]!:R}/{(bool)a["meetsTarget"]!}")) + "|" + (double)json["centralized"]!.AsArray()[^1]!["loss"]!
                    + "|" + string.Join(";", ablation.Select(a => $"{(double)a!["finalLoss"]!:R}")) + "|" + (double)large["finalLoss"]!);
                string table = File.ReadAllText(Path.Combine(outDir, "quality-tiny.md"));
                Assert.Contains("learning-rate schedule spread over each arm's rounds", table, StringComparison.Ordinal);
                Assert.Contains("| target |", table, StringComparison.Ordinal);
                Assert.Contains("| 4 | AdamW restart every 4 + 4-bit update |", table, StringComparison.Ordinal);
                Assert.Contains("| 2 | 16 | 24 |", table, StringComparison.Ordinal);
            }
            Assert.Equal(finals[0], finals[1]);

            // --lr moves every arm (the centralized run included), --inner-lr the protocol's miners only.
            var (lexit, lout, lerr) = Pot("experiment", "quality", "--task", "tiny", "--budget", "48", "--miners", "2", "--inner-steps", "4",
                "--curve-points", "1", "--lr", "0.01", "--inner-lr", "0.02", "--out", Path.Combine(dir, "lr"), "--json");
            Assert.True(lexit == 0, lerr);
            var ljson = JsonNode.Parse(lout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1])!.AsObject();
            Assert.Equal((0.01f, 0.02f), ((float)ljson["learningRate"]!, (float)ljson["innerLearningRate"]!));
            Assert.NotEqual(finals[0].Split('|')[1], ((double)ljson["centralized"]!.AsArray()[^1]!["loss"]!).ToString());
            Assert.Contains("peak inner learning rate 0.02 (centralized: 0.01)", File.ReadAllText(Path.Combine(dir, "lr", "quality-tiny.md")), StringComparison.Ordinal);

            string bad = Path.Combine(dir, "bad");
            var (code, _, err) = Pot("experiment", "quality", "--task", "tiny", "--schedule", "cosine", "--out", bad);
            Assert.Equal(2, code);
            Assert.Contains("--schedule", err, StringComparison.Ordinal);
            Assert.False(Directory.Exists(bad));
            foreach (string option in new[] { "--inner-lr", "--lr" })
            {
                (code, _, err) = Pot("experiment", "quality", "--task", "tiny", option, "0", "--out", bad);
                Assert.Equal(2, code);
                Assert.Contains("learning rate 0 must be positive", err, StringComparison.Ordinal);
                Assert.False(Directory.Exists(bad));
            }
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }
}
