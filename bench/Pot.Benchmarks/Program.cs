using BenchmarkDotNet.Running;

namespace Pot.Benchmarks;

/// <summary>Runs the benchmarks named on the command line (BenchmarkDotNet switcher).</summary>
public static class Program
{
    /// <summary>Entry point.</summary>
    /// <param name="args">BenchmarkDotNet arguments, e.g. <c>--filter *Gemm*</c>; <c>node-throughput [options]</c> for the node load benchmark (see Node/NodeThroughput.cs); or <c>suite [--quick] [--out FILE] [--filter TEXT] [--no-node]</c> for the whole suite and docs/performance.md (Suite/SuiteRunner.cs).</param>
    /// <returns>Exit code.</returns>
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "node-throughput") return Node.NodeThroughput.Run(args[1..]);
        if (args.Length > 0 && args[0] == "suite") return Suite.SuiteRunner.Run(args[1..]);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
