using Pot.Learning.Checkpoints;
using Pot.Learning.Data;

namespace Pot.Cli;

/// <summary>Turns user mistakes into a one-line error and exit code 2, never a stack trace.</summary>
public static class CliErrors
{
    /// <summary>Exit code for a user or input error.</summary>
    public const int UserError = 2;

    /// <summary>Runs <paramref name="action"/>, mapping the project's expected exceptions to a clear message.</summary>
    /// <param name="action">The command body.</param>
    /// <returns>The body's exit code, or <see cref="UserError"/>.</returns>
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
    }
}
