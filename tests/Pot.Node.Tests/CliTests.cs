using System.Diagnostics;
using System.Text.Json.Nodes;
using Pot.Commitments.Keys;

namespace Pot.Node.Tests;

// Shares a collection with the other tests that start `pot` processes, so they do not starve each
// other of CPU (the devnet flake, docs/node.md "Liveness under CPU starvation").
[Collection("OS processes")]
public sealed class CliTests
{
    internal static (int Exit, string Out, string Err) Pot(params string[] args) => PotWithin(150, args);

    internal static (int Exit, string Out, string Err) PotWithin(int seconds, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pot.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(seconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("pot " + string.Join(' ', args) + $" did not finish in {seconds} s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    // Proves `pot devnet` starts every validator as its own OS process, commits the requested rounds,
    // and prints a last-line JSON object whose validators agree on the head; no child is left behind.
    [Fact]
    public void DevnetRunsValidatorsAsProcessesAndReportsAgreement()
    {
        var (exit, stdout, stderr) = Pot("devnet", "--task", "none", "--validators", "4", "--rounds", "2", "--json", "--timeout-s", "140");
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        var report = (JsonObject)JsonNode.Parse(stdout.Trim().Split('\n')[^1])!;
        Assert.True((bool)report["validatorsAgree"]!);
        Assert.True((ulong)report["height"]! >= 2);
        Assert.Equal(64, ((string)report["headHash"]!).Length);
        Assert.Equal(8, (int)report["transactions"]!);
    }

    // Proves `pot tx transfer` builds, signs and submits over RPC (nonce from the node), waits for the
    // commit, and `pot status --json` reports the head; a bad address is refused with a clear error.
    [Fact]
    public async Task TxTransferAndStatusAgainstARunningNetwork()
    {
        await using var net = new TestNetwork(4);
        await net.StartAllAsync();
        using var bob = Ed25519Keys.Generate();
        string pass = Path.Combine(net.Directory, "passphrase.txt");
        string rpc = net.Nodes[2].ApiUrl;
        var (exit, stdout, stderr) = Pot("tx", "transfer", "--rpc", rpc, "--key", net.Nodes[0].KeyPath, "--passphrase-file", pass, "--to", bob.Address, "--amount", "42", "--wait", "--json");
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        var tx = (JsonObject)JsonNode.Parse(stdout.Trim().Split('\n')[^1])!;
        Assert.Equal("committed", (string)tx["status"]!);
        (exit, stdout, stderr) = Pot("tx", "stake", "--rpc", rpc, "--key", net.Nodes[0].KeyPath, "--passphrase-file", pass, "--amount", "10", "--wait", "--json");
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        Assert.Equal(1UL, (ulong)JsonNode.Parse(stdout.Trim().Split('\n')[^1])!["nonce"]!);
        Assert.Equal(42UL, (ulong)(await net.GetAsync(1, "/api/account/" + bob.Address))["balance"]!);
        (exit, stdout, _) = Pot("status", "--rpc", rpc, "--json");
        Assert.Equal(0, exit);
        var status = (JsonObject)JsonNode.Parse(stdout.Trim())!;
        Assert.True((ulong)status["height"]! >= 2);
        (exit, _, stderr) = Pot("tx", "transfer", "--rpc", rpc, "--key", net.Nodes[0].KeyPath, "--passphrase-file", pass, "--to", "pot123", "--amount", "1");
        Assert.NotEqual(0, exit);
        Assert.Contains("--to 'pot123'", stderr);
    }
}
