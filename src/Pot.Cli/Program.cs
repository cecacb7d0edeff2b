namespace Pot.Cli;

/// <summary>Entry point of the <c>pot</c> tool.</summary>
public static class Program
{
    /// <summary>Runs the command line and returns the process exit code.</summary>
    /// <param name="args">Command-line arguments.</param>
    /// <returns>0 on success, 2 on a usage or input error, 1 on an internal failure (see <see cref="CliErrors"/>).</returns>
    public static int Main(string[] args) => Run(args);

    /// <summary>
    /// How long an asynchronous command (node, devnet, tx, status) may take to stop after Ctrl-C or SIGTERM before the process
    /// exits anyway with 130. System.CommandLine's default of 2 s is too short for a devnet, which stops every node (SIGTERM,
    /// up to 10 s, then kill) and deletes its directory, or for a node closing its stores on a loaded machine.
    /// </summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Parses and runs a command line; parse errors (unknown option, missing required option, bad value) exit with <see cref="CliErrors.UserError"/>.</summary>
    /// <param name="args">Command-line arguments.</param>
    /// <param name="configuration">Output and error writers (tests capture them); null for the console.</param>
    /// <returns>The exit code.</returns>
    public static int Run(string[] args, System.CommandLine.InvocationConfiguration? configuration = null)
    {
        System.CommandLine.ParseResult parse = PotCommand.Build().Parse(args);
        int code = parse.Invoke(configuration ?? new System.CommandLine.InvocationConfiguration { ProcessTerminationTimeout = StopTimeout });
        // System.CommandLine reports parse errors (after printing them) with exit code 1; the convention is 2.
        return parse.Errors.Count > 0 ? CliErrors.UserError : code;
    }
}
