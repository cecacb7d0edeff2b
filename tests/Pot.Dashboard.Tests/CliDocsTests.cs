using System.Text.Json.Nodes;
using Pot.Cli;
using Spectre.Console;

namespace Pot.Dashboard.Tests;

/// <summary>docs/cli.md is generated from the command tree and must match it; <c>pot status</c>'s compact table.</summary>
public sealed class CliDocsTests
{
    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pot.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Pot.slnx not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public void CliReference_MatchesTheCommandTree()
    {
        string path = Path.Combine(RepositoryRoot(), "docs", "cli.md");
        Assert.True(File.Exists(path), $"docs/cli.md is missing; generate it: {DocsCommands.RegenerateCommand}");
        string expected = DocsCommands.Generate(PotCommand.Build());
        string actual = File.ReadAllText(path).Replace("\r\n", "\n", StringComparison.Ordinal);
        Assert.True(expected == actual, $"docs/cli.md differs from the command tree; regenerate it: {DocsCommands.RegenerateCommand}");
    }

    [Fact]
    public void CliReference_CoversEveryVisibleCommandAndOption_AndHidesTheGenerator()
    {
        string text = DocsCommands.Generate(PotCommand.Build());
        foreach (string heading in new[] { "## pot status", "## pot devnet", "## pot tx task create", "## pot inspect q4 encode" }) Assert.Contains("\n" + heading + "\n", text);
        Assert.DoesNotContain("## pot docs", text);
        Assert.Contains("| `--rpc` | text | `http://127.0.0.1:7200` |", text);
        Assert.Contains("| `--threads` | integer | the machine's processor count |", text);
        // Every option of every visible command has a row.
        static IEnumerable<System.CommandLine.Command> All(System.CommandLine.Command c) => c.Subcommands.Where(s => !s.Hidden).SelectMany(s => All(s).Prepend(s));
        foreach (var command in All(PotCommand.Build()))
            foreach (var option in command.Options.Where(o => !o.Hidden && o is not System.CommandLine.Help.HelpOption))
                Assert.Contains("| `" + option.Name + "`", text);
    }

    [Fact]
    public void DocsCommand_WritesTheFile_AndIsNotInHelp()
    {
        string file = Path.Combine(Path.GetTempPath(), "pot-cli-" + Guid.NewGuid().ToString("N")[..8] + ".md");
        try
        {
            Assert.Equal(0, Program.Run(["docs", "cli", "--out", file]));
            Assert.Equal(DocsCommands.Generate(PotCommand.Build()), File.ReadAllText(file));
        }
        finally
        {
            File.Delete(file);
        }
        var help = new StringWriter();
        Assert.Equal(0, Program.Run(["--help"], new System.CommandLine.InvocationConfiguration { Output = help }));
        Assert.Contains("status", help.ToString());
        Assert.DoesNotContain("Generate documentation from the code", help.ToString());
        Assert.DoesNotMatch(@"(?m)^\s+docs\s", help.ToString());
        Assert.Equal(2, Program.Run(["docs", "cli", "--bogus"], new System.CommandLine.InvocationConfiguration { Output = new StringWriter(), Error = new StringWriter() }));
    }

    [Fact]
    public void StatusTable_IsOneCompactRow_AndMarksAViewChange()
    {
        var status = new JsonObject
        {
            ["chainId"] = "pot-devnet", ["nodeId"] = 2, ["address"] = "pot" + new string('a', 40), ["height"] = 42, ["headHash"] = new string('b', 64),
            ["view"] = 3, ["changingView"] = true, ["consensusHeight"] = 50, ["stableCheckpoint"] = 48, ["mempool"] = 7, ["uncertifiedPayloads"] = 0,
            ["validators"] = 4, ["minFeePerByte"] = 1, ["roles"] = new JsonArray("events", "miner"),
        };
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 80;
        console.Write(NodeCommands.StatusTable(status));
        string text = writer.ToString();
        string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length <= 6, text); // title, borders, header, one row: nothing wraps at 80 columns
        Assert.Contains("pot-devnet", text);
        Assert.Contains("bbbbbbbb…", text);
        Assert.DoesNotContain(new string('b', 9), text);
        Assert.Contains("50/48", text);
        Assert.Contains("│ 3*", text);
        Assert.Contains("view change in progress", text);
        Assert.Contains("events,miner", text);
        Assert.Contains("42", text);
    }
}
