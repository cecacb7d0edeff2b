using Pot.Benchmarks.Commitments;
using Pot.Benchmarks.Node;
using Pot.Benchmarks.Suite;

namespace Pot.Benchmarks.Tests;

/// <summary>The suite's report writer on synthetic BenchmarkDotNet results (no benchmark runs).</summary>
public class SuiteReportTests
{
    private static SuiteResults Synthetic(string? blasMissing = null, NodeThroughputResult? node = null)
    {
        var machine = new MachineFacts("AMD EPYC Test", 2, true, "1.00, 2.00, 3.00", "4.00, 5.00, 6.00",
            new DateTimeOffset(2026, 1, 2, 3, 4, 0, TimeSpan.Zero), TimeSpan.FromSeconds(754), "abc123", ".NET 10.0.0", false,
            "dotnet run -c Release --project bench/Pot.Benchmarks -- suite");
        Measurement[] measurements =
        [
            // 2·1024³ = 2.147e9 flop: 10 ms → 214.7 GFLOP/s; OpenBLAS 20 ms → 107.4 GFLOP/s.
            new("GemmBenchmarks", "Ours", "Shape=NN 1024x1024x1024", "Wall", 10e6),
            new("GemmBenchmarks", "OpenBlasSgemm", "Shape=NN 1024x1024x1024", "Wall", 20e6),
            // 100 µs per token → 10,000 tokens/s; 1 thread 125 µs → 8,000.
            new("TrainingBenchmarks", "AdditionStepPerToken", "Threads=2", "Wall", 100e3),
            new("TrainingBenchmarks", "AdditionStepPerToken", "Threads=1", "Wall", 125e3),
            // centralized 40 ms → 25 steps/s; miner 50 ms → 20 steps/s (ratio 0.80).
            new("ProtocolStepBenchmarks", "CentralizedStep", "Threads=1", "Wall", 40e6),
            new("ProtocolStepBenchmarks", "MinerStep", "Threads=1", "Wall", 50e6),
            // 64 MiB in 67.108864 ms = 1.000 GB/s on the thread CPU clock; the Wall job's figure must not be used.
            new("MerkleBenchmarks", "MerkleRoot", "", "ThreadCpu", 67.108864e6),
            new("MerkleBenchmarks", "MerkleRoot", "", "Wall", 1e6),
            // Failed case: NaN mean.
            new("CodecBenchmarks", "Q4Encode", "", "Wall", double.NaN),
            new("CodecBenchmarks", "MemoryCopy", "", "Wall", 16.777216e6),
            // 1 ms per transaction → 1,000 tx/s.
            new("BlockExecutionBenchmarks", "TransferBlocksOnRocksDb", "", "Wall", 1e6),
        ];
        // 4096 B × 500,000 hashes in 2 s CPU = 1.024 GB/s; 3 s wall.
        OpenSslSpeed[] openssl = [new(500_000, 2.0, 3.0), new(400_000, 2.0, 3.0), new(600_000, 2.0, 3.0)];
        RawTable[] tables = [new("GemmBenchmarks", ["Method", "Shape", "Mean"], [["Ours", "NN 1024x1024x1024", "10.00 ms"], ["Open|BLAS", "NN 1024x1024x1024", "20.00 ms"]])];
        return new SuiteResults(machine, measurements, openssl, blasMissing, node, tables);
    }

    private static Figure Row(IReadOnlyList<Figure> figures, string part, string nameStart) =>
        figures.Single(f => f.Part == part && f.Name.StartsWith(nameStart, StringComparison.Ordinal));

    [Fact]
    public void FiguresComeFromTheRightCasesInNaturalUnits()
    {
        IReadOnlyList<Figure> figures = SuiteReport.Figures(Synthetic());

        Figure gemm = Row(figures, "Engine: GEMM", "sgemm NN 1024x1024x1024");
        Assert.Equal(2.0 * 1024 * 1024 * 1024 / 10e6, gemm.Value!.Value, 9);
        Assert.Equal(2.0 * 1024 * 1024 * 1024 / 20e6, gemm.ReferenceValue!.Value, 9);
        Assert.Equal(2.0, gemm.Ratio!.Value, 9);
        Assert.Equal("GFLOP/s", gemm.Unit);

        Figure training = Row(figures, "Engine: training", "addition");
        Assert.Equal(10_000, training.Value!.Value, 6);
        Assert.Equal(8_000, training.ReferenceValue!.Value, 6);

        Figure miner = Row(figures, "Protocol", "miner inner step");
        Assert.Equal(20, miner.Value!.Value, 9);
        Assert.Equal(25, miner.ReferenceValue!.Value, 9);
        Assert.Equal(0.8, miner.Ratio!.Value, 9);

        Figure merkle = Row(figures, "Commitments", "Merkle root");
        Assert.Equal(1.0, merkle.Value!.Value, 9);
        Assert.Equal(500_000 * 4096.0 / 2.0 / 1e9, merkle.ReferenceValue!.Value, 9); // the median run

        Figure encode = Row(figures, "Commitments", "Q4_0 encode");
        Assert.Null(encode.Value);
        Assert.Null(encode.Ratio);
        Assert.Equal(1.0, encode.ReferenceValue!.Value, 9);

        Figure chain = Row(figures, "Chain", "validate + commit transfer");
        Assert.Equal(1_000, chain.Value!.Value, 9);
        Assert.Null(chain.Ratio);

        Assert.Null(Row(figures, "Node", "finalized").Value);
        Assert.Null(Row(figures, "Engine: GEMM", "sgemm NN 2048x2048x2048").Value);
    }

    [Fact]
    public void MarkdownHasMachineFactsSummaryRowsAndRawTables()
    {
        var node = new NodeThroughputResult(4, 48, 20.0, 64.26, 2271.0, 4710.0, 1295, 1295, 0);
        string md = SuiteReport.Markdown(Synthetic(node: node));

        Assert.StartsWith("# Performance", md, StringComparison.Ordinal);
        Assert.Contains("| CPU | AMD EPYC Test |", md, StringComparison.Ordinal);
        Assert.Contains("| AVX-512F | yes |", md, StringComparison.Ordinal);
        Assert.Contains("| commit | `abc123` |", md, StringComparison.Ordinal);
        Assert.Contains("| started | 2026-01-02 03:04 UTC |", md, StringComparison.Ordinal);
        Assert.Contains("| duration | 12 min 34 s |", md, StringComparison.Ordinal);
        Assert.Contains("| load average (1, 5, 15 min) at start | 1.00, 2.00, 3.00 |", md, StringComparison.Ordinal);
        Assert.Contains("| load average at end | 4.00, 5.00, 6.00 |", md, StringComparison.Ordinal);
        Assert.Contains("| part | figure | value | reference | reference value | ratio |", md, StringComparison.Ordinal);
        Assert.Contains("| Engine: GEMM | sgemm NN 1024x1024x1024, 1 thread | 215 GFLOP/s | OpenBLAS cblas_sgemm, 1 thread | 107 GFLOP/s | 2.00 |", md, StringComparison.Ordinal);
        Assert.Contains("| Protocol | miner inner step + trace leaf (addition, 1 thread) | 20.0 steps/s | centralized training step | 25.0 steps/s | 0.80 |", md, StringComparison.Ordinal);
        Assert.Contains("| 1.00 GB/s | openssl speed -evp sha256, 4 KiB, 1 core (per CPU second) | 1.02 GB/s | 0.98 |", md, StringComparison.Ordinal);
        Assert.Contains("| Commitments | Q4_0 encode, 16 MiB fp32 | not measured | memory copy of the 16 MiB | 1.00 GB/s | — |", md, StringComparison.Ordinal);
        Assert.Contains("| Node | finalized transfers, 4 validators on loopback | 64.3 tx/s | block execution alone (Chain row above) | 1,000 tx/s | 0.064 |", md, StringComparison.Ordinal);
        Assert.Contains("| Node | submit → committed latency, median | 2,271 ms | — | — | — |", md, StringComparison.Ordinal);
        Assert.Contains("ran 3 times during the run", md, StringComparison.Ordinal);
        Assert.Contains("1295 of 1295 transfers", md, StringComparison.Ordinal);
        Assert.Contains("dotnet run -c Release --project bench/Pot.Benchmarks -- suite", md, StringComparison.Ordinal);
        Assert.Contains("### GemmBenchmarks", md, StringComparison.Ordinal);
        Assert.Contains("| Method | Shape | Mean |", md, StringComparison.Ordinal);
        Assert.Contains("| Open\\|BLAS | NN 1024x1024x1024 | 20.00 ms |", md, StringComparison.Ordinal);
        Assert.DoesNotContain("Quick (smoke) run", md, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingReferencesAndQuickModeAreSaid()
    {
        SuiteResults results = Synthetic(blasMissing: "OpenBLAS (libopenblas.so.0) was not found");
        results = results with { Machine = results.Machine with { Quick = true }, OpenSsl = [] };
        string md = SuiteReport.Markdown(results);

        Assert.Contains("Quick (smoke) run", md, StringComparison.Ordinal);
        Assert.Contains("| mode | `--quick` (smoke run) |", md, StringComparison.Ordinal);
        Assert.Contains("OpenBLAS was not measured: OpenBLAS (libopenblas.so.0) was not found.", md, StringComparison.Ordinal);
        Assert.Contains("| OpenBLAS (not installed: libopenblas0) | 107 GFLOP/s |", md, StringComparison.Ordinal);
        Assert.Contains("`openssl speed` was not measured", md, StringComparison.Ordinal);
        Assert.Contains("(per CPU second) | not measured | — |", md, StringComparison.Ordinal);
        Assert.Contains("The node load program did not run", md, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(214.748, "215")]
    [InlineData(64.26, "64.3")]
    [InlineData(1.024, "1.02")]
    [InlineData(0.12345, "0.123")]
    [InlineData(12345.6, "12,346")]
    [InlineData(double.NaN, "not measured")]
    public void FormatUsesThreeSignificantDigits(double value, string expected) => Assert.Equal(expected, SuiteReport.Format(value));

    [Theory]
    [InlineData(1.6543, "1.65")]
    [InlineData(0.48, "0.48")]
    [InlineData(0.0641, "0.064")]
    [InlineData(0.00232, "0.0023")]
    public void RatioKeepsTwoSignificantDigitsBelowOneTenth(double ratio, string expected) => Assert.Equal(expected, SuiteReport.FormatRatio(ratio));
}
