using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Pot.Learning.Kernels;

/// <summary>
/// Forward and backward kernels of the layers the models use, each with one canonical evaluation
/// order (docs/engine.md lists them; the rule is repeated next to each kernel). Every reduction is
/// a left-to-right chain in a stated order; SIMD is used only across independent outputs, and the
/// per-lane operations equal the scalar ones, so results do not depend on SIMD width or threads.
/// Backward kernels <em>add</em> into gradient buffers that the caller zeroed, in a fixed order.
/// </summary>
public static unsafe class Layers
{
    private const int RowsPerTask = 16;

    [ThreadStatic]
    private static float[]? attentionScratch;

    /// <summary>
    /// Token + position embedding: out[b,t,c] = wte[tok[b,t], c] + wpe[t, c] (one rounding).
    /// </summary>
    /// <param name="output">[B·T, C] output.</param>
    /// <param name="tokens">B·T token ids, each in [0, V).</param>
    /// <param name="wte">[V, C] token embedding.</param>
    /// <param name="wpe">[T_max, C] position embedding.</param>
    /// <param name="batch">B.</param>
    /// <param name="seqLen">T.</param>
    /// <param name="channels">C.</param>
    public static void EncoderForward(float* output, ReadOnlySpan<int> tokens, float* wte, float* wpe, int batch, int seqLen, int channels)
    {
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < seqLen; t++)
            {
                float* o = output + ((long)b * seqLen + t) * channels;
                float* e = wte + (long)tokens[b * seqLen + t] * channels;
                float* p = wpe + (long)t * channels;
                for (int c = 0; c < channels; c++)
                {
                    o[c] = e[c] + p[c];
                }
            }
        }
    }

    /// <summary>
    /// Embedding backward. Canonical order: for every channel c, positions n = 0..B·T-1 are visited in
    /// increasing order and <c>dwte[tok[n], c] += dout[n, c]</c>, <c>dwpe[n mod T, c] += dout[n, c]</c>.
    /// Threads split channels only.
    /// </summary>
    /// <param name="dwte">[V, C] gradient, accumulated into.</param>
    /// <param name="dwpe">[T_max, C] gradient, accumulated into.</param>
    /// <param name="dout">[B·T, C] upstream gradient.</param>
    /// <param name="tokens">B·T token ids.</param>
    /// <param name="batch">B.</param>
    /// <param name="seqLen">T.</param>
    /// <param name="channels">C.</param>
    /// <param name="parallelism">Threads.</param>
    public static void EncoderBackward(float* dwte, float* dwpe, float* dout, int[] tokens, int batch, int seqLen, int channels, Parallelism parallelism)
    {
        const int channelsPerTask = 16;
        int tasks = (channels + channelsPerTask - 1) / channelsPerTask;
        nint dwteP = (nint)dwte, dwpeP = (nint)dwpe, doutP = (nint)dout;
        parallelism.For(tasks, task =>
        {
            float* gte = (float*)dwteP, gpe = (float*)dwpeP, d = (float*)doutP;
            int c0 = task * channelsPerTask, c1 = Math.Min(channels, c0 + channelsPerTask);
            for (int n = 0; n < batch * seqLen; n++)
            {
                float* dn = d + (long)n * channels;
                float* te = gte + (long)tokens[n] * channels;
                float* pe = gpe + (long)(n % seqLen) * channels;
                for (int c = c0; c < c1; c++)
                {
                    te[c] += dn[c];
                    pe[c] += dn[c];
                }
            }
        });
    }

    /// <summary>
    /// LayerNorm forward (ε = 1e-5). Per row: mean = (x₀ + x₁ + … + x_{C-1}) / C as a left-to-right
    /// sum; var = (Σ (x_c − mean)², left to right, each term by fma) / C; rstd = 1 / √(var + ε);
    /// out_c = fma((x_c − mean) · rstd, w_c, b_c).
    /// </summary>
    /// <param name="output">[N, C] output.</param>
    /// <param name="mean">[N] saved means.</param>
    /// <param name="rstd">[N] saved reciprocal standard deviations.</param>
    /// <param name="input">[N, C] input.</param>
    /// <param name="weight">[C] scale.</param>
    /// <param name="bias">[C] shift.</param>
    /// <param name="rows">N.</param>
    /// <param name="channels">C.</param>
    /// <param name="parallelism">Threads (split rows).</param>
    public static void LayerNormForward(float* output, float* mean, float* rstd, float* input, float* weight, float* bias, int rows, int channels, Parallelism parallelism)
    {
        nint oP = (nint)output, mP = (nint)mean, rP = (nint)rstd, iP = (nint)input, wP = (nint)weight, bP = (nint)bias;
        parallelism.For((rows + RowsPerTask - 1) / RowsPerTask, task =>
        {
            int r1 = Math.Min(rows, (task + 1) * RowsPerTask);
            for (int r = task * RowsPerTask; r < r1; r++)
            {
                float* x = (float*)iP + (long)r * channels;
                float* o = (float*)oP + (long)r * channels;
                float sum = 0f;
                for (int c = 0; c < channels; c++)
                {
                    sum += x[c];
                }

                float m = sum / channels;
                float v = 0f;
                for (int c = 0; c < channels; c++)
                {
                    float dx = x[c] - m;
                    v = MathF.FusedMultiplyAdd(dx, dx, v);
                }

                v /= channels;
                float s = 1f / MathF.Sqrt(v + 1e-5f);
                float* w = (float*)wP, bb = (float*)bP;
                for (int c = 0; c < channels; c++)
                {
                    o[c] = MathF.FusedMultiplyAdd((x[c] - m) * s, w[c], bb[c]);
                }

                ((float*)mP)[r] = m;
                ((float*)rP)[r] = s;
            }
        });
    }

    /// <summary>
    /// LayerNorm backward. Per row, with n_c = (x_c − mean)·rstd and g_c = w_c·dout_c:
    /// a = (Σ_c g_c, left to right) / C; b = (Σ_c g_c·n_c, fma chain, left to right) / C;
    /// dinp_c += ((g_c − a) − n_c·b)·rstd. Then for every channel, rows in increasing order:
    /// dw_c = fma(n_c, dout_c, dw_c); db_c += dout_c.
    /// </summary>
    /// <param name="dinp">[N, C] input gradient, accumulated into.</param>
    /// <param name="dweight">[C] accumulated.</param>
    /// <param name="dbias">[C] accumulated.</param>
    /// <param name="dout">[N, C] upstream gradient.</param>
    /// <param name="input">[N, C] forward input.</param>
    /// <param name="weight">[C] forward scale.</param>
    /// <param name="mean">[N] saved means.</param>
    /// <param name="rstd">[N] saved rstd.</param>
    /// <param name="rows">N.</param>
    /// <param name="channels">C.</param>
    /// <param name="parallelism">Threads.</param>
    public static void LayerNormBackward(float* dinp, float* dweight, float* dbias, float* dout, float* input, float* weight, float* mean, float* rstd, int rows, int channels, Parallelism parallelism)
    {
        nint diP = (nint)dinp, dwP = (nint)dweight, dbP = (nint)dbias, doP = (nint)dout, iP = (nint)input, wP = (nint)weight, mP = (nint)mean, rP = (nint)rstd;
        parallelism.For((rows + RowsPerTask - 1) / RowsPerTask, task =>
        {
            int r1 = Math.Min(rows, (task + 1) * RowsPerTask);
            float* w = (float*)wP;
            for (int r = task * RowsPerTask; r < r1; r++)
            {
                float* x = (float*)iP + (long)r * channels;
                float* d = (float*)doP + (long)r * channels;
                float* di = (float*)diP + (long)r * channels;
                float m = ((float*)mP)[r], s = ((float*)rP)[r];
                float sumG = 0f, sumGn = 0f;
                for (int c = 0; c < channels; c++)
                {
                    float n = (x[c] - m) * s;
                    float g = w[c] * d[c];
                    sumG += g;
                    sumGn = MathF.FusedMultiplyAdd(g, n, sumGn);
                }

                float a = sumG / channels, bq = sumGn / channels;
                for (int c = 0; c < channels; c++)
                {
                    float n = (x[c] - m) * s;
                    float g = w[c] * d[c];
                    di[c] += ((g - a) - n * bq) * s;
                }
            }
        });

        const int channelsPerTask = 16;
        parallelism.For((channels + channelsPerTask - 1) / channelsPerTask, task =>
        {
            int c0 = task * channelsPerTask, c1 = Math.Min(channels, c0 + channelsPerTask);
            float* dw = (float*)dwP, db = (float*)dbP;
            for (int r = 0; r < rows; r++)
            {
                float* x = (float*)iP + (long)r * channels;
                float* d = (float*)doP + (long)r * channels;
                float m = ((float*)mP)[r], s = ((float*)rP)[r];
                for (int c = c0; c < c1; c++)
                {
                    float n = (x[c] - m) * s;
                    dw[c] = MathF.FusedMultiplyAdd(n, d[c], dw[c]);
                    db[c] += d[c];
                }
            }
        });
    }

    /// <summary>
    /// Bias gradient of a linear layer: for every output column j, rows i = 0..N-1 in increasing
    /// order, <c>dbias[j] += dout[i, j]</c>. Threads split columns.
    /// </summary>
    /// <param name="dbias">[M] accumulated.</param>
    /// <param name="dout">[N, M] upstream gradient.</param>
    /// <param name="rows">N.</param>
    /// <param name="columns">M.</param>
    /// <param name="parallelism">Threads.</param>
    public static void BiasBackward(float* dbias, float* dout, int rows, int columns, Parallelism parallelism)
    {
        const int columnsPerTask = 64;
        nint dbP = (nint)dbias, doP = (nint)dout;
        parallelism.For((columns + columnsPerTask - 1) / columnsPerTask, task =>
        {
            int c0 = task * columnsPerTask, c1 = Math.Min(columns, c0 + columnsPerTask);
            float* db = (float*)dbP;
            for (int r = 0; r < rows; r++)
            {
                float* d = (float*)doP + (long)r * columns;
                for (int c = c0; c < c1; c++)
                {
                    db[c] += d[c];
                }
            }
        });
    }

    private const float GeluScale = 0.7978845608028654f; // √(2/π)
    private const float GeluCubic = 0.044715f;
    private const float GeluCubic3 = 0.134145f;           // 3 · 0.044715

    /// <summary>
    /// GELU, tanh form: u = √(2/π)·fma(0.044715, x³, x) with x³ = (x·x)·x; y = (0.5·x)·(1 + tanh u),
    /// with the engine's <see cref="DetMath.Tanh(float)"/>. Elementwise; the vector path performs the
    /// same operations per lane as the scalar tail.
    /// </summary>
    /// <param name="output">Output.</param>
    /// <param name="input">Input.</param>
    /// <param name="count">Number of elements.</param>
    /// <param name="parallelism">Threads.</param>
    public static void GeluForward(float* output, float* input, long count, Parallelism parallelism)
    {
        nint oP = (nint)output, iP = (nint)input;
        ForChunks(count, parallelism, (start, end) =>
        {
            float* o = (float*)oP, x = (float*)iP;
            long i = start;
            if (Vector256.IsHardwareAccelerated)
            {
                var half = Vector256.Create(0.5f);
                for (; i + 8 <= end; i += 8)
                {
                    var v = Vector256.Load(x + i);
                    var cube = v * v * v;
                    var u = Vector256.Create(GeluScale) * Vector256.FusedMultiplyAdd(Vector256.Create(GeluCubic), cube, v);
                    ((half * v) * (Vector256<float>.One + DetMath.Tanh(u))).Store(o + i);
                }
            }

            for (; i < end; i++)
            {
                float v = x[i];
                float cube = v * v * v;
                float u = GeluScale * MathF.FusedMultiplyAdd(GeluCubic, cube, v);
                o[i] = (0.5f * v) * (1f + DetMath.Tanh(u));
            }
        });
    }

    /// <summary>
    /// GELU backward: with u and t = tanh u as in the forward, s = fma(−t, t, 1),
    /// g = 0.5·(1 + t) + ((0.5·x)·s)·(√(2/π)·fma(0.134145, x·x, 1)); dinp = fma(g, dout, dinp).
    /// </summary>
    /// <param name="dinp">Input gradient, accumulated into.</param>
    /// <param name="input">Forward input.</param>
    /// <param name="dout">Upstream gradient.</param>
    /// <param name="count">Number of elements.</param>
    /// <param name="parallelism">Threads.</param>
    public static void GeluBackward(float* dinp, float* input, float* dout, long count, Parallelism parallelism)
    {
        nint diP = (nint)dinp, iP = (nint)input, doP = (nint)dout;
        ForChunks(count, parallelism, (start, end) =>
        {
            float* di = (float*)diP, x = (float*)iP, d = (float*)doP;
            long i = start;
            if (Vector256.IsHardwareAccelerated)
            {
                var half = Vector256.Create(0.5f);
                var one = Vector256<float>.One;
                for (; i + 8 <= end; i += 8)
                {
                    var v = Vector256.Load(x + i);
                    var sq = v * v;
                    var cube = sq * v;
                    var u = Vector256.Create(GeluScale) * Vector256.FusedMultiplyAdd(Vector256.Create(GeluCubic), cube, v);
                    var t = DetMath.Tanh(u);
                    var s = Vector256.FusedMultiplyAdd(-t, t, one);
                    var g = half * (one + t) + ((half * v) * s) * (Vector256.Create(GeluScale) * Vector256.FusedMultiplyAdd(Vector256.Create(GeluCubic3), sq, one));
                    Vector256.FusedMultiplyAdd(g, Vector256.Load(d + i), Vector256.Load(di + i)).Store(di + i);
                }
            }

            for (; i < end; i++)
            {
                float v = x[i];
                float sq = v * v;
                float cube = sq * v;
                float u = GeluScale * MathF.FusedMultiplyAdd(GeluCubic, cube, v);
                float t = DetMath.Tanh(u);
                float s = MathF.FusedMultiplyAdd(-t, t, 1f);
                float g = 0.5f * (1f + t) + ((0.5f * v) * s) * (GeluScale * MathF.FusedMultiplyAdd(GeluCubic3, sq, 1f));
                di[i] = MathF.FusedMultiplyAdd(g, d[i], di[i]);
            }
        });
    }

    /// <summary>Elementwise sum out = a + b (one rounding per element).</summary>
    /// <param name="output">Output (may alias neither input).</param>
    /// <param name="a">First addend.</param>
    /// <param name="b">Second addend.</param>
    /// <param name="count">Number of elements.</param>
    public static void Add(float* output, float* a, float* b, long count)
    {
        for (long i = 0; i < count; i++)
        {
            output[i] = a[i] + b[i];
        }
    }

    /// <summary>Elementwise accumulate dst += src (one rounding per element).</summary>
    /// <param name="destination">Accumulator.</param>
    /// <param name="source">Values to add.</param>
    /// <param name="count">Number of elements.</param>
    public static void AddInto(float* destination, float* source, long count)
    {
        for (long i = 0; i < count; i++)
        {
            destination[i] += source[i];
        }
    }

    /// <summary>
    /// Causal multi-head self-attention forward (nanoGPT layout: qkv row = [q | k | v], head h owns
    /// channels [h·hs, (h+1)·hs)). For every (b, h, t) and key position t₂ ≤ t:
    /// score = (fma chain over i = 0..hs-1 of q[t,i]·k[t₂,i], from +0) · (1/√hs);
    /// m = max over t₂ ≤ t; e = exp(score − m); z = Σ e left to right over t₂; p = e / z;
    /// out[t,i] = fma chain over t₂ = 0..t of p[t,t₂]·v[t₂,i], from +0. Threads split (b, h).
    /// </summary>
    /// <param name="output">[B·T, C] attention output (before the projection).</param>
    /// <param name="probs">[B, NH, T, T] saved probabilities (upper triangle left zero).</param>
    /// <param name="qkv">[B·T, 3C] input.</param>
    /// <param name="batch">B.</param>
    /// <param name="seqLen">T.</param>
    /// <param name="channels">C.</param>
    /// <param name="heads">NH (divides C).</param>
    /// <param name="parallelism">Threads.</param>
    public static void AttentionForward(float* output, float* probs, float* qkv, int batch, int seqLen, int channels, int heads, Parallelism parallelism)
    {
        int hs = channels / heads;
        float scale = 1f / MathF.Sqrt(hs);
        nint oP = (nint)output, pP = (nint)probs, qP = (nint)qkv;
        parallelism.For(batch * heads, task =>
        {
            int b = task / heads, h = task % heads;
            int c3 = 3 * channels;
            float* baseRow = (float*)qP + (long)b * seqLen * c3;
            float* pr = (float*)pP + ((long)b * heads + h) * seqLen * seqLen;
            Span<float> kT = hs * seqLen <= 16384 ? stackalloc float[hs * seqLen] : new float[hs * seqLen];
            // K of this head transposed to [hs, T] so scores for consecutive keys sit in SIMD lanes.
            for (int t2 = 0; t2 < seqLen; t2++)
            {
                float* k = baseRow + (long)t2 * c3 + channels + h * hs;
                for (int i = 0; i < hs; i++)
                {
                    kT[i * seqLen + t2] = k[i];
                }
            }

            fixed (float* kt = kT)
            {
                for (int t = 0; t < seqLen; t++)
                {
                    float* q = baseRow + (long)t * c3 + h * hs;
                    float* row = pr + (long)t * seqLen;
                    ChainBroadcastRows(row, q, kt, hs, seqLen, t + 1);
                    float m = float.NegativeInfinity;
                    for (int t2 = 0; t2 <= t; t2++)
                    {
                        row[t2] *= scale;
                        m = MathF.Max(m, row[t2]);
                    }

                    float z = 0f;
                    for (int t2 = 0; t2 <= t; t2++)
                    {
                        float e = DetMath.Exp(row[t2] - m);
                        row[t2] = e;
                        z += e;
                    }

                    for (int t2 = 0; t2 <= t; t2++)
                    {
                        row[t2] /= z;
                    }

                    for (int t2 = t + 1; t2 < seqLen; t2++)
                    {
                        row[t2] = 0f;
                    }

                    // out[t, :] = Σ_{t2 ≤ t} p[t,t2] · v[t2, :], chain over t2, lanes over i.
                    float* o = (float*)oP + ((long)b * seqLen + t) * channels + h * hs;
                    ChainScaledRows(o, row, baseRow + 2 * channels + h * hs, c3, 0, t + 1, hs, accumulate: false);
                }
            }
        });
    }

    /// <summary>
    /// Attention backward, per (b, h), with s = 1/√hs. Canonical orders (all chains from +0 unless
    /// accumulating into an input gradient):
    /// dp[t,t₂] = fma chain over i of dout[t,i]·v[t₂,i];
    /// dv[t₂,i] += fma chain over t = t₂..T-1 of p[t,t₂]·dout[t,i];
    /// ds[t,t₂] = p[t,t₂]·(dp[t,t₂] − Σ_{j≤t} p[t,j]·dp[t,j]) · s, the sum an fma chain over j;
    /// dq[t,i] += fma chain over t₂ = 0..t of ds[t,t₂]·k[t₂,i];
    /// dk[t₂,i] += fma chain over t = t₂..T-1 of ds[t,t₂]·q[t,i].
    /// (The chains are computed from +0 in scratch and then added, one rounding, into dqkv.)
    /// </summary>
    /// <param name="dqkv">[B·T, 3C] input gradient, accumulated into.</param>
    /// <param name="dout">[B·T, C] upstream gradient of the attention output.</param>
    /// <param name="qkv">[B·T, 3C] forward input.</param>
    /// <param name="probs">[B, NH, T, T] forward probabilities.</param>
    /// <param name="batch">B.</param>
    /// <param name="seqLen">T.</param>
    /// <param name="channels">C.</param>
    /// <param name="heads">NH.</param>
    /// <param name="parallelism">Threads.</param>
    public static void AttentionBackward(float* dqkv, float* dout, float* qkv, float* probs, int batch, int seqLen, int channels, int heads, Parallelism parallelism)
    {
        int hs = channels / heads;
        float scale = 1f / MathF.Sqrt(hs);
        nint dqP = (nint)dqkv, doP = (nint)dout, qP = (nint)qkv, pP = (nint)probs;
        parallelism.For(batch * heads, task =>
        {
            int b = task / heads, h = task % heads;
            int c3 = 3 * channels;
            float* baseRow = (float*)qP + (long)b * seqLen * c3;
            float* dBase = (float*)dqP + (long)b * seqLen * c3;
            float* doBase = (float*)doP + (long)b * seqLen * channels + h * hs;
            float* pr = (float*)pP + ((long)b * heads + h) * seqLen * seqLen;
            int scratchLength = seqLen * seqLen * 2 + hs * seqLen * 2 + hs;
            if (attentionScratch is null || attentionScratch.Length < scratchLength)
            {
                attentionScratch = new float[scratchLength];
            }

            // Every scratch element read below is written first in this task, so reusing the
            // thread's buffer cannot carry values from one (b, h) to another.
            fixed (float* s0 = attentionScratch)
            {
                float* ds = s0;                          // [T, T] dp then ds
                float* pT = ds + seqLen * seqLen;        // [T, T] p transposed: pT[t2, t]
                float* vT = pT + seqLen * seqLen;        // [hs, T]
                float* acc = vT + hs * seqLen;           // [hs, T] scratch rows
                float* tmp = acc + hs * seqLen;          // [hs]
                for (int t2 = 0; t2 < seqLen; t2++)
                {
                    float* v = baseRow + (long)t2 * c3 + 2 * channels + h * hs;
                    for (int i = 0; i < hs; i++)
                    {
                        vT[i * seqLen + t2] = v[i];
                    }
                }

                for (int t = 0; t < seqLen; t++)
                {
                    float* prow = pr + (long)t * seqLen;
                    float* dsrow = ds + (long)t * seqLen;
                    ChainBroadcastRows(dsrow, doBase + (long)t * channels, vT, hs, seqLen, t + 1);
                    float dot = 0f;
                    for (int j = 0; j <= t; j++)
                    {
                        dot = MathF.FusedMultiplyAdd(prow[j], dsrow[j], dot);
                    }

                    for (int j = 0; j <= t; j++)
                    {
                        dsrow[j] = prow[j] * (dsrow[j] - dot) * scale;
                    }

                    for (int j = t + 1; j < seqLen; j++)
                    {
                        dsrow[j] = 0f;
                    }
                }

                // dq[t, :] = Σ_{t2 ≤ t} ds[t,t2] · k[t2, :]
                for (int t = 0; t < seqLen; t++)
                {
                    ChainScaledRows(tmp, ds + (long)t * seqLen, baseRow + channels + h * hs, c3, 0, t + 1, hs, accumulate: false);
                    float* dq = dBase + (long)t * c3 + h * hs;
                    for (int i = 0; i < hs; i++)
                    {
                        dq[i] += tmp[i];
                    }
                }

                // dk[t2, :] = Σ_{t ≥ t2} ds[t,t2] · q[t, :]; dv[t2, :] = Σ_{t ≥ t2} p[t,t2] · dout[t, :]
                for (int t = 0; t < seqLen; t++)
                {
                    for (int t2 = 0; t2 < seqLen; t2++)
                    {
                        pT[(long)t2 * seqLen + t] = ds[(long)t * seqLen + t2];
                    }
                }

                for (int t2 = 0; t2 < seqLen; t2++)
                {
                    ChainScaledRows(tmp, pT + (long)t2 * seqLen, baseRow + h * hs, c3, t2, seqLen, hs, accumulate: false);
                    float* dk = dBase + (long)t2 * c3 + channels + h * hs;
                    for (int i = 0; i < hs; i++)
                    {
                        dk[i] += tmp[i];
                    }
                }

                for (int t = 0; t < seqLen; t++)
                {
                    for (int t2 = 0; t2 < seqLen; t2++)
                    {
                        pT[(long)t2 * seqLen + t] = pr[(long)t * seqLen + t2];
                    }
                }

                for (int t2 = 0; t2 < seqLen; t2++)
                {
                    ChainScaledRows(tmp, pT + (long)t2 * seqLen, doBase, channels, t2, seqLen, hs, accumulate: false);
                    float* dv = dBase + (long)t2 * c3 + 2 * channels + h * hs;
                    for (int i = 0; i < hs; i++)
                    {
                        dv[i] += tmp[i];
                    }
                }
            }
        });
    }

    /// <summary>
    /// out[j] = fma chain over i = 0..n-1 of x[i]·rows[i, j], from +0, for j in [0, count); lanes run
    /// over j (independent outputs). rows has row stride <paramref name="stride"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ChainBroadcastRows(float* output, float* x, float* rows, int n, int stride, int count)
    {
        int j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; j + 8 <= count; j += 8)
            {
                var acc = Vector256<float>.Zero;
                for (int i = 0; i < n; i++)
                {
                    acc = Vector256.FusedMultiplyAdd(Vector256.Create(x[i]), Vector256.Load(rows + (long)i * stride + j), acc);
                }

                acc.Store(output + j);
            }
        }

        for (; j < count; j++)
        {
            float acc = 0f;
            for (int i = 0; i < n; i++)
            {
                acc = MathF.FusedMultiplyAdd(x[i], rows[(long)i * stride + j], acc);
            }

            output[j] = acc;
        }
    }

    /// <summary>
    /// out[i] = fma chain over r = from..to-1 of w[r]·rows[r, i] for i in [0, width), starting from
    /// +0 (or from out[i] when accumulating); lanes run over i.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ChainScaledRows(float* output, float* w, float* rows, int stride, int from, int to, int width, bool accumulate)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= width; i += 8)
            {
                var acc = accumulate ? Vector256.Load(output + i) : Vector256<float>.Zero;
                for (int r = from; r < to; r++)
                {
                    acc = Vector256.FusedMultiplyAdd(Vector256.Create(w[r]), Vector256.Load(rows + (long)r * stride + i), acc);
                }

                acc.Store(output + i);
            }
        }

        for (; i < width; i++)
        {
            float acc = accumulate ? output[i] : 0f;
            for (int r = from; r < to; r++)
            {
                acc = MathF.FusedMultiplyAdd(w[r], rows[(long)r * stride + i], acc);
            }

            output[i] = acc;
        }
    }

    /// <summary>
    /// Softmax cross-entropy forward and backward in one pass. Per row with target y ≥ 0:
    /// m = max logit; z = Σ exp(l_j − m) left to right; loss = (m + log z) − l_y;
    /// dlogits_j = (exp(l_j − m)/z − [j = y]) · (1/count). Rows with target −1 contribute no loss
    /// and zero gradient. Returns the mean loss: Σ loss over counted rows, left to right, divided by count.
    /// </summary>
    /// <param name="dlogits">[N, V] gradient output (overwritten), or null for forward only.</param>
    /// <param name="logits">[N, V] logits.</param>
    /// <param name="targets">N targets, −1 for "no loss".</param>
    /// <param name="rows">N.</param>
    /// <param name="vocab">V.</param>
    /// <param name="rowLosses">[N] per-row losses (0 for ignored rows).</param>
    /// <param name="parallelism">Threads (split rows; the mean is summed afterwards in row order).</param>
    /// <returns>Mean loss over rows with a target, or 0 when there are none.</returns>
    public static float CrossEntropy(float* dlogits, float* logits, ReadOnlySpan<int> targets, int rows, int vocab, float[] rowLosses, Parallelism parallelism)
    {
        int count = 0;
        foreach (int y in targets[..rows])
        {
            if (y >= vocab || y < -1)
            {
                throw new ArgumentOutOfRangeException(nameof(targets), $"target {y} is outside [-1, {vocab})");
            }

            if (y >= 0)
            {
                count++;
            }
        }

        float inv = count == 0 ? 0f : 1f / count;
        nint dP = (nint)dlogits, lP = (nint)logits;
        int[] tg = targets.ToArray();
        parallelism.For((rows + RowsPerTask - 1) / RowsPerTask, task =>
        {
            int r1 = Math.Min(rows, (task + 1) * RowsPerTask);
            for (int r = task * RowsPerTask; r < r1; r++)
            {
                float* l = (float*)lP + (long)r * vocab;
                float* d = dP == 0 ? null : (float*)dP + (long)r * vocab;
                int y = tg[r];
                if (y < 0)
                {
                    rowLosses[r] = 0f;
                    if (d != null)
                    {
                        new Span<float>(d, vocab).Clear();
                    }

                    continue;
                }

                float m = float.NegativeInfinity;
                for (int j = 0; j < vocab; j++)
                {
                    m = MathF.Max(m, l[j]);
                }

                float z = 0f;
                for (int j = 0; j < vocab; j++)
                {
                    z += DetMath.Exp(l[j] - m);
                }

                rowLosses[r] = (m + DetMath.Log(z)) - l[y];
                if (d != null)
                {
                    for (int j = 0; j < vocab; j++)
                    {
                        float p = DetMath.Exp(l[j] - m) / z;
                        d[j] = (p - (j == y ? 1f : 0f)) * inv;
                    }
                }
            }
        });

        float total = 0f;
        for (int r = 0; r < rows; r++)
        {
            total += rowLosses[r];
        }

        return count == 0 ? 0f : total / count;
    }

    private static void ForChunks(long count, Parallelism parallelism, Action<long, long> body)
    {
        const long chunk = 16384;
        int tasks = (int)((count + chunk - 1) / chunk);
        parallelism.For(tasks, t => body(t * chunk, Math.Min(count, (t + 1) * chunk)));
    }
}
