using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Pot.Chain.CrashChild;
using Pot.Chain.Genesis;
using Pot.Commitments;

namespace Pot.Chain.Tests;

public class GenesisTests
{
    [Fact]
    public void GenesisJsonRoundTripsToTheSameChain()
    {
        // Proves: writing a genesis (with accounts, roles and a task) and parsing it back gives the
        // same genesis hash and state root.
        var g = new Workload(3).Genesis;
        var parsed = GenesisDocument.Parse(g.ToJson());
        Assert.Equal(Hex.Encode(g.Build().Header.Hash()), Hex.Encode(parsed.Build().Header.Hash()));
        Assert.Equal(Hex.Encode(g.Build().State.Root), Hex.Encode(parsed.Build().State.Root));
    }

    private static string Mutate(Func<JsonObject, JsonObject> change)
    {
        var o = JsonNode.Parse(new Workload(3).Genesis.ToJson())!.AsObject();
        return change(o).ToJsonString();
    }

    [Theory]
    [InlineData("unknown-top", "unknown key \"extra\"")]
    [InlineData("unknown-param", "unknown key \"blockReward\"")]
    [InlineData("missing-chain", "missing required key \"chainId\"")]
    [InlineData("bad-chain", "chain id")]
    [InlineData("bad-key", "publicKey")]
    [InlineData("negative", "non-negative integer")]
    [InlineData("low-stake", "minStakeValidator")]
    [InlineData("dup-validator", "listed twice")]
    [InlineData("bad-role", "is not a role")]
    [InlineData("bad-ppm", "feeBurnPpm")]
    [InlineData("bad-window", "verification window")]
    [InlineData("not-json", "not valid JSON")]
    public void StrictParsingRejectsBadGenesisFiles(string kind, string expected)
    {
        // Proves: unknown keys, missing keys, bad values and inconsistencies are each rejected with a
        // message naming the problem.
        string text = kind switch
        {
            "unknown-top" => Mutate(o => { o["extra"] = 1; return o; }),
            "unknown-param" => Mutate(o => { o["parameters"]!["blockReward"] = 5; return o; }),
            "missing-chain" => Mutate(o => { o.Remove("chainId"); return o; }),
            "bad-chain" => Mutate(o => { o["chainId"] = "Bad Chain"; return o; }),
            "bad-key" => Mutate(o => { o["validators"]![0]!["publicKey"] = "abcd"; return o; }),
            "negative" => Mutate(o => { o["validators"]![0]!["stake"] = -5; return o; }),
            "low-stake" => Mutate(o => { o["validators"]![0]!["stake"] = 1; return o; }),
            "dup-validator" => Mutate(o => { o["validators"]!.AsArray().Add(o["validators"]![0]!.DeepClone()); return o; }),
            "bad-role" => Mutate(o => { o["accounts"]![0]!["roles"] = new JsonArray("validator"); return o; }),
            "bad-ppm" => Mutate(o => { o["parameters"]!["feeBurnPpm"] = 2_000_000; return o; }),
            "bad-window" => Mutate(o => { o["tasks"]![0]!["verification"]!["windowBlocks"] = 999; return o; }),
            _ => "{ nope",
        };
        var ex = Assert.Throws<PotFormatException>(() => GenesisDocument.Parse(Encoding.UTF8.GetBytes(text)));
        Assert.Contains(expected, ex.Message);
    }

    private static (int Code, string Out, string Err) Pot(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pot.dll"));
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["POT_TEST_PASS"] = "correct horse";
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(60_000), "pot did not finish");
        return (p.ExitCode, o.Result, e.Result);
    }

    [Fact]
    public void PotGenesisNewWritesAValidGenesisAndKeyFiles()
    {
        // Proves: `pot genesis new --validators 4 --keys-dir` writes a genesis that parses strictly, has
        // 4 validators whose key files open with the passphrase and match, and reports it in --json;
        // bad options fail with exit code 2 and a one-line error.
        string dir = Path.Combine(Path.GetTempPath(), "pot-genesis-" + Guid.NewGuid().ToString("N"));
        try
        {
            string file = Path.Combine(dir, "genesis.json");
            var (code, stdout, stderr) = Pot("genesis", "new", "--validators", "4", "--out", file, "--keys-dir", Path.Combine(dir, "keys"),
                "--passphrase-env", "POT_TEST_PASS", "--kdf-memory-kib", "1024", "--chain-id", "pot-local", "--json");
            Assert.True(code == 0, stderr);
            var report = JsonNode.Parse(stdout.Trim().Split('\n')[^1])!.AsObject();
            var g = GenesisDocument.Parse(File.ReadAllBytes(file));
            Assert.Equal("pot-local", g.ChainId);
            Assert.Equal(4, g.Validators.Count);
            Assert.Equal(Hex.Encode(g.Build().Header.Hash()), report["genesisHash"]!.GetValue<string>());
            for (int i = 0; i < 4; i++)
            {
                using var key = Commitments.Keys.KeyFile.Open(File.ReadAllBytes(Path.Combine(dir, "keys", $"validator-{i}.key.json")), "correct horse");
                Assert.Equal(Hex.Encode(g.Validators[i].PublicKey), Hex.Encode(key.PublicKey));
            }

            var again = Pot("genesis", "new", "--validators", "4", "--out", file);
            Assert.Equal(2, again.Code);
            Assert.Contains("already exists", again.Err);
            var check = Pot("genesis", "check", file, "--json");
            Assert.Equal(0, check.Code);
            File.WriteAllText(file, File.ReadAllText(file).Replace("\"chainId\"", "\"chainID\""));
            var bad = Pot("genesis", "check", file);
            Assert.Equal(2, bad.Code);
            Assert.Contains("unknown key \"chainID\"", bad.Err);
            var help = Pot("genesis", "new", "--help");
            Assert.Contains("--keys-dir", help.Out);
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, true);
            }
        }
    }
}
