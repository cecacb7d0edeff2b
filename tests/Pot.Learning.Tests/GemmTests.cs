using Pot.Learning.Kernels;

namespace Pot.Learning.Tests;

public class GemmTests
{
    private static readonly int[] AwkwardSizes = [1, 7, 15, 16, 17, 33, 65, 100, 257];

    private enum Start
    {
        Zero,
        Bias,
        Accumulate,
    }

    /// <summary>Deterministic test data: a fixed-seed generator, values in [-1, 1) with varied exponents.</summary>
    private static float[] RandomMatrix(int length, int seed)
    {
        var random = new Random(seed);
        var values = new float[length];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)((random.NextDouble() * 2 - 1) * Math.Pow(2, random.Next(-6, 2)));
        }

        return values;
    }

    /// <summary>The canonical order written out naively: one scalar fma chain per element over p = 0..k-1.</summary>
    private static float[] CanonicalReference(bool transA, bool transB, int m, int n, int k, float[] a, float[] b, float[] c0, float[]? bias, bool accumulate)
    {
        var c = (float[])c0.Clone();
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float acc = accumulate ? c[i * n + j] : bias != null ? bias[j] : 0f;
                for (int p = 0; p < k; p++)
                {
                    float av = transA ? a[p * m + i] : a[i * k + p];
                    float bv = transB ? b[j * k + p] : b[p * n + j];
                    acc = MathF.FusedMultiplyAdd(av, bv, acc);
                }

                c[i * n + j] = acc;
            }
        }

        return c;
    }

    private static void CheckCase(GemmPath path, bool transA, bool transB, int m, int n, int k, Start start, int threads)
    {
        int seed = HashCode.Combine(m, n, k, transA, transB, start);
        float[] a = RandomMatrix(m * k, seed);
        float[] b = RandomMatrix(k * n, seed + 1);
        float[] c0 = RandomMatrix(m * n, seed + 2);
        float[]? bias = start == Start.Bias ? RandomMatrix(n, seed + 3) : null;
        bool accumulate = start == Start.Accumulate;

        float[] expected = CanonicalReference(transA, transB, m, n, k, a, b, c0, bias, accumulate);
        var c = (float[])c0.Clone();
        Gemm.Multiply(path, transA, transB, m, n, k, a, b, c, bias, accumulate, new Parallelism(threads));

        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                // Float64 reference: the fp32 chain must be within a few ulp of Σ|a||b| of the exact sum.
                double exact = accumulate ? c0[i * n + j] : bias != null ? bias[j] : 0;
                double magnitude = Math.Abs(exact);
                for (int p = 0; p < k; p++)
                {
                    double av = transA ? a[p * m + i] : a[i * k + p];
                    double bv = transB ? b[j * k + p] : b[p * n + j];
                    exact += av * bv;
                    magnitude += Math.Abs(av * bv);
                }

                float got = c[i * n + j];
                double tolerance = (k + 2) * 1.2e-7 * magnitude + 1e-30;
                Assert.True(Math.Abs(got - exact) <= tolerance,
                    $"{path} tA={transA} tB={transB} m={m} n={n} k={k} {start}: c[{i},{j}]={got} vs float64 {exact}");

                Assert.True(BitConverter.SingleToInt32Bits(got) == BitConverter.SingleToInt32Bits(expected[i * n + j]),
                    $"{path} tA={transA} tB={transB} m={m} n={n} k={k} {start} threads={threads}: c[{i},{j}]={got:R} but canonical chain gives {expected[i * n + j]:R}");
            }
        }
    }

    public static IEnumerable<object[]> Paths() =>
        Enum.GetValues<GemmPath>().Where(Gemm.IsSupported).Select(p => new object[] { p.ToString() });

    /// <summary>
    /// Proves every supported path matches the canonical scalar fma chain bit for bit (and a float64
    /// reference within rounding) for all transposes and starting values, with each dimension taking
    /// every awkward size (edges of 6-row tiles, 8/16-lane vectors and 64-column panels) and k=0.
    /// </summary>
    [Theory]
    [MemberData(nameof(Paths))]
    public void MatchesCanonicalChainOnAwkwardSizes(string pathName)
    {
        GemmPath path = Enum.Parse<GemmPath>(pathName);
        var shapes = new List<(int M, int N, int K)>();
        foreach (int s in AwkwardSizes)
        {
            shapes.Add((s, 17, 33));
            shapes.Add((33, s, 17));
            shapes.Add((17, 33, s));
        }

        shapes.Add((7, 15, 0));
        shapes.Add((65, 100, 0));
        shapes.Add((100, 65, 257));
        shapes.Add((257, 100, 65));

        foreach ((int m, int n, int k) in shapes)
        {
            foreach (bool transA in new[] { false, true })
            {
                foreach (bool transB in new[] { false, true })
                {
                    foreach (Start start in Enum.GetValues<Start>())
                    {
                        CheckCase(path, transA, transB, m, n, k, start, threads: 1);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Proves the result does not depend on the thread count or the code path: shapes large enough
    /// to use k-blocking (k &gt; 256), column blocking (n &gt; 512) and several work items give the
    /// same bits on every supported path with 1, 2, 3 and 8 threads.
    /// </summary>
    [Fact]
    public void BitsIndependentOfThreadsAndPath()
    {
        foreach ((int m, int n, int k, bool transA, bool transB) in new[]
        {
            (130, 530, 300, false, false),
            (61, 200, 513, true, false),
            (200, 77, 260, false, true),
            (47, 129, 40, true, true),
        })
        {
            float[] a = RandomMatrix(m * k, 1);
            float[] b = RandomMatrix(k * n, 2);
            float[] bias = RandomMatrix(n, 3);
            float[]? first = null;
            foreach (GemmPath path in Enum.GetValues<GemmPath>().Where(Gemm.IsSupported))
            {
                foreach (int threads in new[] { 1, 2, 3, 8 })
                {
                    var c = new float[m * n];
                    Gemm.Multiply(path, transA, transB, m, n, k, a, b, c, bias, false, new Parallelism(threads));
                    first ??= c;
                    Assert.True(first.AsSpan().SequenceEqual(c), $"{path} with {threads} threads differs for m={m} n={n} k={k}");
                }
            }

            float[] expected = CanonicalReference(transA, transB, m, n, k, a, b, new float[m * n], bias, false);
            Assert.True(expected.AsSpan().SequenceEqual(first), $"m={m} n={n} k={k} differs from the canonical chain");
        }
    }

    /// <summary>Proves the pointer overload honours leading dimensions larger than the matrix (sub-matrix views).</summary>
    [Fact]
    public unsafe void HonoursLeadingDimensions()
    {
        const int m = 20, n = 70, k = 300, lda = 310, ldb = 75, ldc = 81;
        float[] a = RandomMatrix(m * lda, 4);
        float[] b = RandomMatrix(k * ldb, 5);
        var c = new float[m * ldc];
        Array.Fill(c, 99f);
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            Gemm.Multiply(false, false, m, n, k, pa, lda, pb, ldb, pc, ldc, null, false, new Parallelism(2));
        }

        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < ldc; j++)
            {
                float expected = 99f;
                if (j < n)
                {
                    expected = 0f;
                    for (int p = 0; p < k; p++)
                    {
                        expected = MathF.FusedMultiplyAdd(a[i * lda + p], b[p * ldb + j], expected);
                    }
                }

                Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(c[i * ldc + j]));
            }
        }
    }

    /// <summary>Proves invalid arguments are rejected with an ArgumentException that names the problem.</summary>
    [Fact]
    public unsafe void RejectsInvalidArguments()
    {
        var a = new float[12];
        var b = new float[12];
        var c = new float[12];
        var bias = new float[4];

        var negative = Assert.ThrowsAny<ArgumentException>(() => Gemm.Multiply(false, false, -1, 3, 4, a, b, c, default, false, Parallelism.Single));
        Assert.Contains("non-negative", negative.Message);

        var small = Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 3, 4, 5, a, b, c, default, false, Parallelism.Single));
        Assert.Contains("too small", small.Message);

        var shortBias = Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 3, 4, 3, a, b, c, bias.AsSpan(0, 3), false, Parallelism.Single));
        Assert.Contains("bias", shortBias.Message);

        var both = Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 3, 4, 3, a, b, c, bias, true, Parallelism.Single));
        Assert.Contains("not both", both.Message);

        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            float* ra = pa, rb = pb, rc = pc;
            var stride = Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 3, 4, 3, ra, 2, rb, 4, rc, 4, null, false, Parallelism.Single));
            Assert.Contains("lda=2", stride.Message);
        }
    }
}
