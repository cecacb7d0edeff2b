using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Pot.Learning.Kernels;

/// <summary>Which instruction set a GEMM runs on. All paths give identical bits; only speed differs.</summary>
internal enum GemmPath
{
    /// <summary>MathF.FusedMultiplyAdd per element; works everywhere.</summary>
    Scalar,

    /// <summary>AVX2 + FMA, 6×16 register tiles.</summary>
    Vector256,

    /// <summary>AVX-512F, 6×64 register tiles.</summary>
    Vector512,
}

/// <summary>
/// Deterministic single-precision matrix multiply, C = op(A)·op(B), row-major.
/// </summary>
/// <remarks>
/// Canonical evaluation order (docs/gemm.md): every c[i,j] is one left-to-right chain of fused
/// multiply-adds over p = 0..k-1, <c>acc = fma(op(A)[i,p], op(B)[p,j], acc)</c>, starting from
/// <c>c[i,j]</c> when accumulating, from <c>bias[j]</c> when a bias is given, and from +0.0 otherwise.
/// No split-k, no partial sums combined afterwards: every backend (scalar, AVX2, AVX-512, a GPU thread
/// per output) produces the same bits. Threads split tiles of C only.
/// <para>
/// The vector paths are GotoBLAS-shaped: B is packed into column panels, a register-blocked
/// microkernel keeps a tile of C in registers and runs the chains of all its elements side by side
/// (lane j of an accumulator is exactly c[i,j]'s chain), and k is cut into blocks for the caches.
/// Between two k-blocks a tile's accumulators go to C and come back; an fp32 store and load is exact,
/// so the chain is the same as without blocking.
/// </para>
/// </remarks>
public static unsafe class Gemm
{
    // Rows of C per register tile, for both vector paths.
    private const int TileRows = 6;

    // k-block length: a 6-row A sliver (6·kc floats) stays in L1 while the B panels stream from L2.
    private const int KBlock = 256;

    // Columns of C per cache block (kc·nc·4 bytes of packed B, 512 KiB, stay in L2 across row tiles).
    private const int NBlock = 512;

    // With fewer rows than this and B not transposed, B is read in place: packing it would cost
    // about as much as the multiply itself.
    private const int DirectRowsMax = 48;

    /// <summary>The fastest path this machine supports; what the public overloads use.</summary>
    internal static GemmPath BestPath { get; } =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? GemmPath.Vector512
        : Vector256.IsHardwareAccelerated && Avx2.IsSupported && Fma.IsSupported ? GemmPath.Vector256
        : GemmPath.Scalar;

    /// <summary>Whether <paramref name="path"/> can run on this machine (tests compare all that can).</summary>
    /// <param name="path">The path to check.</param>
    /// <returns>True when the instructions it needs are available.</returns>
    internal static bool IsSupported(GemmPath path) => path switch
    {
        GemmPath.Scalar => true,
        GemmPath.Vector256 => Avx2.IsSupported && Fma.IsSupported,
        GemmPath.Vector512 => Avx512F.IsSupported,
        _ => false,
    };

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
    /// <param name="parallelism">Threads to split tiles of C over.</param>
    public static void Multiply(
        bool transA, bool transB, int m, int n, int k,
        float* a, int lda, float* b, int ldb, float* c, int ldc,
        float* bias, bool accumulate, Parallelism parallelism)
    {
        Multiply(BestPath, transA, transB, m, n, k, a, lda, b, ldb, c, ldc, bias, accumulate, parallelism);
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
        Multiply(BestPath, transA, transB, m, n, k, a, b, c, bias, accumulate, parallelism);
    }

    /// <summary>The span overload on a chosen path (tests run every supported path in one process).</summary>
    internal static void Multiply(
        GemmPath path, bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c,
        ReadOnlySpan<float> bias, bool accumulate, Parallelism parallelism)
    {
        CheckSizes(m, n, k);
        if (a.Length < (long)m * k || b.Length < (long)k * n || c.Length < (long)m * n)
        {
            throw new ArgumentException(
                $"GEMM operand too small for m={m} n={n} k={k}: |A|={a.Length} (need {(long)m * k}), " +
                $"|B|={b.Length} (need {(long)k * n}), |C|={c.Length} (need {(long)m * n})");
        }

        if (!bias.IsEmpty && bias.Length < n)
        {
            throw new ArgumentException($"GEMM bias has {bias.Length} values, expected at least n={n}", nameof(bias));
        }

        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        fixed (float* pbias = bias)
        {
            // Dense strides; max(1, ·) keeps a zero-sized dimension from making a stride invalid.
            Multiply(path, transA, transB, m, n, k,
                pa, Math.Max(1, transA ? m : k), pb, Math.Max(1, transB ? k : n), pc, Math.Max(1, n),
                bias.IsEmpty ? null : pbias, accumulate, parallelism);
        }
    }

    /// <summary>The pointer overload on a chosen path.</summary>
    internal static void Multiply(
        GemmPath path, bool transA, bool transB, int m, int n, int k,
        float* a, int lda, float* b, int ldb, float* c, int ldc,
        float* bias, bool accumulate, Parallelism parallelism)
    {
        CheckSizes(m, n, k);
        if (accumulate && bias != null)
        {
            throw new ArgumentException("a GEMM either accumulates into C (accumulate=true) or starts from a bias, not both", nameof(bias));
        }

        if (lda < Math.Max(1, transA ? m : k) || ldb < Math.Max(1, transB ? k : n) || ldc < Math.Max(1, n))
        {
            throw new ArgumentException(
                $"GEMM leading dimension too small for m={m} n={n} k={k} transA={transA} transB={transB}: " +
                $"lda={lda} (need ≥ {Math.Max(1, transA ? m : k)}), ldb={ldb} (need ≥ {Math.Max(1, transB ? k : n)}), " +
                $"ldc={ldc} (need ≥ {Math.Max(1, n)})");
        }

        if (!IsSupported(path))
        {
            throw new ArgumentException($"GEMM path {path} is not supported by this CPU", nameof(path));
        }

        if (m == 0 || n == 0)
        {
            return;
        }

        if (k == 0)
        {
            // Every chain is empty: the result is its starting value.
            if (!accumulate)
            {
                for (int i = 0; i < m; i++)
                {
                    Span<float> row = new(c + (long)i * ldc, n);
                    if (bias != null)
                    {
                        new ReadOnlySpan<float>(bias, n).CopyTo(row);
                    }
                    else
                    {
                        row.Clear();
                    }
                }
            }

            return;
        }

        if (path == GemmPath.Scalar)
        {
            MultiplyScalar(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, bias, accumulate);
            return;
        }

        var job = new Job
        {
            Wide = path == GemmPath.Vector512,
            TransA = transA,
            M = m,
            N = n,
            K = k,
            A = a,
            Lda = lda,
            C = c,
            Ldc = ldc,
            Bias = bias,
            Accumulate = accumulate,
        };
        job.PanelWidth = job.Wide ? 64 : 16;
        job.VectorWidth = job.Wide ? 16 : 8;
        job.Panels = (n + job.PanelWidth - 1) / job.PanelWidth;
        PrepareB(ref job, transB, b, ldb);
        Run(in job, parallelism);
    }

    private static void CheckSizes(int m, int n, int k)
    {
        if (m < 0 || n < 0 || k < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(m), $"GEMM sizes must be non-negative, got m={m} n={n} k={k}");
        }
    }

    /// <summary>Everything one GEMM call's work items share (read-only once B is prepared).</summary>
    private struct Job
    {
        public bool Wide;
        public bool TransA;
        public bool Accumulate;
        public int M, N, K, Lda, Ldc;
        public float* A, C, Bias;

        // Columns per B panel and per vector register.
        public int PanelWidth, VectorWidth, Panels;

        // Panel q, rows p0.. of op(B) start at PanelBase + q·PanelStride + p0·RowStride.
        public float* PanelBase;
        public long PanelStride;
        public int RowStride;

        // When B is read in place and its last panel is ragged, that panel alone is packed here.
        public float* EdgePanel;
    }

    [ThreadStatic]
    private static float[]? packBuffer;

    /// <summary>A 64-byte aligned, pinned per-thread buffer of at least <paramref name="length"/> floats.</summary>
    private static float* PackBuffer(long length)
    {
        float[]? buffer = packBuffer;
        if (buffer == null || buffer.Length < length + 16)
        {
            // Grows to the largest GEMM this thread has run and is then reused: no allocation per call.
            buffer = GC.AllocateUninitializedArray<float>((int)checked(length + 16), pinned: true);
            packBuffer = buffer;
        }

        nint start = (nint)Unsafe.AsPointer(ref buffer[0]);
        return (float*)((start + 63) & ~(nint)63);
    }

    /// <summary>Decides whether B is read in place or packed into panels, and packs what is needed.</summary>
    private static void PrepareB(ref Job job, bool transB, float* b, int ldb)
    {
        int w = job.PanelWidth, n = job.N, k = job.K;
        int lastWidth = n - (job.Panels - 1) * w;
        if (!transB && job.M < DirectRowsMax)
        {
            job.PanelBase = b;
            job.PanelStride = w;
            job.RowStride = ldb;
            if (lastWidth % job.VectorWidth != 0)
            {
                // The microkernel reads whole vectors; a ragged last panel is copied with zero padding.
                job.EdgePanel = PackBuffer((long)k * w);
                PackPanel(transB, b, ldb, k, (job.Panels - 1) * w, lastWidth, w, job.EdgePanel);
            }

            return;
        }

        long stride = (long)k * w;
        float* packed = PackBuffer(stride * job.Panels);
        for (int q = 0; q < job.Panels; q++)
        {
            PackPanel(transB, b, ldb, k, q * w, Math.Min(w, n - q * w), w, packed + q * stride);
        }

        job.PanelBase = packed;
        job.PanelStride = stride;
        job.RowStride = w;
    }

    /// <summary>Copies columns j0..j0+width of op(B), all k rows, into a k×panelWidth row-major panel, zero-padded.</summary>
    private static void PackPanel(bool transB, float* b, int ldb, int k, int j0, int width, int panelWidth, float* dst)
    {
        if (!transB)
        {
            for (int p = 0; p < k; p++)
            {
                float* d = dst + (long)p * panelWidth;
                new ReadOnlySpan<float>(b + (long)p * ldb + j0, width).CopyTo(new Span<float>(d, width));
                new Span<float>(d + width, panelWidth - width).Clear();
            }

            return;
        }

        // op(B)[p, j] = b[j·ldb + p]: a transpose, done in blocks of 16 p so the writes stay in L1.
        for (int p0 = 0; p0 < k; p0 += 16)
        {
            int p1 = Math.Min(k, p0 + 16);
            for (int j = 0; j < width; j++)
            {
                float* src = b + (long)(j0 + j) * ldb;
                for (int p = p0; p < p1; p++)
                {
                    dst[(long)p * panelWidth + j] = src[p];
                }
            }

            for (int p = p0; p < p1; p++)
            {
                new Span<float>(dst + (long)p * panelWidth + width, panelWidth - width).Clear();
            }
        }
    }

    /// <summary>Splits C into independent tiles (row range × panel range) and runs them.</summary>
    private static void Run(in Job job, Parallelism parallelism)
    {
        int threads = parallelism.Threads;
        long flops = (long)job.M * job.N * job.K;
        if (threads == 1 || flops < 1L << 18)
        {
            // Small products are not worth a thread hand-off; the bits do not depend on this choice.
            Tile(in job, 0, job.M, 0, job.Panels);
            return;
        }

        // About three items per thread for load balance; row ranges are whole 6-row tiles.
        int rowChunk = Math.Max(TileRows, (job.M + threads * 3 - 1) / (threads * 3));
        rowChunk = (rowChunk + TileRows - 1) / TileRows * TileRows;
        int rowItems = (job.M + rowChunk - 1) / rowChunk;
        int panelItems = rowItems >= threads * 2 ? 1 : Math.Min(job.Panels, (threads * 3 + rowItems - 1) / rowItems);
        int panelChunk = (job.Panels + panelItems - 1) / panelItems;
        panelItems = (job.Panels + panelChunk - 1) / panelChunk;
        Job shared = job;
        parallelism.For(rowItems * panelItems, item =>
        {
            int r0 = item / panelItems * rowChunk;
            int q0 = item % panelItems * panelChunk;
            Tile(in shared, r0, Math.Min(shared.M, r0 + rowChunk), q0, Math.Min(shared.Panels, q0 + panelChunk));
        });
    }

    /// <summary>
    /// Computes rows r0..r1 × panels q0..q1 of C. For each column block and k-block, every 6-row
    /// sliver of A is multiplied with each B panel; a tile's chains continue across k-blocks in order.
    /// </summary>
    private static void Tile(in Job job, int r0, int r1, int q0, int q1)
    {
        int w = job.PanelWidth, vw = job.VectorWidth;
        int panelsPerBlock = Math.Max(1, NBlock / w);

        // Small per-item scratch: a packed A sliver (transposed A), a C tile for ragged columns,
        // and the starting row (bias or zeros) padded to a whole panel.
        float* aPack = stackalloc float[KBlock * TileRows];
        float* cEdge = stackalloc float[TileRows * 64];
        float* initPad = stackalloc float[64];
        float* zeros = stackalloc float[64];
        new Span<float>(zeros, 64).Clear();

        for (int qb = q0; qb < q1; qb += panelsPerBlock)
        {
            int qe = Math.Min(q1, qb + panelsPerBlock);
            for (int p0 = 0; p0 < job.K; p0 += KBlock)
            {
                int kc = Math.Min(KBlock, job.K - p0);
                bool first = p0 == 0;
                for (int i = r0; i < r1; i += TileRows)
                {
                    int rows = Math.Min(TileRows, r1 - i);
                    float* aSliver;
                    nint rsA, psA;
                    if (job.TransA)
                    {
                        // A is stored k×m: the sliver's 6 values per p are adjacent; copy them densely
                        // so the kernel does not touch a new cache line (and 4 KiB alias) every p.
                        for (int p = 0; p < kc; p++)
                        {
                            float* src = job.A + (long)(p0 + p) * job.Lda + i;
                            for (int r = 0; r < rows; r++)
                            {
                                aPack[p * TileRows + r] = src[r];
                            }
                        }

                        aSliver = aPack;
                        rsA = 1;
                        psA = TileRows;
                    }
                    else
                    {
                        aSliver = job.A + (long)i * job.Lda + p0;
                        rsA = job.Lda;
                        psA = 1;
                    }

                    for (int q = qb; q < qe; q++)
                    {
                        int j0 = q * w;
                        int width = Math.Min(w, job.N - j0);
                        int vecs = (width + vw - 1) / vw;
                        float* panel = q == job.Panels - 1 && job.EdgePanel != null
                            ? job.EdgePanel + (long)p0 * w
                            : job.PanelBase + q * job.PanelStride + (long)p0 * job.RowStride;
                        nint psB = q == job.Panels - 1 && job.EdgePanel != null ? w : job.RowStride;
                        float* cTile = job.C + (long)i * job.Ldc + j0;
                        float* init = null;
                        if (first && !job.Accumulate)
                        {
                            init = job.Bias == null ? zeros : job.Bias + j0;
                        }

                        if (width == vecs * vw)
                        {
                            Kernel(job.Wide, rows, vecs, kc, aSliver, rsA, psA, panel, psB, cTile, job.Ldc, init);
                            continue;
                        }

                        // Ragged columns: run the tile in scratch (chains unchanged) and copy the valid part.
                        if (init == null)
                        {
                            for (int r = 0; r < rows; r++)
                            {
                                new ReadOnlySpan<float>(cTile + (long)r * job.Ldc, width).CopyTo(new Span<float>(cEdge + r * 64, width));
                            }
                        }
                        else if (init != zeros)
                        {
                            new ReadOnlySpan<float>(init, width).CopyTo(new Span<float>(initPad, width));
                            new Span<float>(initPad + width, 64 - width).Clear();
                            init = initPad;
                        }

                        Kernel(job.Wide, rows, vecs, kc, aSliver, rsA, psA, panel, psB, cEdge, 64, init);
                        for (int r = 0; r < rows; r++)
                        {
                            new ReadOnlySpan<float>(cEdge + r * 64, width).CopyTo(new Span<float>(cTile + (long)r * job.Ldc, width));
                        }
                    }
                }
            }
        }
    }

    /// <summary>Picks the microkernel specialised for a tile of rows × vecs vectors.</summary>
    private static void Kernel(bool wide, int rows, int vecs, int kc, float* a, nint rsA, nint psA, float* b, nint psB, float* c, nint ldc, float* init)
    {
        if (wide)
        {
            switch (rows * 8 + vecs)
            {
                case 6 * 8 + 4: Kernel512<N6, N4>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 6 * 8 + 3: Kernel512<N6, N3>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 6 * 8 + 2: Kernel512<N6, N2>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 6 * 8 + 1: Kernel512<N6, N1>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 5 * 8 + 4: Kernel512<N5, N4>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 5 * 8 + 3: Kernel512<N5, N3>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 5 * 8 + 2: Kernel512<N5, N2>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 5 * 8 + 1: Kernel512<N5, N1>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 4 * 8 + 4: Kernel512<N4, N4>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 4 * 8 + 3: Kernel512<N4, N3>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 4 * 8 + 2: Kernel512<N4, N2>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 4 * 8 + 1: Kernel512<N4, N1>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 3 * 8 + 4: Kernel512<N3, N4>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 3 * 8 + 3: Kernel512<N3, N3>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 3 * 8 + 2: Kernel512<N3, N2>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 3 * 8 + 1: Kernel512<N3, N1>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 2 * 8 + 4: Kernel512<N2, N4>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 2 * 8 + 3: Kernel512<N2, N3>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 2 * 8 + 2: Kernel512<N2, N2>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 2 * 8 + 1: Kernel512<N2, N1>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 1 * 8 + 4: Kernel512<N1, N4>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 1 * 8 + 3: Kernel512<N1, N3>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                case 1 * 8 + 2: Kernel512<N1, N2>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
                default: Kernel512<N1, N1>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
            }

            return;
        }

        switch (rows * 8 + vecs)
        {
            case 6 * 8 + 2: Kernel256<N6, N2>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
            case 6 * 8 + 1: Kernel256<N6, N1>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
            case 5 * 8 + 2: Kernel256<N5, N2>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
            case 5 * 8 + 1: Kernel256<N5, N1>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
            case 4 * 8 + 2: Kernel256<N4, N2>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
            case 4 * 8 + 1: Kernel256<N4, N1>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
            case 3 * 8 + 2: Kernel256<N3, N2>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
            case 3 * 8 + 1: Kernel256<N3, N1>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
            case 2 * 8 + 2: Kernel256<N2, N2>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
            case 2 * 8 + 1: Kernel256<N2, N1>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
            case 1 * 8 + 2: Kernel256<N1, N2>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
            default: Kernel256<N1, N1>(kc, a, rsA, psA, b, psB, c, ldc, init); break;
        }
    }

    /// <summary>The reference path: one scalar fma chain per element, in the canonical order.</summary>
    private static void MultiplyScalar(
        bool transA, bool transB, int m, int n, int k,
        float* a, int lda, float* b, int ldb, float* c, int ldc, float* bias, bool accumulate)
    {
        long aRow = transA ? 1 : lda, aCol = transA ? lda : 1;
        long bRow = transB ? 1 : ldb, bCol = transB ? ldb : 1;
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float* cij = c + (long)i * ldc + j;
                float acc = accumulate ? *cij : bias != null ? bias[j] : 0f;
                float* ap = a + i * aRow;
                float* bp = b + j * bCol;
                for (int p = 0; p < k; p++)
                {
                    acc = MathF.FusedMultiplyAdd(ap[p * aCol], bp[p * bRow], acc);
                }

                *cij = acc;
            }
        }
    }

    /// <summary>A compile-time count: the JIT specialises a microkernel per value and drops unused registers.</summary>
    private interface ICount
    {
        static abstract int Value { get; }
    }

    private struct N1 : ICount { public static int Value => 1; }

    private struct N2 : ICount { public static int Value => 2; }

    private struct N3 : ICount { public static int Value => 3; }

    private struct N4 : ICount { public static int Value => 4; }

    private struct N5 : ICount { public static int Value => 5; }

    private struct N6 : ICount { public static int Value => 6; }

    // The microkernels. Tile element (r, j) lives in lane j%width of accumulator c{r}{j/width}; each
    // step p broadcasts op(A)[i+r, p] and fmas it with row p of the B panel, so every lane runs
    // exactly its own element's chain, in order. A is read at a[r·rsA + p·psA] (in place or packed),
    // B row p at b + p·psB. `init` null means start from C, otherwise every row starts from init.

    /// <summary>AVX-512 microkernel: up to 6 rows × 4 vectors of 16 columns, every accumulator one fma chain over p in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel512<TRows, TVecs>(int kc, float* a, nint rsA, nint psA, float* b, nint psB, float* c, nint ldc, float* init)
        where TRows : struct, ICount
        where TVecs : struct, ICount
    {
        int rows = TRows.Value, vecs = TVecs.Value;
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default, c10 = default, c11 = default, c12 = default, c13 = default, c20 = default, c21 = default, c22 = default, c23 = default, c30 = default, c31 = default, c32 = default, c33 = default, c40 = default, c41 = default, c42 = default, c43 = default, c50 = default, c51 = default, c52 = default, c53 = default;
        if (init == null)
        {
            { float* q = c; c00 = Vector512.Load(q); if (vecs > 1) c01 = Vector512.Load(q + 16); if (vecs > 2) c02 = Vector512.Load(q + 32); if (vecs > 3) c03 = Vector512.Load(q + 48); }
            if (rows > 1) { float* q = c + ldc; c10 = Vector512.Load(q); if (vecs > 1) c11 = Vector512.Load(q + 16); if (vecs > 2) c12 = Vector512.Load(q + 32); if (vecs > 3) c13 = Vector512.Load(q + 48); }
            if (rows > 2) { float* q = c + 2 * ldc; c20 = Vector512.Load(q); if (vecs > 1) c21 = Vector512.Load(q + 16); if (vecs > 2) c22 = Vector512.Load(q + 32); if (vecs > 3) c23 = Vector512.Load(q + 48); }
            if (rows > 3) { float* q = c + 3 * ldc; c30 = Vector512.Load(q); if (vecs > 1) c31 = Vector512.Load(q + 16); if (vecs > 2) c32 = Vector512.Load(q + 32); if (vecs > 3) c33 = Vector512.Load(q + 48); }
            if (rows > 4) { float* q = c + 4 * ldc; c40 = Vector512.Load(q); if (vecs > 1) c41 = Vector512.Load(q + 16); if (vecs > 2) c42 = Vector512.Load(q + 32); if (vecs > 3) c43 = Vector512.Load(q + 48); }
            if (rows > 5) { float* q = c + 5 * ldc; c50 = Vector512.Load(q); if (vecs > 1) c51 = Vector512.Load(q + 16); if (vecs > 2) c52 = Vector512.Load(q + 32); if (vecs > 3) c53 = Vector512.Load(q + 48); }
        }
        else
        {
            Vector512<float> i0 = Vector512.Load(init);
            Vector512<float> i1 = vecs > 1 ? Vector512.Load(init + 16) : default;
            Vector512<float> i2 = vecs > 2 ? Vector512.Load(init + 32) : default;
            Vector512<float> i3 = vecs > 3 ? Vector512.Load(init + 48) : default;
            c00 = i0; c01 = i1; c02 = i2; c03 = i3;
            c10 = i0; c11 = i1; c12 = i2; c13 = i3;
            c20 = i0; c21 = i1; c22 = i2; c23 = i3;
            c30 = i0; c31 = i1; c32 = i2; c33 = i3;
            c40 = i0; c41 = i1; c42 = i2; c43 = i3;
            c50 = i0; c51 = i1; c52 = i2; c53 = i3;
        }

        nint o2 = rsA * 2, o3 = rsA * 3, o4 = rsA * 4, o5 = rsA * 5;
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.Load(b);
            Vector512<float> b1 = vecs > 1 ? Vector512.Load(b + 16) : default;
            Vector512<float> b2 = vecs > 2 ? Vector512.Load(b + 32) : default;
            Vector512<float> b3 = vecs > 3 ? Vector512.Load(b + 48) : default;
            { Vector512<float> a0 = Vector512.Create(a[0]); c00 = Avx512F.FusedMultiplyAdd(a0, b0, c00); if (vecs > 1) c01 = Avx512F.FusedMultiplyAdd(a0, b1, c01); if (vecs > 2) c02 = Avx512F.FusedMultiplyAdd(a0, b2, c02); if (vecs > 3) c03 = Avx512F.FusedMultiplyAdd(a0, b3, c03); }
            if (rows > 1) { Vector512<float> a1 = Vector512.Create(a[rsA]); c10 = Avx512F.FusedMultiplyAdd(a1, b0, c10); if (vecs > 1) c11 = Avx512F.FusedMultiplyAdd(a1, b1, c11); if (vecs > 2) c12 = Avx512F.FusedMultiplyAdd(a1, b2, c12); if (vecs > 3) c13 = Avx512F.FusedMultiplyAdd(a1, b3, c13); }
            if (rows > 2) { Vector512<float> a2 = Vector512.Create(a[o2]); c20 = Avx512F.FusedMultiplyAdd(a2, b0, c20); if (vecs > 1) c21 = Avx512F.FusedMultiplyAdd(a2, b1, c21); if (vecs > 2) c22 = Avx512F.FusedMultiplyAdd(a2, b2, c22); if (vecs > 3) c23 = Avx512F.FusedMultiplyAdd(a2, b3, c23); }
            if (rows > 3) { Vector512<float> a3 = Vector512.Create(a[o3]); c30 = Avx512F.FusedMultiplyAdd(a3, b0, c30); if (vecs > 1) c31 = Avx512F.FusedMultiplyAdd(a3, b1, c31); if (vecs > 2) c32 = Avx512F.FusedMultiplyAdd(a3, b2, c32); if (vecs > 3) c33 = Avx512F.FusedMultiplyAdd(a3, b3, c33); }
            if (rows > 4) { Vector512<float> a4 = Vector512.Create(a[o4]); c40 = Avx512F.FusedMultiplyAdd(a4, b0, c40); if (vecs > 1) c41 = Avx512F.FusedMultiplyAdd(a4, b1, c41); if (vecs > 2) c42 = Avx512F.FusedMultiplyAdd(a4, b2, c42); if (vecs > 3) c43 = Avx512F.FusedMultiplyAdd(a4, b3, c43); }
            if (rows > 5) { Vector512<float> a5 = Vector512.Create(a[o5]); c50 = Avx512F.FusedMultiplyAdd(a5, b0, c50); if (vecs > 1) c51 = Avx512F.FusedMultiplyAdd(a5, b1, c51); if (vecs > 2) c52 = Avx512F.FusedMultiplyAdd(a5, b2, c52); if (vecs > 3) c53 = Avx512F.FusedMultiplyAdd(a5, b3, c53); }
            a += psA;
            b += psB;
        }

        { float* q = c; c00.Store(q); if (vecs > 1) c01.Store(q + 16); if (vecs > 2) c02.Store(q + 32); if (vecs > 3) c03.Store(q + 48); }
        if (rows > 1) { float* q = c + ldc; c10.Store(q); if (vecs > 1) c11.Store(q + 16); if (vecs > 2) c12.Store(q + 32); if (vecs > 3) c13.Store(q + 48); }
        if (rows > 2) { float* q = c + 2 * ldc; c20.Store(q); if (vecs > 1) c21.Store(q + 16); if (vecs > 2) c22.Store(q + 32); if (vecs > 3) c23.Store(q + 48); }
        if (rows > 3) { float* q = c + 3 * ldc; c30.Store(q); if (vecs > 1) c31.Store(q + 16); if (vecs > 2) c32.Store(q + 32); if (vecs > 3) c33.Store(q + 48); }
        if (rows > 4) { float* q = c + 4 * ldc; c40.Store(q); if (vecs > 1) c41.Store(q + 16); if (vecs > 2) c42.Store(q + 32); if (vecs > 3) c43.Store(q + 48); }
        if (rows > 5) { float* q = c + 5 * ldc; c50.Store(q); if (vecs > 1) c51.Store(q + 16); if (vecs > 2) c52.Store(q + 32); if (vecs > 3) c53.Store(q + 48); }
    }

    /// <summary>AVX2 microkernel: up to 6 rows × 2 vectors of 8 columns (12 accumulators fit the 16 ymm registers).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel256<TRows, TVecs>(int kc, float* a, nint rsA, nint psA, float* b, nint psB, float* c, nint ldc, float* init)
        where TRows : struct, ICount
        where TVecs : struct, ICount
    {
        int rows = TRows.Value, vecs = TVecs.Value;
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        if (init == null)
        {
            { float* q = c; c00 = Vector256.Load(q); if (vecs > 1) c01 = Vector256.Load(q + 8); }
            if (rows > 1) { float* q = c + ldc; c10 = Vector256.Load(q); if (vecs > 1) c11 = Vector256.Load(q + 8); }
            if (rows > 2) { float* q = c + 2 * ldc; c20 = Vector256.Load(q); if (vecs > 1) c21 = Vector256.Load(q + 8); }
            if (rows > 3) { float* q = c + 3 * ldc; c30 = Vector256.Load(q); if (vecs > 1) c31 = Vector256.Load(q + 8); }
            if (rows > 4) { float* q = c + 4 * ldc; c40 = Vector256.Load(q); if (vecs > 1) c41 = Vector256.Load(q + 8); }
            if (rows > 5) { float* q = c + 5 * ldc; c50 = Vector256.Load(q); if (vecs > 1) c51 = Vector256.Load(q + 8); }
        }
        else
        {
            Vector256<float> i0 = Vector256.Load(init);
            Vector256<float> i1 = vecs > 1 ? Vector256.Load(init + 8) : default;
            c00 = i0; c01 = i1;
            c10 = i0; c11 = i1;
            c20 = i0; c21 = i1;
            c30 = i0; c31 = i1;
            c40 = i0; c41 = i1;
            c50 = i0; c51 = i1;
        }

        nint o2 = rsA * 2, o3 = rsA * 3, o4 = rsA * 4, o5 = rsA * 5;
        for (int p = 0; p < kc; p++)
        {
            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = vecs > 1 ? Vector256.Load(b + 8) : default;
            { Vector256<float> a0 = Vector256.Create(a[0]); c00 = Fma.MultiplyAdd(a0, b0, c00); if (vecs > 1) c01 = Fma.MultiplyAdd(a0, b1, c01); }
            if (rows > 1) { Vector256<float> a1 = Vector256.Create(a[rsA]); c10 = Fma.MultiplyAdd(a1, b0, c10); if (vecs > 1) c11 = Fma.MultiplyAdd(a1, b1, c11); }
            if (rows > 2) { Vector256<float> a2 = Vector256.Create(a[o2]); c20 = Fma.MultiplyAdd(a2, b0, c20); if (vecs > 1) c21 = Fma.MultiplyAdd(a2, b1, c21); }
            if (rows > 3) { Vector256<float> a3 = Vector256.Create(a[o3]); c30 = Fma.MultiplyAdd(a3, b0, c30); if (vecs > 1) c31 = Fma.MultiplyAdd(a3, b1, c31); }
            if (rows > 4) { Vector256<float> a4 = Vector256.Create(a[o4]); c40 = Fma.MultiplyAdd(a4, b0, c40); if (vecs > 1) c41 = Fma.MultiplyAdd(a4, b1, c41); }
            if (rows > 5) { Vector256<float> a5 = Vector256.Create(a[o5]); c50 = Fma.MultiplyAdd(a5, b0, c50); if (vecs > 1) c51 = Fma.MultiplyAdd(a5, b1, c51); }
            a += psA;
            b += psB;
        }

        { float* q = c; c00.Store(q); if (vecs > 1) c01.Store(q + 8); }
        if (rows > 1) { float* q = c + ldc; c10.Store(q); if (vecs > 1) c11.Store(q + 8); }
        if (rows > 2) { float* q = c + 2 * ldc; c20.Store(q); if (vecs > 1) c21.Store(q + 8); }
        if (rows > 3) { float* q = c + 3 * ldc; c30.Store(q); if (vecs > 1) c31.Store(q + 8); }
        if (rows > 4) { float* q = c + 4 * ldc; c40.Store(q); if (vecs > 1) c41.Store(q + 8); }
        if (rows > 5) { float* q = c + 5 * ldc; c50.Store(q); if (vecs > 1) c51.Store(q + 8); }
    }
}
