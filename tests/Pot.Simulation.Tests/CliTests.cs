using System.Text.Json;
using Pot.Cli;

namespace Pot.Simulation.Tests;

[Collection("console")]
public sealed class CliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var oldOut = Console.Out;
        var oldErr = Console.Error;
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Console.SetOut(stdout);
        Console.SetError(stderr);
        try
        {
            int code = PotCommand.Build().Parse(args).Invoke();
            return (code, stdout.ToString(), stderr.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }

    [Fact]
    public void JsonSummaryIsTheLastLine()
    {
        // Proves `pot simulate consensus --json` ends stdout with one JSON object carrying the documented fields.
        var (code, stdout, _) = Run("simulate", "consensus", "--validators", "4", "--byzantine", "1", "--seeds", "5", "--seed", "10", "--json");
        Assert.Equal(0, code);
        string last = stdout.TrimEnd().Split('\n')[^1];
        using var doc = JsonDocument.Parse(last);
        foreach (var field in new[] { "runs", "safetyViolations", "livenessFailures", "blocksCommitted", "viewChanges", "messages", "failingSeeds" })
        {
            Assert.True(doc.RootElement.TryGetProperty(field, out _), $"missing {field}");
        }
        Assert.Equal(5, doc.RootElement.GetProperty("runs").GetInt32());
    }

    [Fact]
    public void WithoutJsonARedirectedRunPrintsLineProgress()
    {
        // Proves `pot simulate consensus` without --json shows progress when stdout is not a terminal (as under the test
        // runner): one line per tenth of the seeds, before the summary; with --json there is none.
        Assert.True(Console.IsOutputRedirected, "the test runner's stdout is expected to be redirected");
        var (code, stdout, _) = Run("simulate", "consensus", "--validators", "4", "--seeds", "20", "--seed", "3");
        Assert.Equal(0, code);
        var lines = stdout.Split('\n').Where(l => l.StartsWith("seeds ", StringComparison.Ordinal)).ToList();
        Assert.Equal(9, lines.Count);
        Assert.StartsWith("seeds 2/20", lines[0]);
        Assert.StartsWith("seeds 18/20", lines[^1]);
        var (_, quiet, _) = Run("simulate", "consensus", "--validators", "4", "--seeds", "20", "--seed", "3", "--json");
        Assert.DoesNotContain("seeds 2/20", quiet);
    }

    [Fact]
    public void FailingSeedsAreReportedWithReplayCommand()
    {
        // Proves a run with B = f+1 that breaks safety exits non-zero, lists the failing seeds and prints the replay command.
        var (code, stdout, stderr) = Run("simulate", "consensus", "--validators", "4", "--byzantine", "2", "--seeds", "60", "--json");
        string last = stdout.TrimEnd().Split('\n')[^1];
        using var doc = JsonDocument.Parse(last);
        if (doc.RootElement.GetProperty("failingSeeds").GetArrayLength() > 0)
        {
            Assert.Equal(1, code);
            Assert.Contains("replay: dotnet run --project src/Pot.Cli", stderr);
        }
        Assert.True(doc.RootElement.GetProperty("safetyViolations").GetInt32() + doc.RootElement.GetProperty("livenessFailures").GetInt32() > 0);
    }

    [Fact]
    public void UserMistakesGiveClearErrorsWithoutStackTraces()
    {
        // Proves invalid options produce a message naming the option and the expected range, and no stack trace.
        var (code, _, stderr) = Run("simulate", "consensus", "--validators", "3", "--byzantine", "5");
        Assert.NotEqual(0, code);
        Assert.Contains("--byzantine 5 exceeds --validators 3", stderr);
        var (code2, _, stderr2) = Run("simulate", "consensus", "--seeds", "0");
        Assert.NotEqual(0, code2);
        Assert.Contains("--seeds must be between 1", stderr2);
        Assert.DoesNotContain("   at ", stderr + stderr2);
    }
}
