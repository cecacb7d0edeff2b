using BenchmarkDotNet.Running;

namespace Pot.Benchmarks;

/// <summary>Runs the benchmarks named on the command line (BenchmarkDotNet switcher).</summary>
public static class Program
{
    /// <summary>Entry point.</summary>
    /// <param name="args">BenchmarkDotNet arguments, e.g. <c>--filter *Gemm*</c>.</param>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
