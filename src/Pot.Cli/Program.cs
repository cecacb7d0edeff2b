namespace Pot.Cli;

/// <summary>Entry point of the <c>pot</c> tool.</summary>
public static class Program
{
    /// <summary>Runs the command line and returns the process exit code.</summary>
    /// <param name="args">Command-line arguments.</param>
    /// <returns>0 on success, 2 on a usage or input error, 1 on an internal failure (see <see cref="CliErrors"/>).</returns>
    public static int Main(string[] args) => Run(args);

    /// <summary>Parses and runs a command line; parse errors (unknown option, missing required option, bad value) exit with <see cref="CliErrors.UserError"/>.</summary>
    /// <param name="args">Command-line arguments.</param>
    /// <param name="configuration">Output and error writers (tests capture them); null for the console.</param>
    /// <returns>The exit code.</returns>
    public static int Run(string[] args, System.CommandLine.InvocationConfiguration? configuration = null)
    {
        System.CommandLine.ParseResult parse = PotCommand.Build().Parse(args);
        int code = configuration is null ? parse.Invoke() : parse.Invoke(configuration);
        // System.CommandLine reports parse errors (after printing them) with exit code 1; the convention is 2.
        return parse.Errors.Count > 0 ? CliErrors.UserError : code;
    }
}
