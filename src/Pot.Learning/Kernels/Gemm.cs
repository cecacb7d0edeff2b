using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Pot.Learning.Kernels;

/// <summary>
/// Deterministic single-precision matrix multiply, C = op(A)·op(B), row-major.
/// </summary>
/// <remarks>
/// Canonical evaluation order (docs/engine.md): every c[i,j] is one left-to-right chain of fused
/// multiply-adds over p = 0..k-1, <c>acc = fma(op(A)[i,p], op(B)[p,j], acc)</c>, starting from
/// <c>c[i,j]</c> when accumulating, from <c>bias[j]</c> when a bias is given, and from +0.0 otherwise.
/// No split-k, no partial sums combined afterwards: every backend (scalar, AVX2, AVX-512, a GPU thread
/// per output) produces the same bits. Threads split rows of C only.
/// </remarks>
public static unsafe class Gemm
{
    /// <summary>Computes C = op(A)·op(B) (+ bias, or + C) under the canonical order.</summary>
    /// <param name="transA">When true op(A)[i,p] = a[p*lda + i], otherwise a[i*lda + p].</param>
    /// <param name="transB">When true op(B)[p,j] = b[j*ldb + p], otherwise b[p*ldb + j].</param>
    /// <param name="m">Rows of C.</param>
    /// <param name="n">Columns of C.</param>
    /// <param name="k">Length of every dot product.</param>
    /// <param name="a">Matrix A.</param>
    /// <param name="lda">Row stride of A as stored.</param>
    /// <param name="b">Matrix B.</param>
    /// <param name="ldb">Row stride of B as stored.</param>
    /// <param name="c">Output matrix C (m×n, row stride <paramref name="ldc"/>).</param>
    /// <param name="ldc">Row stride of C.</param>
    /// <param name="bias">Null, or n values each chain starts from.</param>
    /// <param name="accumulate">When true each chain starts from the value already in C.</param>
    /// <param name="parallelism">Threads to split rows of C over.</param>
    public static void Multiply(
        bool transA, bool transB, int m, int n, int k,
        float* a, int lda, float* b, int ldb, float* c, int ldc,
        float* bias, bool accumulate, Parallelism parallelism)
    {
        if (m < 0 || n < 0 || k < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(m), $"matrix sizes must be non-negative, got m={m} n={n} k={k}");
        }

        if (accumulate && bias != null)
        {
            throw new ArgumentException("a GEMM either accumulates into C or starts from a bias, not both");
        }

        if (m == 0 || n == 0)
        {
            return;
        }

        // B is brought into k×n row-major form once so the inner loop reads contiguous rows.
        float[]? packed = null;
        float* bRows = b;
        int bStride = ldb;
        if (transB)
        {
            packed = GC.AllocateUninitializedArray<float>(k * n, pinned: true);
            fixed (float* pk = packed)
            {
                for (int j = 0; j < n; j++)
                {
                    float* src = b + (long)j * ldb;
                    for (int p = 0; p < k; p++)
                    {
                        pk[(long)p * n + j] = src[p];
                    }
                }
            }

            bRows = (float*)Unsafe.AsPointer(ref packed[0]);
            bStride = n;
        }

        const int rowsPerTask = 8;
        int tasks = (m + rowsPerTask - 1) / rowsPerTask;
        nint aP = (nint)a, bP = (nint)bRows, cP = (nint)c, biasP = (nint)bias;
        parallelism.For(tasks, t =>
        {
            int i0 = t * rowsPerTask;
            int i1 = Math.Min(m, i0 + rowsPerTask);
            for (int i = i0; i < i1; i++)
            {
                Row((float*)aP, lda, transA, i, (float*)bP, bStride, (float*)cP + (long)i * ldc, n, k, (float*)biasP, accumulate);
            }
        });
        GC.KeepAlive(packed);
    }

    /// <summary>Span convenience over <see cref="Multiply(bool,bool,int,int,int,float*,int,float*,int,float*,int,float*,bool,Parallelism)"/> with dense strides.</summary>
    /// <param name="transA">Whether A is stored transposed (k×m).</param>
    /// <param name="transB">Whether B is stored transposed (n×k).</param>
    /// <param name="m">Rows of C.</param>
    /// <param name="n">Columns of C.</param>
    /// <param name="k">Reduced dimension.</param>
    /// <param name="a">Matrix A, dense.</param>
    /// <param name="b">Matrix B, dense.</param>
    /// <param name="c">Matrix C, dense m×n.</param>
    /// <param name="bias">Empty, or n values each chain starts from.</param>
    /// <param name="accumulate">When true each chain starts from the value already in C.</param>
    /// <param name="parallelism">Threads to use.</param>
    public static void Multiply(
        bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c,
        ReadOnlySpan<float> bias, bool accumulate, Parallelism parallelism)
    {
        if (a.Length < (long)m * k || b.Length < (long)k * n || c.Length < (long)m * n)
        {
            throw new ArgumentException($"GEMM operand too small for m={m} n={n} k={k}: |A|={a.Length} |B|={b.Length} |C|={c.Length}");
        }

        if (!bias.IsEmpty && bias.Length < n)
        {
            throw new ArgumentException($"GEMM bias has {bias.Length} values, expected {n}");
        }

        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        fixed (float* pbias = bias)
        {
            Multiply(transA, transB, m, n, k,
                pa, transA ? m : k, pb, transB ? k : n, pc, n,
                bias.IsEmpty ? null : pbias, accumulate, parallelism);
        }
    }

    private static void Row(float* a, int lda, bool transA, int i, float* b, int ldb, float* cRow, int n, int k, float* bias, bool accumulate)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; j + 16 <= n; j += 16)
            {
                Vector512<float> acc = accumulate ? Vector512.Load(cRow + j)
                    : bias != null ? Vector512.Load(bias + j) : Vector512<float>.Zero;
                for (int p = 0; p < k; p++)
                {
                    float av = transA ? a[(long)p * lda + i] : a[(long)i * lda + p];
                    acc = Vector512.FusedMultiplyAdd(Vector512.Create(av), Vector512.Load(b + (long)p * ldb + j), acc);
                }

                acc.Store(cRow + j);
            }
        }

        if (Vector256.IsHardwareAccelerated)
        {
            for (; j + 8 <= n; j += 8)
            {
                Vector256<float> acc = accumulate ? Vector256.Load(cRow + j)
                    : bias != null ? Vector256.Load(bias + j) : Vector256<float>.Zero;
                for (int p = 0; p < k; p++)
                {
                    float av = transA ? a[(long)p * lda + i] : a[(long)i * lda + p];
                    acc = Vector256.FusedMultiplyAdd(Vector256.Create(av), Vector256.Load(b + (long)p * ldb + j), acc);
                }

                acc.Store(cRow + j);
            }
        }

        for (; j < n; j++)
        {
            float acc = accumulate ? cRow[j] : bias != null ? bias[j] : 0f;
            for (int p = 0; p < k; p++)
            {
                float av = transA ? a[(long)p * lda + i] : a[(long)i * lda + p];
                acc = MathF.FusedMultiplyAdd(av, b[(long)p * ldb + j], acc);
            }

            cRow[j] = acc;
        }
    }
}
