using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Horology;
using Pot.Learning.Kernels;

namespace Pot.Benchmarks;

/// <summary>
/// Single-threaded SGEMM: our deterministic kernel (best path, and the AVX2 path) against OpenBLAS
/// <c>cblas_sgemm</c> in the same run. Columns: GFLOP/s = 2·m·n·k / mean time, and the ratio of each
/// method's GFLOP/s to OpenBLAS's on the same shape.
/// </summary>
[Config(typeof(GemmConfig))]
public unsafe class GemmBenchmarks
{
    // "NN"/"NT"/"TN"/"TT" is (transA, transB); then m x n x k.
    [Params(
        "NN 256x256x256", "NN 512x512x512", "NN 1024x1024x1024", "NN 2048x2048x2048",
        "NT 1024x384x128", "NT 1024x512x128", "NT 1024x128x512", "NN 1024x128x384", "TN 384x128x1024",
        "NT 16x16x32", "NN 16x32x16")]
    public string Shape { get; set; } = "NN 256x256x256";

    private bool transA, transB;
    private int m, n, k;
    private float* a, b, c;
    private string? blasMissing;

    [GlobalSetup]
    public void Setup()
    {
        (transA, transB, m, n, k) = ParseShape(Shape);
        a = Allocate((long)m * k, 1);
        b = Allocate((long)k * n, 2);
        c = Allocate((long)m * n, 3);
        blasMissing = OpenBlas.TrySetSingleThreaded();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.AlignedFree(a);
        NativeMemory.AlignedFree(b);
        NativeMemory.AlignedFree(c);
    }

    [Benchmark(Description = "Pot (best path)")]
    public void Ours() => Gemm.Multiply(transA, transB, m, n, k, a, transA ? m : k, b, transB ? k : n, c, n, null, false, Parallelism.Single);

    [Benchmark(Description = "Pot (AVX2 path)")]
    public void OursAvx2() => Gemm.Multiply(GemmPath.Vector256, transA, transB, m, n, k, a, transA ? m : k, b, transB ? k : n, c, n, null, false, Parallelism.Single);

    [Benchmark(Description = "OpenBLAS", Baseline = true)]
    public void OpenBlasSgemm()
    {
        if (blasMissing != null)
        {
            throw new DllNotFoundException(blasMissing);
        }

        OpenBlas.Sgemm(transA, transB, m, n, k, a, b, c);
    }

    internal static (bool TransA, bool TransB, int M, int N, int K) ParseShape(string shape)
    {
        string[] parts = shape.Split(' ');
        int[] sizes = parts[1].Split('x').Select(int.Parse).ToArray();
        return (parts[0][0] == 'T', parts[0][1] == 'T', sizes[0], sizes[1], sizes[2]);
    }

    private static float* Allocate(long count, int seed)
    {
        var p = (float*)NativeMemory.AlignedAlloc((nuint)(count * sizeof(float)), 64);
        var random = new Random(seed);
        for (long i = 0; i < count; i++)
        {
            p[i] = (float)(random.NextDouble() * 2 - 1);
        }

        return p;
    }

    /// <summary>
    /// A short in-process job timed by the benchmark thread's CPU clock, plus the GFLOP/s and ratio
    /// columns. Every method here is single-threaded and runs on the benchmark thread, so its CPU time
    /// is its run time on an idle machine, and other processes on a shared machine cannot inflate it.
    /// </summary>
    private sealed class GemmConfig : ManualConfig
    {
        public GemmConfig()
        {
            AddJob(Job.Default
                .WithToolchain(InProcessEmitToolchain.Instance)
                .WithClock(ThreadCpuClock.Instance)
                .WithLaunchCount(1)
                .WithWarmupCount(3)
                .WithIterationCount(7));
            AddColumn(new GflopsColumn(relative: false), new GflopsColumn(relative: true));
            HideColumns(Column.Error, Column.StdDev, Column.RatioSD, Column.Job, Column.Toolchain,
                Column.IterationCount, Column.LaunchCount, Column.WarmupCount);
        }
    }

    /// <summary>GFLOP/s of a case, or that divided by OpenBLAS's GFLOP/s on the same shape.</summary>
    private sealed class GflopsColumn(bool relative) : IColumn
    {
        public string Id => relative ? "GflopsVsOpenBlas" : "Gflops";

        public string ColumnName => relative ? "GFLOP/s ÷ OpenBLAS" : "GFLOP/s";

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => relative ? 1 : 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => relative
            ? "This method's GFLOP/s divided by OpenBLAS cblas_sgemm's on the same shape, same run"
            : "2·m·n·k / mean time, in 10⁹ floating-point operations per second";

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public bool IsAvailable(Summary summary) => true;

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
        {
            double? gflops = Gflops(summary, benchmarkCase);
            if (gflops == null)
            {
                return "-";
            }

            if (!relative)
            {
                return gflops.Value.ToString("F1");
            }

            BenchmarkCase? blas = summary.BenchmarksCases.FirstOrDefault(other =>
                other.Descriptor.WorkloadMethod.Name == nameof(OpenBlasSgemm)
                && Equals(other.Parameters["Shape"], benchmarkCase.Parameters["Shape"]));
            double? reference = blas == null ? null : Gflops(summary, blas);
            return reference == null ? "-" : (gflops.Value / reference.Value).ToString("F2");
        }

        private static double? Gflops(Summary summary, BenchmarkCase benchmarkCase)
        {
            double? meanNs = summary[benchmarkCase]?.ResultStatistics?.Mean;
            if (meanNs == null)
            {
                return null;
            }

            (_, _, int m, int n, int k) = ParseShape((string)benchmarkCase.Parameters["Shape"]);
            return 2.0 * m * n * k / meanNs.Value;
        }
    }
}

/// <summary>CPU time consumed by the calling thread (Linux CLOCK_THREAD_CPUTIME_ID), in nanoseconds.</summary>
internal sealed unsafe partial class ThreadCpuClock : IClock
{
    public static readonly ThreadCpuClock Instance = new();

    private const int ClockThreadCpuTimeId = 3;

    public string Title => "Thread CPU time";

    public bool IsAvailable => OperatingSystem.IsLinux();

    public Frequency Frequency => Frequency.GHz;

    public long GetTimestamp()
    {
        long* timespec = stackalloc long[2];
        ClockGetTime(ClockThreadCpuTimeId, timespec);
        return timespec[0] * 1_000_000_000 + timespec[1];
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, long* timespec);
}

/// <summary>P/Invoke to the system OpenBLAS (Debian package libopenblas0), used only as the reference.</summary>
internal static unsafe partial class OpenBlas
{
    private const string Library = "libopenblas.so.0";
    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    [LibraryImport(Library, EntryPoint = "cblas_sgemm")]
    private static partial void CblasSgemm(int order, int transA, int transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    [LibraryImport(Library, EntryPoint = "openblas_set_num_threads")]
    private static partial void SetNumThreads(int threads);

    /// <summary>Pins OpenBLAS to one thread; returns null, or an install hint (also printed) when it is missing.</summary>
    public static string? TrySetSingleThreaded()
    {
        if (!NativeLibrary.TryLoad(Library, out IntPtr handle))
        {
            const string message = "OpenBLAS (" + Library + ") was not found; install it with: sudo apt-get install libopenblas0";
            Console.Error.WriteLine(message);
            return message;
        }

        NativeLibrary.Free(handle);
        SetNumThreads(1);
        return null;
    }

    /// <summary>C = op(A)·op(B), dense row-major, alpha 1, beta 0.</summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float* a, float* b, float* c) =>
        CblasSgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k,
            1f, a, transA ? m : k, b, transB ? k : n, 0f, c, n);
}
