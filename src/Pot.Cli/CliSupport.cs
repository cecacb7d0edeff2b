using System.CommandLine;
using System.Text.Json;
using Pot.Commitments;
using Spectre.Console;

namespace Pot.Cli;

/// <summary>A mistake by the user (missing file, bad size): printed as one line, never as a stack trace.</summary>
internal sealed class CliUserException(string message) : Exception(message);

/// <summary>Shared plumbing of the commitments commands: output writers, error handling, file reading.</summary>
internal static class CliSupport
{
    /// <summary>Exit code for user mistakes and rejected input (<see cref="CliErrors.UserError"/>).</summary>
    public const int UserErrorExitCode = CliErrors.UserError;

    /// <summary>Option <c>--json</c>, created per command so each shows it in its own help.</summary>
    public static Option<bool> JsonOption() => new("--json") { Description = "Print machine-readable JSON instead of text." };

    /// <summary>A console that writes to the invocation's output writer, so tests can capture it.</summary>
    public static IAnsiConsole Console(ParseResult parse)
    {
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(parse.InvocationConfiguration.Output),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        // Wide enough that 64-digit hashes are never wrapped when output is piped.
        console.Profile.Width = Math.Max(console.Profile.Width, 120);
        return console;
    }

    /// <summary>Writes an indented JSON document to the invocation's output.</summary>
    public static void WriteJson(ParseResult parse, Action<Utf8JsonWriter> write)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            write(writer);
        }
        parse.InvocationConfiguration.Output.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    /// <summary>Runs a command body, turning user and input errors into a one-line error and exit code 2, anything else into exit code 1 (see <see cref="CliErrors"/>).</summary>
    public static int Run(ParseResult parse, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception ex) when (ex is CliUserException or PotFormatException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            parse.InvocationConfiguration.Error.WriteLine($"error: {ex.Message}");
            return UserErrorExitCode;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return CliErrors.ReportInternal(parse.InvocationConfiguration.Error, ex);
        }
    }

    /// <summary>Reads a whole input file, refusing missing files and files above a size limit.</summary>
    public static byte[] ReadInput(FileInfo file, string what, long maxBytes = int.MaxValue)
    {
        if (!file.Exists)
        {
            throw new CliUserException($"{what} '{file.FullName}' does not exist");
        }
        if (file.Length > maxBytes)
        {
            throw new CliUserException($"{what} '{file.FullName}' is {file.Length} bytes; at most {maxBytes} are supported");
        }
        return File.ReadAllBytes(file.FullName);
    }

    /// <summary>Writes an output file, refusing to overwrite unless asked.</summary>
    public static void WriteOutput(FileInfo file, ReadOnlySpan<byte> data, bool overwrite)
    {
        if (file.Exists && !overwrite)
        {
            throw new CliUserException($"'{file.FullName}' already exists; pass --force to overwrite it");
        }
        if (file.Directory is { Exists: false } directory)
        {
            throw new CliUserException($"directory '{directory.FullName}' does not exist");
        }
        using FileStream stream = File.Create(file.FullName);
        stream.Write(data);
    }
}
