using System.CommandLine;
using System.Diagnostics;
using Pot.Cli;

namespace Pot.Commitments.Tests;

/// <summary>
/// The exit-code convention of every pot command (docs/commitments.md §8): 0 ok, 2 usage or input error
/// with one "error: …" line on stderr, 1 internal failure.
/// </summary>
public sealed class CliExitCodeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pot-exit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = Program.Run(args, new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }

    // The real executable, so Main's exit code and commands that write to Console.Error are covered too.
    private static (int Code, string Out, string Err) RunProcess(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pot.dll"));
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        start.Environment.Remove(KeysCommands.PassphraseVariable);
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(60_000), "pot did not finish in a minute");
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private static void AssertUserError((int Code, string Out, string Err) result, string expectedMessage)
    {
        Assert.Equal(CliErrors.UserError, result.Code);
        Assert.Contains(expectedMessage, result.Err);
        Assert.StartsWith("error: ", result.Err.TrimStart());
        Assert.DoesNotContain("   at ", result.Err + result.Out);
    }

    private void CreateKey(string name, string passphrase)
    {
        File.WriteAllText(PathOf(name + ".pass"), passphrase + "\n");
        (int code, _, string error) = Run("keys", "new", "--out", PathOf(name), "--passphrase-file", PathOf(name + ".pass"), "--kdf-memory-kib", "1024", "--kdf-passes", "1");
        Assert.True(code == CliErrors.Success, error);
    }

    [Fact]
    public void InspectBadFileAndBadLeafSizeExitWithTwo()
    {
        // Proves inspect's input errors (missing file, non-positive or unparsable leaf size, malformed Q4 blob) exit 2, in-process and as a process.
        File.WriteAllBytes(PathOf("data.bin"), [1, 2, 3, 4, 5]);
        AssertUserError(Run("inspect", "merkle", "--file", PathOf("nope.bin")), "does not exist");
        AssertUserError(Run("inspect", "merkle", "--file", PathOf("data.bin"), "--leaf-size", "0"), "--leaf-size must be a positive");
        AssertUserError(Run("inspect", "q4", "decode", "--in", PathOf("data.bin"), "--out", PathOf("out.f32")), "Q4 blob");
        Assert.False(File.Exists(PathOf("out.f32")));
        (int code, _, string err) = Run("inspect", "merkle", "--file", PathOf("data.bin"), "--leaf-size", "many");
        Assert.Equal(CliErrors.UserError, code);
        Assert.Contains("many", err);
        AssertUserError(RunProcess("inspect", "merkle", "--file", PathOf("data.bin"), "--leaf-size", "-1"), "--leaf-size must be a positive");
        Assert.Equal(CliErrors.Success, Run("inspect", "merkle", "--file", PathOf("data.bin"), "--leaf-size", "2").Code);
    }

    [Fact]
    public void KeysMissingKeyFileWrongPassphraseAndMalformedFileExitWithTwo()
    {
        // Proves keys' input errors exit 2 with a clear message, a wrong passphrase included, and the right passphrase exits 0.
        CreateKey("k.json", "correct horse");
        File.WriteAllText(PathOf("wrong.pass"), "wrong horse\n");
        AssertUserError(Run("keys", "show", "--key", PathOf("missing.json")), "does not exist");
        AssertUserError(Run("keys", "show", "--key", PathOf("k.json"), "--check-passphrase", "--passphrase-file", PathOf("wrong.pass")), "passphrase is wrong");
        AssertUserError(Run("keys", "show", "--key", PathOf("k.json"), "--check-passphrase", "--passphrase-file", PathOf("missing.pass")), "passphrase file");
        AssertUserError(Run("keys", "show", "--key", PathOf("k.json"), "--passphrase-file", PathOf("k.json.pass")), "only used with --check-passphrase");
        File.WriteAllText(PathOf("broken.json"), "{ not json");
        AssertUserError(Run("keys", "show", "--key", PathOf("broken.json")), "key file");
        (int code, string output, string error) = Run("keys", "show", "--key", PathOf("k.json"), "--check-passphrase", "--passphrase-file", PathOf("k.json.pass"));
        Assert.True(code == CliErrors.Success, error);
        Assert.Contains("address", output);
        // As a process, with no terminal and no $POT_PASSPHRASE: a clear error, not a hang.
        AssertUserError(RunProcess("keys", "show", "--key", PathOf("k.json"), "--check-passphrase"), "no passphrase");
        AssertUserError(RunProcess("keys", "show", "--key", PathOf("missing.json")), "does not exist");
    }

    [Fact]
    public void ParseErrorsAndOtherCommandsFollowTheSameConvention()
    {
        // Proves a missing required option or unknown option exits 2 for every command family, and eval
        // (which reports through CliErrors) exits 2 on a missing checkpoint, like inspect and keys.
        Assert.Equal(CliErrors.UserError, Run("inspect", "merkle").Code);
        Assert.Equal(CliErrors.UserError, Run("keys", "show").Code);
        Assert.Equal(CliErrors.UserError, Run("keys", "show", "--key", "x", "--no-such-option").Code);
        Assert.Equal(CliErrors.UserError, RunProcess("eval").Code);
        AssertUserError(RunProcess("eval", "--checkpoint", PathOf("no-checkpoint")), "no-checkpoint");
    }

    [Fact]
    public void UnexpectedExceptionsExitWithOneAndSayInternalError()
    {
        // Proves the internal-failure path: exit 1 and an "internal error" line, distinct from user errors.
        TextWriter saved = Console.Error;
        var error = new StringWriter();
        Console.SetError(error);
        try
        {
            Assert.Equal(CliErrors.InternalError, CliErrors.Run(() => throw new NullReferenceException("boom")));
            Assert.Equal(CliErrors.UserError, CliErrors.Run(() => throw new FormatException("bad input")));
            Assert.Equal(CliErrors.Success, CliErrors.Run(() => CliErrors.Success));
        }
        finally
        {
            Console.SetError(saved);
        }
        Assert.Contains("internal error: NullReferenceException: boom", error.ToString());
        Assert.Contains("error: bad input", error.ToString());
    }
}
