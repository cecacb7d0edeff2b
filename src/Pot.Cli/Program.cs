namespace Pot.Cli;

/// <summary>Entry point of the <c>pot</c> tool.</summary>
public static class Program
{
    /// <summary>Runs the command line and returns the process exit code.</summary>
    /// <param name="args">Command-line arguments.</param>
    /// <returns>0 on success, non-zero on a user or runtime error.</returns>
    public static int Main(string[] args) => PotCommand.Build().Parse(args).Invoke();
}
