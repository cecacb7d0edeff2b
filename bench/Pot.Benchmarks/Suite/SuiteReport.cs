using System.Globalization;
using System.Text;
using Pot.Benchmarks.Commitments;
using Pot.Benchmarks.Node;

namespace Pot.Benchmarks.Suite;

/// <summary>One benchmark case's result, taken from a BenchmarkDotNet <c>Summary</c>.</summary>
/// <param name="Class">Benchmark class name, e.g. <c>GemmBenchmarks</c>.</param>
/// <param name="Method">Benchmark method name, e.g. <c>Ours</c>.</param>
/// <param name="Parameters"><c>Name=Value</c> pairs joined by <c>", "</c> (empty without parameters).</param>
/// <param name="Job">The job's clock: Wall, ThreadCpu or ProcessCpu (the Merkle benchmarks run all three).</param>
/// <param name="MeanNs">Mean time per operation in nanoseconds (BenchmarkDotNet divides by OperationsPerInvoke).</param>
public sealed record Measurement(string Class, string Method, string Parameters, string Job, double MeanNs);

/// <summary>A BenchmarkDotNet summary table, as shown (columns BenchmarkDotNet would print).</summary>
/// <param name="Title">Benchmark class.</param>
/// <param name="Header">Column names.</param>
/// <param name="Rows">Cells.</param>
public sealed record RawTable(string Title, IReadOnlyList<string> Header, IReadOnlyList<IReadOnlyList<string>> Rows);

/// <summary>Facts about the run and the machine.</summary>
/// <param name="Cpu">CPU model.</param>
/// <param name="LogicalCpus">Logical CPUs.</param>
/// <param name="Avx512">Whether AVX-512F is supported.</param>
/// <param name="LoadAtStart">/proc/loadavg's three averages at the start.</param>
/// <param name="LoadAtEnd">The same at the end.</param>
/// <param name="Started">Start time (UTC).</param>
/// <param name="Duration">Wall time of the whole run.</param>
/// <param name="Commit">Git commit (with <c>+dirty</c> for a modified tree).</param>
/// <param name="Runtime">.NET runtime description.</param>
/// <param name="Quick">Whether this was the <c>--quick</c> smoke run.</param>
/// <param name="Command">The command that reproduces the run.</param>
public sealed record MachineFacts(string Cpu, int LogicalCpus, bool Avx512, string LoadAtStart, string LoadAtEnd, DateTimeOffset Started,
    TimeSpan Duration, string Commit, string Runtime, bool Quick, string Command);

/// <summary>Everything a suite run produced.</summary>
/// <param name="Machine">Machine and run facts.</param>
/// <param name="Measurements">Every benchmark case.</param>
/// <param name="OpenSsl">Every <c>openssl speed</c> run of the process.</param>
/// <param name="BlasMissing">Null, or why OpenBLAS could not be loaded.</param>
/// <param name="Node">The node load run, or null if skipped or failed.</param>
/// <param name="Tables">BenchmarkDotNet's tables, one per class.</param>
public sealed record SuiteResults(MachineFacts Machine, IReadOnlyList<Measurement> Measurements, IReadOnlyList<OpenSslSpeed> OpenSsl,
    string? BlasMissing, NodeThroughputResult? Node, IReadOnlyList<RawTable> Tables);

/// <summary>One row of the summary table: a figure and its reference from the same run.</summary>
/// <param name="Part">Component.</param>
/// <param name="Name">What is measured.</param>
/// <param name="Value">The figure (null: not measured).</param>
/// <param name="Unit">Its unit.</param>
/// <param name="Reference">What it is compared with ("—" for none).</param>
/// <param name="ReferenceValue">The reference figure (null: none or not measured).</param>
/// <param name="ReferenceUnit">Its unit.</param>
public sealed record Figure(string Part, string Name, double? Value, string Unit, string Reference, double? ReferenceValue, string ReferenceUnit)
{
    /// <summary>Value ÷ reference value (null unless both exist and are in the same unit).</summary>
    public double? Ratio => Value is double v && ReferenceValue is double r && r > 0 && Unit == ReferenceUnit ? v / r : null;
}

/// <summary>Turns suite results into the summary figures and the Markdown of docs/performance.md.</summary>
public static class SuiteReport
{
    /// <summary>The GEMM shapes quoted in the summary.</summary>
    public static readonly string[] SummaryShapes = ["NN 1024x1024x1024", "NN 2048x2048x2048", "NT 1024x384x128", "NT 16x16x32"];

    private const string Codec = "CodecBenchmarks", Gemm = "GemmBenchmarks", Training = "TrainingBenchmarks", Merkle = "MerkleBenchmarks",
        Protocol = "ProtocolStepBenchmarks", Block = "BlockExecutionBenchmarks", Consensus = "ConsensusThroughputBenchmarks", Chunk = "ChunkTransferBenchmarks";

    private const double CodecBytes = 16 * 1024 * 1024;

    /// <summary>The summary figures, in table order.</summary>
    /// <param name="results">The run.</param>
    /// <returns>Rows.</returns>
    public static IReadOnlyList<Figure> Figures(SuiteResults results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var rows = new List<Figure>();
        double? Mean(string cls, string method, string parameters = "", string? job = null) =>
            results.Measurements.FirstOrDefault(m => m.Class == cls && m.Method == method && m.Parameters == parameters && (job == null || m.Job == job)
                && double.IsFinite(m.MeanNs) && m.MeanNs > 0)?.MeanNs;
        static double? Per(double? meanNs, double amount) => meanNs is double ns ? amount / ns : null;
        static double? PerSecond(double? meanNs, double amount = 1) => meanNs is double ns ? amount * 1e9 / ns : null;

        string blas = results.BlasMissing == null ? "OpenBLAS cblas_sgemm, 1 thread" : "OpenBLAS (not installed: libopenblas0)";
        foreach (string shape in SummaryShapes)
        {
            (_, _, int m, int n, int k) = GemmBenchmarks.ParseShape(shape);
            double flop = 2.0 * m * n * k;
            string p = "Shape=" + shape;
            rows.Add(new("Engine: GEMM", $"sgemm {shape}, 1 thread", Per(Mean(Gemm, "Ours", p), flop), "GFLOP/s", blas, Per(Mean(Gemm, "OpenBlasSgemm", p), flop), "GFLOP/s"));
        }

        foreach ((string method, string model, int tokens) in new[] { ("AdditionStepPerToken", "addition", 512), ("KjvStepPerToken", "kjv", 2048) })
        {
            double? one = PerSecond(Mean(Training, method, "Threads=1"));
            double? two = PerSecond(Mean(Training, method, "Threads=2"));
            rows.Add(new("Engine: training", $"{model} step ({tokens} tokens), 2 threads", two, "tokens/s", "same, 1 thread", one, "tokens/s"));
        }

        double? centralized = PerSecond(Mean(Protocol, "CentralizedStep", "Threads=1"));
        rows.Add(new("Protocol", "miner inner step + trace leaf (addition, 1 thread)", PerSecond(Mean(Protocol, "MinerStep", "Threads=1")), "steps/s",
            "centralized training step", centralized, "steps/s"));
        rows.Add(new("Protocol", "verifier replay of one step (addition, 1 thread)", PerSecond(Mean(Protocol, "VerifierReplay", "Threads=1")), "steps/s",
            "centralized training step", centralized, "steps/s"));

        double? opensslCpu = Median(results.OpenSsl.Select(r => r.CpuGigabytesPerSecond));
        double? opensslWall = Median(results.OpenSsl.Select(r => r.WallGigabytesPerSecond));
        const string openssl = "openssl speed -evp sha256, 4 KiB, 1 core";
        rows.Add(new("Commitments", "Merkle root, 64 MiB in 4 KiB leaves, 1 thread (CPU time)", Per(Mean(Merkle, "MerkleRoot", "", "ThreadCpu"), MerkleBenchmarks.DataBytes), "GB/s",
            openssl + " (per CPU second)", opensslCpu, "GB/s"));
        rows.Add(new("Commitments", ".NET SHA256.HashData of 4 KiB blocks, 1 thread (CPU time)", Per(Mean(Merkle, "DotNetSha256Of4KiBBlocks", "", "ThreadCpu"), MerkleBenchmarks.DataBytes), "GB/s",
            openssl + " (per CPU second)", opensslCpu, "GB/s"));
        rows.Add(new("Commitments", "model commitment, 64 MiB, all cores (wall clock)", Per(Mean(Merkle, "ModelCommitmentRoot", "", "Wall"), MerkleBenchmarks.DataBytes), "GB/s",
            openssl + " (wall clock)", opensslWall, "GB/s"));
        double? copy = Per(Mean(Codec, "MemoryCopy"), CodecBytes);
        foreach ((string method, string name) in new[] { ("Q4Encode", "Q4_0 encode"), ("Q4Decode", "Q4_0 decode"), ("DiffCreate", "XOR+zstd diff create"), ("DiffApply", "XOR+zstd diff apply") })
        {
            rows.Add(new("Commitments", name + ", 16 MiB fp32", Per(Mean(Codec, method), CodecBytes), "GB/s", "memory copy of the 16 MiB", copy, "GB/s"));
        }

        rows.Add(new("Chain", "validate + commit transfer blocks (RocksDB)", PerSecond(Mean(Block, "TransferBlocksOnRocksDb")), "tx/s", "—", null, ""));
        rows.Add(new("Chain", "validate + commit submit/attest blocks (RocksDB)", PerSecond(Mean(Block, "ProtocolBlocksOnRocksDb")), "tx/s", "—", null, ""));
        double? n4 = PerSecond(Mean(Consensus, "CommitBlocks", "N=4"));
        rows.Add(new("Consensus", "PBFT core, n = 4, blocks committed at every replica", n4, "blocks/s", "—", null, ""));
        rows.Add(new("Consensus", "PBFT core, n = 64", PerSecond(Mean(Consensus, "CommitBlocks", "N=64")), "blocks/s", "same, n = 4", n4, "blocks/s"));

        foreach ((int size, int range, string name) in new[] { (16 * 1024 * 1024, 4 * 1024 * 1024, "16 MiB chunk in 4 MiB ranges"), (64 * 1024, 4 * 1024 * 1024, "64 KiB chunk") })
        {
            string p = $"SizeBytes={size}, RangeBytes={range}";
            rows.Add(new("Network", $"verified fetch over HTTP/2 loopback, {name}", Per(Mean(Chunk, "FetchOverHttp2", p), size * 1e3), "MB/s",
                "server's RocksDB read + hash check", Per(Mean(Chunk, "StoreReadVerified", p), size * 1e3), "MB/s"));
        }

        NodeThroughputResult? node = results.Node;
        rows.Add(new("Node", $"finalized transfers, {node?.Validators ?? 4} validators on loopback", node?.Tps, "tx/s",
            "block execution alone (Chain row above)", PerSecond(Mean(Block, "TransferBlocksOnRocksDb")), "tx/s"));
        rows.Add(new("Node", "submit → committed latency, median", node is { Samples: > 0 } ? node.LatencyMedianMs : null, "ms", "—", null, ""));
        rows.Add(new("Node", "submit → committed latency, p99", node is { Samples: > 0 } ? node.LatencyP99Ms : null, "ms", "—", null, ""));
        return rows;
    }

    /// <summary>Formats a figure: three significant digits, thousands separated.</summary>
    /// <param name="value">Value.</param>
    /// <returns>Text, or "not measured".</returns>
    public static string Format(double? value)
    {
        if (value is not double v || !double.IsFinite(v))
        {
            return "not measured";
        }
        double abs = Math.Abs(v);
        string format = abs >= 100 ? "N0" : abs >= 10 ? "N1" : abs >= 1 ? "N2" : "N3";
        return v.ToString(format, CultureInfo.InvariantCulture);
    }

    /// <summary>The whole docs/performance.md.</summary>
    /// <param name="results">The run.</param>
    /// <returns>Markdown.</returns>
    public static string Markdown(SuiteResults results)
    {
        ArgumentNullException.ThrowIfNull(results);
        MachineFacts f = results.Machine;
        var s = new StringBuilder();
        s.AppendLine("# Performance");
        s.AppendLine();
        s.AppendLine("<!-- Generated by `" + f.Command + "`; do not edit by hand. -->");
        s.AppendLine();
        if (f.Quick)
        {
            s.AppendLine("> **Quick (smoke) run**: one warm-up and three measured iterations per case. The figures are indicative only;");
            s.AppendLine("> run the command without `--quick` for the proper figures.");
            s.AppendLine();
        }
        s.AppendLine("Every benchmark of the repository (BenchmarkDotNet, `bench/Pot.Benchmarks`) and the node load program, with each");
        s.AppendLine("figure next to a reference measured **in the same run**: OpenBLAS `cblas_sgemm` for the GEMM, `openssl speed -evp sha256`");
        s.AppendLine("for hashing, centralized training for the protocol's steps, a plain memory copy for the codecs, RocksDB reads for");
        s.AppendLine("chunk transfer and single-node block execution for the network's finalized throughput. See *How to run* below.");
        s.AppendLine();
        s.AppendLine("## Machine and run");
        s.AppendLine();
        s.AppendLine("| | |");
        s.AppendLine("|---|---|");
        s.AppendLine($"| CPU | {f.Cpu} |");
        s.AppendLine($"| logical CPUs | {f.LogicalCpus} |");
        s.AppendLine($"| AVX-512F | {(f.Avx512 ? "yes" : "no")} |");
        s.AppendLine($"| runtime | {f.Runtime} |");
        s.AppendLine($"| commit | `{f.Commit}` |");
        s.AppendLine($"| started | {f.Started.ToUniversalTime():yyyy-MM-dd HH:mm} UTC |");
        s.AppendLine($"| duration | {FormatDuration(f.Duration)} |");
        s.AppendLine($"| load average (1, 5, 15 min) at start | {f.LoadAtStart} |");
        s.AppendLine($"| load average at end | {f.LoadAtEnd} |");
        s.AppendLine($"| mode | {(f.Quick ? "`--quick` (smoke run)" : "full")} |");
        s.AppendLine();
        s.AppendLine("The machine is shared with other long-running jobs (see the load averages): wall-clock figures are lower");
        s.AppendLine("than on an idle machine. The GEMM and the single-thread Merkle/SHA-256 figures are timed by the thread's CPU");
        s.AppendLine("clock (like `openssl speed`'s own figure), which other processes cannot inflate.");
        s.AppendLine();
        s.AppendLine("## Summary");
        s.AppendLine();
        s.AppendLine("| part | figure | value | reference | reference value | ratio |");
        s.AppendLine("|---|---|---:|---|---:|---:|");
        foreach (Figure figure in Figures(results))
        {
            string value = figure.Value is double ? $"{Format(figure.Value)} {figure.Unit}" : "not measured";
            string reference = figure.ReferenceValue is double ? $"{Format(figure.ReferenceValue)} {figure.ReferenceUnit}" : figure.Reference == "—" ? "—" : "not measured";
            string ratio = figure.Ratio is double r ? FormatRatio(r) : "—";
            s.AppendLine($"| {figure.Part} | {figure.Name} | {value} | {figure.Reference} | {reference} | {ratio} |");
        }
        s.AppendLine();
        s.AppendLine("Ratio = value ÷ reference value (above 1: faster than the reference).");
        if (results.BlasMissing != null)
        {
            s.AppendLine();
            s.AppendLine($"OpenBLAS was not measured: {results.BlasMissing}.");
        }
        if (results.OpenSsl.Count > 0)
        {
            s.AppendLine();
            s.AppendLine($"`openssl speed -seconds 3 -bytes 4096 -evp sha256` ran {results.OpenSsl.Count} times during the run (once at the start, once before each Merkle case);");
            s.AppendLine("the reference is the median: " +
                $"{Format(Median(results.OpenSsl.Select(r => r.CpuGigabytesPerSecond)))} GB/s per CPU second, {Format(Median(results.OpenSsl.Select(r => r.WallGigabytesPerSecond)))} GB/s wall-clock " +
                $"(it got {Format(Median(results.OpenSsl.Select(r => r.CoreShare * 100)))} % of a core).");
        }
        else
        {
            s.AppendLine();
            s.AppendLine("`openssl speed` was not measured (openssl missing or its output not understood).");
        }
        NodeThroughputResult? node = results.Node;
        s.AppendLine();
        s.AppendLine(node == null
            ? "The node load program did not run (skipped with `--no-node`, or it failed)."
            : $"Node load program: {node.Validators} validators, window {node.Window} per sender, {node.Seconds.ToString("F1", CultureInfo.InvariantCulture)} s measured; " +
              $"{node.Samples} of {node.SubmittedInPeriod} transfers submitted in the period committed, {node.Refused} refused submissions.");

        s.AppendLine();
        s.AppendLine("## How to run");
        s.AppendLine();
        s.AppendLine("```sh");
        s.AppendLine("dotnet run -c Release --project bench/Pot.Benchmarks -- suite                # full run, rewrites docs/performance.md");
        s.AppendLine("dotnet run -c Release --project bench/Pot.Benchmarks -- suite --quick        # smoke run (1 warm-up + 3 iterations per case)");
        s.AppendLine("dotnet run -c Release --project bench/Pot.Benchmarks -- suite --filter Gemm --no-node --out /tmp/p.md");
        s.AppendLine("```");
        s.AppendLine();
        s.AppendLine("Options: `--quick`; `--out FILE` (default `docs/performance.md`, relative to the repository root); `--filter TEXT`");
        s.AppendLine("(run only the benchmark classes whose name contains TEXT; repeatable); `--no-node` (skip the node load program).");
        s.AppendLine("Every class runs in process (BenchmarkDotNet's in-process toolchain, so that the `openssl` measurements of the Merkle");
        s.AppendLine("cases are visible to the report). The full run uses 1 launch, 3 warm-up and 10 measured iterations per case and a");
        s.AppendLine("20 s node load period (5 s warm-up); `--quick` uses 1 warm-up, 3 iterations of about 0.1 s and a 10 s node period.");
        s.AppendLine("This run took " + FormatDuration(f.Duration) + ". On the shared 2-core development machine (load average 10–25) a full run");
        s.AppendLine("took 23 min and a `--quick` run 3 min (2026-11-23). Each class can still be run on its own with its own job, e.g.");
        s.AppendLine("`dotnet run -c Release --project bench/Pot.Benchmarks -- --filter '*Gemm*'` (docs/gemm.md, docs/commitments.md,");
        s.AppendLine("docs/engine.md, docs/network.md, docs/node.md).");

        s.AppendLine();
        s.AppendLine("## Raw BenchmarkDotNet tables");
        foreach (RawTable table in results.Tables)
        {
            s.AppendLine();
            s.AppendLine("### " + table.Title);
            s.AppendLine();
            s.AppendLine("| " + string.Join(" | ", table.Header.Select(Cell)) + " |");
            s.AppendLine("|" + string.Concat(table.Header.Select(_ => "---|")));
            foreach (IReadOnlyList<string> row in table.Rows)
            {
                s.AppendLine("| " + string.Join(" | ", row.Select(Cell)) + " |");
            }
        }
        return s.ToString();
    }

    /// <summary>Formats a ratio: two decimals, or two significant digits below 0.1 (so 0.0089 is not shown as 0.00).</summary>
    /// <param name="ratio">Ratio.</param>
    /// <returns>Text.</returns>
    public static string FormatRatio(double ratio) => ratio >= 0.1 || ratio <= 0
        ? ratio.ToString("F2", CultureInfo.InvariantCulture)
        : ratio.ToString("G2", CultureInfo.InvariantCulture);

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Trim();

    private static string FormatDuration(TimeSpan d) => d.TotalMinutes >= 1
        ? $"{(int)d.TotalMinutes} min {d.Seconds} s"
        : $"{d.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture)} s";

    private static double? Median(IEnumerable<double> values)
    {
        double[] v = values.Order().ToArray();
        return v.Length == 0 ? null : v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }
}
