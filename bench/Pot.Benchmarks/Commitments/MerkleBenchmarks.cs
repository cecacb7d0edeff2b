using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Horology;
using Pot.Commitments;
using Pot.Commitments.Merkle;

namespace Pot.Benchmarks.Commitments;

/// <summary>
/// Merkle root throughput over a 64 MiB model (16 Mi floats = 16 384 leaves of 4 KiB) against
/// <c>openssl speed -seconds 3 -bytes 4096 -evp sha256</c> run by the same process before every case.
/// </summary>
/// <remarks>
/// <para>Three jobs time every method: <c>Wall</c> (BenchmarkDotNet's wall clock), <c>ThreadCpu</c> (CPU
/// time of the benchmark thread: the single-core figure, like openssl's own) and <c>ProcessCpu</c> (CPU
/// time of the whole process, all threads, including the runtime's background JIT and, for the model
/// commitment, its worker threads). On a shared machine the CPU figures are the comparable ones: openssl
/// reports throughput per CPU second too. Columns: <c>GB/s</c> = 64 MiB / mean (10⁹ bytes per second of
/// the job's clock), <c>openssl GB/s</c> = the median of the openssl runs of this process (CPU-time
/// figure for the CPU jobs, wall-clock figure for the Wall job), and <c>÷ openssl</c> = their ratio.</para>
/// <para>Everything runs in-process so that the openssl measurements (taken in each case's global
/// setup, interleaved with the cases) are visible to the summary columns.</para>
/// </remarks>
[Config(typeof(MerkleConfig))]
[MemoryDiagnoser]
public class MerkleBenchmarks
{
    /// <summary>Bytes hashed per invocation (64 MiB).</summary>
    public const int DataBytes = ModelFloats * sizeof(float);

    private const int ModelFloats = 16 * 1024 * 1024;
    private static float[]? s_model;
    private static byte[]? s_bytes;
    private readonly byte[] _digest = new byte[32];

    private static float[] Model => s_model!;

    private static byte[] Bytes => s_bytes!;

    /// <summary>Fills the model with random values (once per process) and measures openssl.</summary>
    [GlobalSetup]
    public void Setup()
    {
        if (s_model == null)
        {
            var rng = new Random(1);
            s_model = new float[ModelFloats];
            for (int i = 0; i < s_model.Length; i++)
            {
                s_model[i] = (float)rng.NextDouble();
            }
            s_bytes = new byte[DataBytes];
            ModelCommitment.WriteLittleEndian(s_model, s_bytes);
            Console.WriteLine($"// Merkle SHA-256 implementation: {MerkleHash.Implementation}; sha_ni in /proc/cpuinfo: {HasShaNi()}");
        }
        OpenSslReference.Measure(seconds: 3);
    }

    /// <summary>.NET's one-shot <see cref="SHA256.HashData(ReadOnlySpan{byte}, Span{byte})"/> of each 4 KiB block, no tree and no prefix.</summary>
    [Benchmark]
    public byte[] DotNetSha256Of4KiBBlocks()
    {
        byte[] bytes = Bytes;
        for (int offset = 0; offset < bytes.Length; offset += 4096)
        {
            SHA256.HashData(bytes.AsSpan(offset, 4096), _digest);
        }
        return _digest;
    }

    /// <summary>RFC 6962 root over 4 KiB leaves on one thread with the default (OpenSSL) SHA-256 context.</summary>
    [Benchmark(Baseline = true)]
    public byte[] MerkleRoot()
    {
        UseBackend(Sha256Context.DefaultBackend);
        return MerkleTree.ComputeRootOfFixedLeaves(Bytes, 4096);
    }

    /// <summary>The same root with the managed fallback (.NET IncrementalHash), to show what the native context buys.</summary>
    [Benchmark]
    public byte[] MerkleRootManagedSha256()
    {
        UseBackend(Sha256Backend.Managed);
        return MerkleTree.ComputeRootOfFixedLeaves(Bytes, 4096);
    }

    /// <summary>Model commitment of the 16 Mi floats (what the engine calls; leaves hashed on all cores).</summary>
    [Benchmark]
    public byte[] ModelCommitmentRoot()
    {
        UseBackend(Sha256Context.DefaultBackend);
        return ModelCommitment.ComputeRoot([Model]);
    }

    private static void UseBackend(Sha256Backend backend)
    {
        if (MerkleHash.ThreadBackend != backend)
        {
            MerkleHash.ThreadBackend = backend;
        }
    }

    private static bool HasShaNi() =>
        OperatingSystem.IsLinux() && File.ReadAllText("/proc/cpuinfo").Split((char[])[' ', '\t', '\n']).Contains("sha_ni");

    private sealed class MerkleConfig : ManualConfig
    {
        public MerkleConfig()
        {
            Job baseJob = Job.Default
                .WithToolchain(InProcessEmitToolchain.Instance)
                .WithLaunchCount(1)
                .WithWarmupCount(2)
                .WithIterationCount(8);
            AddJob(baseJob.WithId("Wall"));
            AddJob(baseJob.WithClock(ThreadCpuClock.Instance).WithId("ThreadCpu"));
            AddJob(baseJob.WithClock(ProcessCpuClock.Instance).WithId("ProcessCpu"));
            AddColumn(new ThroughputColumn(ThroughputColumn.Kind.Merkle), new ThroughputColumn(ThroughputColumn.Kind.OpenSsl), new ThroughputColumn(ThroughputColumn.Kind.Ratio));
            HideColumns(Column.Error, Column.RatioSD, Column.Toolchain, Column.IterationCount, Column.LaunchCount, Column.WarmupCount, Column.Clock);
        }
    }

    /// <summary>GB/s of a case, openssl's GB/s on the same clock, or their ratio.</summary>
    private sealed class ThroughputColumn(ThroughputColumn.Kind kind) : IColumn
    {
        public enum Kind
        {
            Merkle,
            OpenSsl,
            Ratio,
        }

        public string Id => "MerkleThroughput" + kind;

        public string ColumnName => kind switch
        {
            Kind.Merkle => "GB/s",
            Kind.OpenSsl => "openssl GB/s",
            _ => "÷ openssl",
        };

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => (int)kind;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => kind switch
        {
            Kind.Merkle => "64 MiB / mean, 10⁹ bytes per second of the job's clock (per CPU second in the ThreadCpu and ProcessCpu jobs)",
            Kind.OpenSsl => "median of this run's `openssl speed -seconds 3 -bytes 4096 -evp sha256` (CPU-time figure for the CPU jobs, wall-clock for Wall)",
            _ => "GB/s divided by openssl GB/s on the same clock",
        };

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public bool IsAvailable(Summary summary) => true;

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
        {
            double? meanNs = summary[benchmarkCase]?.ResultStatistics?.Mean;
            double? gbps = meanNs is double ns ? DataBytes / ns : null;
            bool cpuClock = benchmarkCase.Job.Infrastructure.Clock is ProcessCpuClock or ThreadCpuClock;
            double? openssl = OpenSslReference.Median(cpu: cpuClock);
            if (benchmarkCase.Job.Infrastructure.Clock is ThreadCpuClock && benchmarkCase.Descriptor.WorkloadMethod.Name == nameof(ModelCommitmentRoot))
            {
                // Its leaves are hashed on worker threads, whose CPU time this clock does not see.
                return kind == Kind.OpenSsl ? openssl?.ToString("F3") ?? "-" : "n/a";
            }
            return kind switch
            {
                Kind.Merkle => gbps?.ToString("F3") ?? "-",
                Kind.OpenSsl => openssl?.ToString("F3") ?? "-",
                _ => gbps is double g && openssl is double o ? (g / o).ToString("P1") : "-",
            };
        }
    }
}

/// <summary>CPU time consumed by the whole process, all threads (Linux CLOCK_PROCESS_CPUTIME_ID), in nanoseconds.</summary>
internal sealed unsafe partial class ProcessCpuClock : IClock
{
    public static readonly ProcessCpuClock Instance = new();

    private const int ClockProcessCpuTimeId = 2;

    public string Title => "Process CPU time";

    public bool IsAvailable => OperatingSystem.IsLinux();

    public Frequency Frequency => Frequency.GHz;

    public long GetTimestamp()
    {
        long* timespec = stackalloc long[2];
        ClockGetTime(ClockProcessCpuTimeId, timespec);
        return timespec[0] * 1_000_000_000 + timespec[1];
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, long* timespec);
}
