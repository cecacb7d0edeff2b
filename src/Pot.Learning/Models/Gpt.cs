using Pot.Learning.Kernels;
using Pot.Learning.Randomness;

namespace Pot.Learning.Models;

/// <summary>
/// A GPT decoder with the structure and parameter names of nanoGPT's <c>GPT</c>: learned token and
/// position embeddings, pre-LayerNorm blocks with bias (causal self-attention, GELU-tanh MLP of 4×
/// width), a final LayerNorm and an output head tied to the token embedding. Forward and backward
/// are explicit (llm.c style); every reduction follows the canonical orders of <see cref="Gemm"/>
/// and <see cref="Layers"/>, so a step gives the same bits on every machine.
/// </summary>
public sealed unsafe class Gpt
{
    private readonly ParameterTensor[] tensors;
    private Activations? acts;

    /// <summary>Creates a model with zeroed parameters; call <see cref="Initialize"/> or load values.</summary>
    /// <param name="config">Sizes.</param>
    public Gpt(GptConfig config)
    {
        config.Validate();
        Config = config;
        Parameters = new ParameterSet(ParameterNames(config));
        tensors = Parameters.Tensors.ToArray();
    }

    /// <summary>The sizes.</summary>
    public GptConfig Config { get; }

    /// <summary>Parameters and gradients, nanoGPT names, canonical order.</summary>
    public ParameterSet Parameters { get; }

    /// <summary>Per-position losses of the last forward pass with targets (0 where ignored).</summary>
    public ReadOnlySpan<float> RowLosses => acts is null ? default : acts.RowLosses.AsSpan(0, acts.Batch * acts.SeqLen);

    /// <summary>
    /// The canonical parameter order and names, identical to nanoGPT's <c>named_parameters()</c>
    /// (the tied <c>lm_head.weight</c> is the same tensor as <c>transformer.wte.weight</c> and is not listed).
    /// </summary>
    /// <param name="c">Sizes.</param>
    /// <returns>(name, shape) pairs.</returns>
    public static IEnumerable<(string Name, int[] Shape)> ParameterNames(GptConfig c)
    {
        int e = c.Embed;
        yield return ("transformer.wte.weight", [c.VocabSize, e]);
        yield return ("transformer.wpe.weight", [c.BlockSize, e]);
        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"transformer.h.{l}.";
            yield return (p + "ln_1.weight", [e]);
            yield return (p + "ln_1.bias", [e]);
            yield return (p + "attn.c_attn.weight", [3 * e, e]);
            yield return (p + "attn.c_attn.bias", [3 * e]);
            yield return (p + "attn.c_proj.weight", [e, e]);
            yield return (p + "attn.c_proj.bias", [e]);
            yield return (p + "ln_2.weight", [e]);
            yield return (p + "ln_2.bias", [e]);
            yield return (p + "mlp.c_fc.weight", [4 * e, e]);
            yield return (p + "mlp.c_fc.bias", [4 * e]);
            yield return (p + "mlp.c_proj.weight", [e, 4 * e]);
            yield return (p + "mlp.c_proj.bias", [e]);
        }

        yield return ("transformer.ln_f.weight", [e]);
        yield return ("transformer.ln_f.bias", [e]);
    }

    /// <summary>
    /// nanoGPT's initialisation: every weight matrix and embedding ~ N(0, 0.02²), the residual
    /// projections (<c>c_proj.weight</c>) ~ N(0, (0.02/√(2·layers))²), biases 0, LayerNorm weights 1.
    /// Normal values come from <see cref="Philox.Normal"/> with key DeriveKey(seed, "init"),
    /// stream = tensor index in canonical order, index = element index.
    /// </summary>
    /// <param name="seed">The seed.</param>
    public void Initialize(ulong seed)
    {
        ulong key = Philox.DeriveKey(seed, "init");
        float projStd = 0.02f / MathF.Sqrt(2f * Config.Layers);
        for (int ti = 0; ti < tensors.Length; ti++)
        {
            var t = tensors[ti];
            var values = Parameters.ValuesOf(t);
            if (t.Name.EndsWith(".bias", StringComparison.Ordinal))
            {
                values.Clear();
            }
            else if (t.Name.Contains(".ln_", StringComparison.Ordinal))
            {
                values.Fill(1f);
            }
            else
            {
                float std = t.Name.EndsWith("c_proj.weight", StringComparison.Ordinal) ? projStd : 0.02f;
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = std * Philox.Normal(key, (ulong)ti, (ulong)i);
                }
            }
        }
    }

    private float* P(int index) => Parameters.Values.Pointer + tensors[index].Offset;

    private float* G(int index) => Parameters.Gradients.Pointer + tensors[index].Offset;

    private static int LayerBase(int layer) => 2 + 12 * layer;

    /// <summary>
    /// Runs the forward pass on a batch. With targets, computes the mean cross-entropy over the
    /// positions whose target is not −1 and returns it; without, returns 0 and leaves the logits
    /// for <see cref="LogitsAt"/>.
    /// </summary>
    /// <param name="tokens">B·T token ids in [0, V).</param>
    /// <param name="targets">B·T next-token targets (−1 = no loss), or null.</param>
    /// <param name="batch">B.</param>
    /// <param name="seqLen">T (≤ block size).</param>
    /// <param name="parallelism">Threads.</param>
    /// <returns>Mean loss, or 0 without targets.</returns>
    public float Forward(ReadOnlySpan<int> tokens, ReadOnlySpan<int> targets, int batch, int seqLen, Parallelism parallelism)
    {
        var c = Config;
        if (batch < 1 || seqLen < 1 || seqLen > c.BlockSize)
        {
            throw new ArgumentException($"batch {batch} × sequence {seqLen} must be positive with sequence ≤ block size {c.BlockSize}");
        }

        if (tokens.Length != batch * seqLen || (!targets.IsEmpty && targets.Length != batch * seqLen))
        {
            throw new ArgumentException($"expected {batch * seqLen} tokens and targets, got {tokens.Length} and {targets.Length}");
        }

        foreach (int tok in tokens)
        {
            if ((uint)tok >= (uint)c.VocabSize)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {tok} is outside the vocabulary [0, {c.VocabSize})");
            }
        }

        if (acts is null || acts.Batch != batch || acts.SeqLen != seqLen)
        {
            acts = new Activations(c, batch, seqLen);
        }

        var a = acts;
        tokens.CopyTo(a.Tokens);
        a.HasTargets = !targets.IsEmpty;
        if (a.HasTargets)
        {
            targets.CopyTo(a.Targets);
        }

        int n = batch * seqLen, e = c.Embed;
        Layers.EncoderForward(a.Encoded.Pointer, a.Tokens, P(0), P(1), batch, seqLen, e);
        float* residual = a.Encoded.Pointer;
        for (int l = 0; l < c.Layers; l++)
        {
            var L = a.Layer[l];
            int pb = LayerBase(l);
            Layers.LayerNormForward(L.Ln1.Pointer, L.Ln1Mean.Pointer, L.Ln1Rstd.Pointer, residual, P(pb), P(pb + 1), n, e, parallelism);
            Gemm.Multiply(false, true, n, 3 * e, e, L.Ln1.Pointer, e, P(pb + 2), e, L.Qkv.Pointer, 3 * e, P(pb + 3), false, parallelism);
            Layers.AttentionForward(L.Atty.Pointer, L.Att.Pointer, L.Qkv.Pointer, batch, seqLen, e, c.Heads, parallelism);
            Gemm.Multiply(false, true, n, e, e, L.Atty.Pointer, e, P(pb + 4), e, L.AttProj.Pointer, e, P(pb + 5), false, parallelism);
            Layers.Add(L.Residual2.Pointer, residual, L.AttProj.Pointer, (long)n * e);
            Layers.LayerNormForward(L.Ln2.Pointer, L.Ln2Mean.Pointer, L.Ln2Rstd.Pointer, L.Residual2.Pointer, P(pb + 6), P(pb + 7), n, e, parallelism);
            Gemm.Multiply(false, true, n, 4 * e, e, L.Ln2.Pointer, e, P(pb + 8), e, L.Fch.Pointer, 4 * e, P(pb + 9), false, parallelism);
            Layers.GeluForward(L.FchGelu.Pointer, L.Fch.Pointer, (long)n * 4 * e, parallelism);
            Gemm.Multiply(false, true, n, e, 4 * e, L.FchGelu.Pointer, 4 * e, P(pb + 10), 4 * e, L.FcProj.Pointer, e, P(pb + 11), false, parallelism);
            Layers.Add(L.Residual3.Pointer, L.Residual2.Pointer, L.FcProj.Pointer, (long)n * e);
            residual = L.Residual3.Pointer;
        }

        int fb = tensors.Length - 2;
        Layers.LayerNormForward(a.Lnf.Pointer, a.LnfMean.Pointer, a.LnfRstd.Pointer, residual, P(fb), P(fb + 1), n, e, parallelism);
        Gemm.Multiply(false, true, n, c.VocabSize, e, a.Lnf.Pointer, e, P(0), e, a.Logits.Pointer, c.VocabSize, null, false, parallelism);
        if (!a.HasTargets)
        {
            return 0f;
        }

        return Layers.CrossEntropy(a.DLogits.Pointer, a.Logits.Pointer, a.Targets, n, c.VocabSize, a.RowLosses, parallelism);
    }

    /// <summary>The logits of the last forward pass at (b, t).</summary>
    /// <param name="b">Batch row.</param>
    /// <param name="t">Position.</param>
    /// <returns>V logits.</returns>
    public ReadOnlySpan<float> LogitsAt(int b, int t)
    {
        var a = acts ?? throw new InvalidOperationException("no forward pass has run");
        return a.Logits.Span.Slice((b * a.SeqLen + t) * Config.VocabSize, Config.VocabSize);
    }

    /// <summary>
    /// Backward pass of the last forward (which must have had targets): sets
    /// <see cref="ParameterSet.Gradients"/> to the gradient of the mean loss, in the fixed order of
    /// docs/engine.md.
    /// </summary>
    /// <param name="parallelism">Threads.</param>
    public void Backward(Parallelism parallelism)
    {
        var a = acts ?? throw new InvalidOperationException("Backward needs a forward pass first");
        if (!a.HasTargets)
        {
            throw new InvalidOperationException("Backward needs a forward pass with targets");
        }

        var c = Config;
        int n = a.Batch * a.SeqLen, e = c.Embed, v = c.VocabSize;
        Parameters.Gradients.Clear();
        a.DResidual.Clear();

        // Output head (tied to wte): dlnf = dlogits · wte; dwte += dlogitsᵀ · lnf.
        Gemm.Multiply(false, false, n, e, v, a.DLogits.Pointer, v, P(0), e, a.DLn.Pointer, e, null, false, parallelism);
        Gemm.Multiply(true, false, v, e, n, a.DLogits.Pointer, v, a.Lnf.Pointer, e, G(0), e, null, true, parallelism);
        int fb = tensors.Length - 2;
        float* lastResidual = c.Layers == 0 ? a.Encoded.Pointer : a.Layer[c.Layers - 1].Residual3.Pointer;
        Layers.LayerNormBackward(a.DResidual.Pointer, G(fb), G(fb + 1), a.DLn.Pointer, lastResidual, P(fb), a.LnfMean.Pointer, a.LnfRstd.Pointer, n, e, parallelism);

        for (int l = c.Layers - 1; l >= 0; l--)
        {
            var L = a.Layer[l];
            int pb = LayerBase(l);
            float* residual = l == 0 ? a.Encoded.Pointer : a.Layer[l - 1].Residual3.Pointer;
            float* dres = a.DResidual.Pointer;

            // MLP projection: dres is the gradient of fcproj.
            Gemm.Multiply(false, false, n, 4 * e, e, dres, e, P(pb + 10), 4 * e, a.DFchGelu.Pointer, 4 * e, null, false, parallelism);
            Gemm.Multiply(true, false, e, 4 * e, n, dres, e, L.FchGelu.Pointer, 4 * e, G(pb + 10), 4 * e, null, true, parallelism);
            Layers.BiasBackward(G(pb + 11), dres, n, e, parallelism);
            a.DFch.Clear();
            Layers.GeluBackward(a.DFch.Pointer, L.Fch.Pointer, a.DFchGelu.Pointer, (long)n * 4 * e, parallelism);
            Gemm.Multiply(false, false, n, e, 4 * e, a.DFch.Pointer, 4 * e, P(pb + 8), e, a.DLn.Pointer, e, null, false, parallelism);
            Gemm.Multiply(true, false, 4 * e, e, n, a.DFch.Pointer, 4 * e, L.Ln2.Pointer, e, G(pb + 8), e, null, true, parallelism);
            Layers.BiasBackward(G(pb + 9), a.DFch.Pointer, n, 4 * e, parallelism);
            Layers.LayerNormBackward(dres, G(pb + 6), G(pb + 7), a.DLn.Pointer, L.Residual2.Pointer, P(pb + 6), L.Ln2Mean.Pointer, L.Ln2Rstd.Pointer, n, e, parallelism);

            // Attention projection: dres is now the gradient of residual2, hence of attproj.
            Gemm.Multiply(false, false, n, e, e, dres, e, P(pb + 4), e, a.DAtty.Pointer, e, null, false, parallelism);
            Gemm.Multiply(true, false, e, e, n, dres, e, L.Atty.Pointer, e, G(pb + 4), e, null, true, parallelism);
            Layers.BiasBackward(G(pb + 5), dres, n, e, parallelism);
            a.DQkv.Clear();
            Layers.AttentionBackward(a.DQkv.Pointer, a.DAtty.Pointer, L.Qkv.Pointer, L.Att.Pointer, a.Batch, a.SeqLen, e, c.Heads, parallelism);
            Gemm.Multiply(false, false, n, e, 3 * e, a.DQkv.Pointer, 3 * e, P(pb + 2), e, a.DLn.Pointer, e, null, false, parallelism);
            Gemm.Multiply(true, false, 3 * e, e, n, a.DQkv.Pointer, 3 * e, L.Ln1.Pointer, e, G(pb + 2), e, null, true, parallelism);
            Layers.BiasBackward(G(pb + 3), a.DQkv.Pointer, n, 3 * e, parallelism);
            Layers.LayerNormBackward(dres, G(pb), G(pb + 1), a.DLn.Pointer, residual, P(pb), L.Ln1Mean.Pointer, L.Ln1Rstd.Pointer, n, e, parallelism);
        }

        Layers.EncoderBackward(G(0), G(1), a.DResidual.Pointer, a.Tokens, a.Batch, a.SeqLen, e, parallelism);
    }

    /// <summary>Greedy or sampled continuation of a prompt (no KV cache: the model is small).</summary>
    /// <param name="prompt">Prompt token ids.</param>
    /// <param name="count">Tokens to generate.</param>
    /// <param name="temperature">0 for greedy (argmax, lowest id on ties), otherwise the sampling temperature.</param>
    /// <param name="seed">Sampling seed (Philox key DeriveKey(seed, "sample"), index = position).</param>
    /// <param name="parallelism">Threads.</param>
    /// <returns>The generated ids (without the prompt).</returns>
    public int[] Generate(ReadOnlySpan<int> prompt, int count, float temperature, ulong seed, Parallelism parallelism)
    {
        if (prompt.IsEmpty)
        {
            throw new ArgumentException("the prompt must contain at least one token");
        }

        var context = new List<int>(prompt.ToArray());
        var output = new int[count];
        ulong key = Philox.DeriveKey(seed, "sample");
        for (int i = 0; i < count; i++)
        {
            int start = Math.Max(0, context.Count - Config.BlockSize);
            var window = context.GetRange(start, context.Count - start).ToArray();
            Forward(window, default, 1, window.Length, parallelism);
            var logits = LogitsAt(0, window.Length - 1);
            int next = temperature <= 0f ? ArgMax(logits) : Sample(logits, temperature, Philox.Words(key, 0, (ulong)i).X0);
            output[i] = next;
            context.Add(next);
        }

        return output;
    }

    /// <summary>Index of the largest value (lowest index on ties).</summary>
    /// <param name="values">Values.</param>
    /// <returns>The index.</returns>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }

    private static int Sample(ReadOnlySpan<float> logits, float temperature, uint word)
    {
        float m = float.NegativeInfinity;
        foreach (float l in logits)
        {
            m = MathF.Max(m, l);
        }

        Span<float> p = stackalloc float[logits.Length];
        float z = 0f;
        for (int j = 0; j < logits.Length; j++)
        {
            p[j] = DetMath.Exp((logits[j] - m) / temperature);
            z += p[j];
        }

        float u = Philox.ToUnitFloat(word) * z;
        float cumulative = 0f;
        for (int j = 0; j < p.Length; j++)
        {
            cumulative += p[j];
            if (u < cumulative)
            {
                return j;
            }
        }

        return p.Length - 1;
    }

    private sealed class LayerActivations(int n, int e, int batch, int heads, int seqLen)
    {
        public readonly PinnedBuffer Ln1 = new((long)n * e), Ln1Mean = new(n), Ln1Rstd = new(n);
        public readonly PinnedBuffer Qkv = new((long)n * 3 * e), Atty = new((long)n * e);
        public readonly PinnedBuffer Att = new((long)batch * heads * seqLen * seqLen);
        public readonly PinnedBuffer AttProj = new((long)n * e), Residual2 = new((long)n * e);
        public readonly PinnedBuffer Ln2 = new((long)n * e), Ln2Mean = new(n), Ln2Rstd = new(n);
        public readonly PinnedBuffer Fch = new((long)n * 4 * e), FchGelu = new((long)n * 4 * e);
        public readonly PinnedBuffer FcProj = new((long)n * e), Residual3 = new((long)n * e);
    }

    private sealed class Activations
    {
        public Activations(GptConfig c, int batch, int seqLen)
        {
            Batch = batch;
            SeqLen = seqLen;
            int n = batch * seqLen, e = c.Embed;
            Tokens = new int[n];
            Targets = new int[n];
            RowLosses = new float[n];
            Encoded = new PinnedBuffer((long)n * e);
            Layer = new LayerActivations[c.Layers];
            for (int l = 0; l < c.Layers; l++)
            {
                Layer[l] = new LayerActivations(n, e, batch, c.Heads, seqLen);
            }

            Lnf = new PinnedBuffer((long)n * e);
            LnfMean = new PinnedBuffer(n);
            LnfRstd = new PinnedBuffer(n);
            Logits = new PinnedBuffer((long)n * c.VocabSize);
            DLogits = new PinnedBuffer((long)n * c.VocabSize);
            DResidual = new PinnedBuffer((long)n * e);
            DLn = new PinnedBuffer((long)n * e);
            DAtty = new PinnedBuffer((long)n * e);
            DQkv = new PinnedBuffer((long)n * 3 * e);
            DFch = new PinnedBuffer((long)n * 4 * e);
            DFchGelu = new PinnedBuffer((long)n * 4 * e);
        }

        public int Batch { get; }
        public int SeqLen { get; }
        public bool HasTargets { get; set; }
        public int[] Tokens { get; }
        public int[] Targets { get; }
        public float[] RowLosses { get; }
        public PinnedBuffer Encoded { get; }
        public LayerActivations[] Layer { get; }
        public PinnedBuffer Lnf { get; }
        public PinnedBuffer LnfMean { get; }
        public PinnedBuffer LnfRstd { get; }
        public PinnedBuffer Logits { get; }
        public PinnedBuffer DLogits { get; }
        public PinnedBuffer DResidual { get; }
        public PinnedBuffer DLn { get; }
        public PinnedBuffer DAtty { get; }
        public PinnedBuffer DQkv { get; }
        public PinnedBuffer DFch { get; }
        public PinnedBuffer DFchGelu { get; }
    }
}
