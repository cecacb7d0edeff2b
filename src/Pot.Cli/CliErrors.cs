using Pot.Learning.Checkpoints;
using Pot.Learning.Data;

namespace Pot.Cli;

/// <summary>
/// The exit-code convention of every <c>pot</c> command: <see cref="Success"/> (0); <see cref="UserError"/>
/// (2) for a usage or input error (bad option, missing or malformed file, wrong passphrase), reported as
/// one <c>error: …</c> line on stderr without a stack trace; <see cref="InternalError"/> (1) for an
/// unexpected failure, reported as <c>internal error: …</c> with the stack trace (a bug to report).
/// </summary>
public static class CliErrors
{
    /// <summary>Exit code for success.</summary>
    public const int Success = 0;

    /// <summary>Exit code for an internal failure (an unexpected exception), and for <c>pot simulate</c> runs that found violations.</summary>
    public const int InternalError = 1;

    /// <summary>Exit code for a usage or input error.</summary>
    public const int UserError = 2;

    /// <summary>Writes the one-line message of an internal failure (with its stack trace) and returns <see cref="InternalError"/>.</summary>
    /// <param name="error">Where to write.</param>
    /// <param name="ex">The unexpected exception.</param>
    /// <returns><see cref="InternalError"/>.</returns>
    public static int ReportInternal(TextWriter error, Exception ex)
    {
        ArgumentNullException.ThrowIfNull(error);
        ArgumentNullException.ThrowIfNull(ex);
        error.WriteLine($"internal error: {ex.GetType().Name}: {ex.Message}");
        error.WriteLine(ex.StackTrace);
        return InternalError;
    }

    /// <summary>Runs <paramref name="action"/>, mapping the project's expected exceptions to a clear message.</summary>
    /// <param name="action">The command body.</param>
    /// <returns>The body's exit code, <see cref="UserError"/> or <see cref="InternalError"/>.</returns>
    public static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception ex) when (ex is ArgumentException or CheckpointFormatException or DataSetUnavailableException
            or DataFormatException or IOException or UnauthorizedAccessException or InvalidOperationException or FormatException)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return UserError;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return ReportInternal(Console.Error, ex);
        }
    }
}
