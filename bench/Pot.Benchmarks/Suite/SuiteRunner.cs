using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics.X86;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Horology;
using Pot.Benchmarks.Chain;
using Pot.Benchmarks.Commitments;
using Pot.Benchmarks.Consensus;
using Pot.Benchmarks.Network;
using Pot.Benchmarks.Node;
using Pot.Benchmarks.Protocol;

namespace Pot.Benchmarks.Suite;

/// <summary>
/// <c>suite [--quick] [--out FILE] [--filter TEXT]... [--no-node]</c>: runs every benchmark class with one bounded
/// job, the references (OpenBLAS inside the GEMM benchmarks, <c>openssl speed</c>, centralized training inside the
/// protocol-step benchmarks) and the node load program, and writes docs/performance.md from the BenchmarkDotNet
/// <see cref="Summary"/> objects.
/// </summary>
public static class SuiteRunner
{
    /// <summary>Every benchmark class, in the order they run and appear.</summary>
    public static readonly Type[] Classes =
    [
        typeof(GemmBenchmarks), typeof(TrainingBenchmarks), typeof(ProtocolStepBenchmarks), typeof(MerkleBenchmarks), typeof(CodecBenchmarks),
        typeof(BlockExecutionBenchmarks), typeof(ConsensusThroughputBenchmarks), typeof(ChunkTransferBenchmarks),
    ];

    /// <summary>Runs the suite.</summary>
    /// <param name="args">Options.</param>
    /// <returns>Exit code.</returns>
    public static int Run(string[] args)
    {
        bool quick = false, node = true;
        string? outPath = null;
        var filters = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick": quick = true; break;
                case "--no-node": node = false; break;
                case "--out" when i + 1 < args.Length: outPath = args[++i]; break;
                case "--filter" when i + 1 < args.Length: filters.Add(args[++i]); break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}; expected --quick, --out FILE, --filter TEXT, --no-node");
                    return 2;
            }
        }
        string root = RepositoryRoot();
        outPath = Path.GetFullPath(outPath ?? Path.Combine(root, "docs", "performance.md"));

        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        string loadStart = LoadAverage();
        string? blasMissing = OpenBlas.TrySetSingleThreaded();
        OpenSslReference.Measure(seconds: 3);

        IConfig config = Config(quick);
        var measurements = new List<Measurement>();
        var tables = new List<RawTable>();
        foreach (Type type in Classes.Where(t => filters.Count == 0 || filters.Any(f => t.Name.Contains(f, StringComparison.OrdinalIgnoreCase))))
        {
            Summary summary = BenchmarkRunner.Run(type, config);
            measurements.AddRange(Measurements(summary));
            tables.Add(Table(type.Name, summary));
        }

        NodeThroughputResult? nodeResult = null;
        if (node)
        {
            try
            {
                nodeResult = NodeThroughput.MeasureAsync(quick ? 10 : 20, quick ? 3 : 5, 4, 48).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or HttpRequestException or TimeoutException)
            {
                Console.Error.WriteLine("node load program failed: " + e.Message);
            }
        }

        var facts = new MachineFacts(CpuModel(), Environment.ProcessorCount, Avx512F.IsSupported, loadStart, LoadAverage(), started, clock.Elapsed,
            Commit(root), System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription, quick,
            "dotnet run -c Release --project bench/Pot.Benchmarks -- suite" + (args.Length > 0 ? " " + string.Join(" ", args) : ""));
        var results = new SuiteResults(facts, measurements, OpenSslReference.Runs, blasMissing, nodeResult, tables);
        Directory.CreateDirectory(Path.GetDirectoryName(outPath)!);
        File.WriteAllText(outPath, SuiteReport.Markdown(results));
        Console.WriteLine($"wrote {outPath} ({measurements.Count} cases, {clock.Elapsed.TotalMinutes:F1} min)");
        return 0;
    }

    /// <summary>The config: BenchmarkDotNet's defaults plus a mutator job that bounds every class's job and runs it in process.</summary>
    /// <param name="quick">Smoke run.</param>
    /// <returns>Config.</returns>
    public static IConfig Config(bool quick)
    {
        Job bound = quick
            ? new Job().WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(3).WithIterationTime(TimeInterval.FromMilliseconds(100))
            : new Job().WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(10);
        return ManualConfig.Create(DefaultConfig.Instance)
            .AddJob(bound.WithToolchain(InProcessEmitToolchain.Instance).AsMutator())
;
    }

    /// <summary>The cases of a summary as flat records.</summary>
    /// <param name="summary">A BenchmarkDotNet summary.</param>
    /// <returns>Measurements (NaN mean for a case that failed).</returns>
    public static IEnumerable<Measurement> Measurements(Summary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        foreach (BenchmarkCase bc in summary.BenchmarksCases)
        {
            string parameters = string.Join(", ", bc.Parameters.Items.Select(p => $"{p.Name}={Convert.ToString(p.Value, CultureInfo.InvariantCulture)}"));
            double mean = summary[bc]?.ResultStatistics?.Mean ?? double.NaN;
            // The suite's mutator job replaces the classes' job ids, so the clock names the job (MerkleBenchmarks' Wall/ThreadCpu/ProcessCpu).
            string job = bc.Job.Infrastructure.Clock switch
            {
                ThreadCpuClock => "ThreadCpu",
                ProcessCpuClock => "ProcessCpu",
                _ => "Wall",
            };
            yield return new Measurement(bc.Descriptor.Type.Name, bc.Descriptor.WorkloadMethod.Name, parameters, job, mean);
        }
    }

    private static RawTable Table(string title, Summary summary)
    {
        SummaryTable table = summary.Table;
        int[] shown = Enumerable.Range(0, table.Columns.Length).Where(i => table.Columns[i].NeedToShow).ToArray();
        return new RawTable(title, shown.Select(i => table.FullHeader[i]).ToArray(),
            table.FullContent.Select(row => (IReadOnlyList<string>)shown.Select(i => row[i]).ToArray()).ToArray());
    }

    private static string RepositoryRoot()
    {
        for (string? dir = Directory.GetCurrentDirectory(); dir != null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "Pot.slnx")))
            {
                return dir;
            }
        }
        return Directory.GetCurrentDirectory();
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(", ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    private static string CpuModel()
    {
        if (!File.Exists("/proc/cpuinfo"))
        {
            return "unknown";
        }
        string? line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
        return line == null ? "unknown" : line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
    }

    private static string Commit(string root)
    {
        try
        {
            string head = Git(root, "rev-parse --short=12 HEAD");
            return Git(root, "status --porcelain --untracked-files=no").Length > 0 ? head + "+dirty" : head;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown";
        }
    }

    private static string Git(string root, string arguments)
    {
        var start = new ProcessStartInfo("git", arguments) { WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true };
        using Process process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        return output;
    }
}
