using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Pot.Protocol.Tests;

public sealed class CliTests
{
    private static (int Exit, string Out, string Err) Pot(params string[] args)
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
        Assert.True(p.WaitForExit(120_000), "pot simulate protocol did not finish in 2 minutes");
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
}
