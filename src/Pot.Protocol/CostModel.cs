using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Pot.Chain.Blocks;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Keys;
using Pot.Commitments.Merkle;
using Pot.Commitments.Quantization;

namespace Pot.Protocol;

/// <summary>
/// A decoder-only transformer's shape, enough to count its parameters. Read from JSON with camelCase names
/// (docs/cost.md, "Model specs"); optional fields have the documented defaults.
/// </summary>
public sealed record ModelSpec
{
    /// <summary>Display name.</summary>
    public required string Name { get; init; }
    /// <summary>Transformer layers L.</summary>
    public required long Layers { get; init; }
    /// <summary>Model width d.</summary>
    public required long DModel { get; init; }
    /// <summary>Attention (query) heads.</summary>
    public required long Heads { get; init; }
    /// <summary>Key/value heads (grouped-query attention); default: <see cref="Heads"/>.</summary>
    public long? KvHeads { get; init; }
    /// <summary>Width of one head; default d / heads.</summary>
    public long? HeadDim { get; init; }
    /// <summary>Hidden width of the feed-forward block; default 4d.</summary>
    public long? FfnDim { get; init; }
    /// <summary>Gated feed-forward (GeGLU/SwiGLU: three matrices instead of two); default false.</summary>
    public bool GatedFfn { get; init; }
    /// <summary>Vocabulary size V.</summary>
    public required long Vocab { get; init; }
    /// <summary>Context length (tokens).</summary>
    public required long Context { get; init; }
    /// <summary>Learned absolute position embeddings (context × d parameters); default false.</summary>
    public bool LearnedPositions { get; init; }
    /// <summary>Output projection shares the input embedding; default true.</summary>
    public bool TiedEmbeddings { get; init; } = true;
    /// <summary>The parameter count the model's authors publish (for comparison only); optional.</summary>
    public double? NominalParameters { get; init; }
    /// <summary>Where the numbers come from.</summary>
    public string? Source { get; init; }

    /// <summary>Effective key/value heads.</summary>
    public long EffectiveKvHeads => KvHeads ?? Heads;
    /// <summary>Effective head width.</summary>
    public long EffectiveHeadDim => HeadDim ?? DModel / Heads;
    /// <summary>Effective feed-forward width.</summary>
    public long EffectiveFfnDim => FfnDim ?? 4 * DModel;

    /// <summary>Weights of one layer: attention d·(h·hd) + 2·d·(kv·hd) + (h·hd)·d, feed-forward (2 or 3)·d·ffn (biases and norms left out).</summary>
    public double LayerParameters
    {
        get
        {
            double d = DModel, q = Heads * EffectiveHeadDim, kv = EffectiveKvHeads * EffectiveHeadDim;
            return d * q + 2 * d * kv + q * d + (GatedFfn ? 3.0 : 2.0) * d * EffectiveFfnDim;
        }
    }

    /// <summary>Embedding parameters: V·d, plus context·d for learned positions, plus V·d for an untied output.</summary>
    public double EmbeddingParameters => (double)Vocab * DModel * (TiedEmbeddings ? 1 : 2) + (LearnedPositions ? (double)Context * DModel : 0);

    /// <summary>N = L·layer + embeddings.</summary>
    public double Parameters => Layers * LayerParameters + EmbeddingParameters;

    /// <summary>Largest accepted value of any dimension (keeps every product finite and exact enough).</summary>
    public const long MaxDimension = 1L << 30;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad field.</summary>
    public void Validate()
    {
        void Positive(string field, long? value)
        {
            if (value is <= 0)
            {
                throw new ArgumentException($"model spec '{Name}': {field} must be positive, got {value}");
            }
            if (value > MaxDimension)
            {
                throw new ArgumentException($"model spec '{Name}': {field} is {value}; at most {MaxDimension} is accepted");
            }
        }
        if (string.IsNullOrWhiteSpace(Name))
        {
            throw new ArgumentException("model spec: name must be a non-empty string");
        }
        Positive("layers", Layers);
        Positive("dModel", DModel);
        Positive("heads", Heads);
        Positive("kvHeads", KvHeads);
        Positive("headDim", HeadDim);
        Positive("ffnDim", FfnDim);
        Positive("vocab", Vocab);
        Positive("context", Context);
        if (HeadDim is null && DModel % Heads != 0)
        {
            throw new ArgumentException($"model spec '{Name}': dModel {DModel} is not a multiple of heads {Heads}; give headDim");
        }
        if (Heads % EffectiveKvHeads != 0)
        {
            throw new ArgumentException($"model spec '{Name}': heads {Heads} is not a multiple of kvHeads {EffectiveKvHeads}");
        }
        if (NominalParameters is { } n && !(n > 0 && double.IsFinite(n)))
        {
            throw new ArgumentException($"model spec '{Name}': nominalParameters must be positive, got {n}");
        }
        double p = Parameters;
        if (p / ModelCommitment.LeafFloats > int.MaxValue)
        {
            throw new ArgumentException($"model spec '{Name}': {p:E3} parameters exceed the model commitment's limit of {(double)int.MaxValue * ModelCommitment.LeafFloats:E3} ({int.MaxValue} leaves of {ModelCommitment.LeafFloats} floats)");
        }
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.Strict,
        ReadCommentHandling = JsonCommentHandling.Disallow,
    };

    /// <summary>Parses and validates a spec from JSON.</summary>
    /// <param name="json">The JSON text.</param>
    /// <returns>The spec.</returns>
    /// <exception cref="ArgumentException">Malformed JSON, unknown or missing fields, or invalid values.</exception>
    public static ModelSpec Parse(string json)
    {
        ModelSpec? spec;
        try
        {
            spec = JsonSerializer.Deserialize<ModelSpec>(json, JsonOptions);
        }
        catch (JsonException ex)
        {
            throw new ArgumentException($"model spec is not valid: {ex.Message}", ex);
        }
        if (spec is null)
        {
            throw new ArgumentException("model spec is empty (JSON null)");
        }
        spec.Validate();
        return spec;
    }

    /// <summary>The built-in specs by name (docs/cost.md lists their sources).</summary>
    public static IReadOnlyDictionary<string, string> BuiltIn { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        // Brown et al. 2020, "Language Models are Few-Shot Learners", Table 2.1 (GPT-3 175B); GPT-2 BPE vocabulary;
        // learned positions and a tied output embedding as in GPT-2.
        ["gpt3-175b"] = """
            {"name": "GPT-3 175B", "layers": 96, "dModel": 12288, "heads": 96, "headDim": 128, "ffnDim": 49152, "gatedFfn": false,
             "vocab": 50257, "context": 2048, "learnedPositions": true, "tiedEmbeddings": true, "nominalParameters": 175e9,
             "source": "Brown et al. 2020 (arXiv:2005.14165) Table 2.1; vocabulary of GPT-2 BPE"}
            """,
        // Gemma 3 technical report (2025) and the released text-model configuration of gemma-3-27b.
        ["gemma3-27b"] = """
            {"name": "Gemma 3 27B", "layers": 62, "dModel": 5376, "heads": 32, "kvHeads": 16, "headDim": 128, "ffnDim": 21504, "gatedFfn": true,
             "vocab": 262144, "context": 131072, "learnedPositions": false, "tiedEmbeddings": true, "nominalParameters": 27e9,
             "source": "Gemma 3 technical report (arXiv:2503.19786) and the released gemma-3-27b text configuration (vision encoder excluded)"}
            """,
    };
}

/// <summary>Peak dense rates and memory of one GPU (vendor datasheets; docs/cost.md).</summary>
/// <param name="Name">Display name.</param>
/// <param name="Bf16DenseTflops">Peak dense BF16 tensor-core rate, TFLOP/s.</param>
/// <param name="Fp32Tflops">Peak FP32 (non-tensor) rate, TFLOP/s.</param>
/// <param name="MemoryGb">Memory in GB (10⁹ bytes).</param>
public sealed record GpuSpec(string Name, double Bf16DenseTflops, double Fp32Tflops, double MemoryGb)
{
    /// <summary>The built-in GPUs: NVIDIA H100 SXM5, H200 SXM and A100 SXM4 80 GB. Dense = half the datasheet's with-sparsity figure.</summary>
    public static IReadOnlyDictionary<string, GpuSpec> BuiltIn { get; } = new Dictionary<string, GpuSpec>(StringComparer.Ordinal)
    {
        ["h100"] = new("NVIDIA H100 SXM5", 989.4, 66.9, 80),
        ["h200"] = new("NVIDIA H200 SXM", 989.4, 66.9, 141),
        ["a100"] = new("NVIDIA A100 SXM4 80GB", 312, 19.5, 80),
    };
}

/// <summary>Protocol and workload parameters of a cost estimate (defaults: <see cref="ProtocolTask"/>'s).</summary>
public sealed record CostParameters
{
    /// <summary>Inner steps per round H.</summary>
    public int InnerSteps { get; init; } = 50;
    /// <summary>Verifiers per submission c.</summary>
    public int Verifiers { get; init; } = 3;
    /// <summary>Replayed steps per verifier k.</summary>
    public int ReplayedSteps { get; init; } = 1;
    /// <summary>Sampled leaves per verifier s.</summary>
    public int SampledLeaves { get; init; } = 4;
    /// <summary>Sequences per inner step.</summary>
    public long BatchSequences { get; init; } = 32;
    /// <summary>Tokens per sequence; null: min(context, 2048).</summary>
    public long? SequenceLength { get; init; }
    /// <summary>Rows of each usefulness evaluation batch (four forward passes of this many rows per verification).</summary>
    public long EvalRows { get; init; } = 32;
    /// <summary>Optimizer buffers per parameter (AdamW: 2).</summary>
    public int OptimizerBuffers { get; init; } = 2;
    /// <summary>Miners per round M.</summary>
    public int Miners { get; init; } = 100;
    /// <summary>Validators n (the verifier set).</summary>
    public int Validators { get; init; } = 100;
    /// <summary>Submission window W in blocks.</summary>
    public int WindowBlocks { get; init; } = 4;
    /// <summary>Compressed size of a binary diff as a fraction of the fp32 model (measured: 0.246, docs/commitments.md §9).</summary>
    public double DiffRatio { get; init; } = CostModel.MeasuredDiffRatio;
    /// <summary>Model FLOP utilisation assumed for the realistic time estimate (the peak-rate time is always reported too).</summary>
    public double Mfu { get; init; } = 0.4;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad value.</summary>
    public void Validate()
    {
        void Check(bool ok, string message)
        {
            if (!ok)
            {
                throw new ArgumentException(message);
            }
        }
        Check(InnerSteps >= 1 && InnerSteps <= Pot.Chain.ChainLimits.MaxClaimedLosses, $"inner steps H must be in 1..{Pot.Chain.ChainLimits.MaxClaimedLosses} (one claimed loss each in the submit transaction), got {InnerSteps}");
        Check(Verifiers >= 1, $"verifiers c must be at least 1, got {Verifiers}");
        Check(ReplayedSteps >= 0 && ReplayedSteps <= InnerSteps, $"replayed steps k must be in 0..H={InnerSteps}, got {ReplayedSteps}");
        Check(SampledLeaves >= 0 && SampledLeaves + ReplayedSteps <= Pot.Chain.ChainLimits.MaxAttestationChecks, $"sampled leaves s must be 0 or more with k + s <= {Pot.Chain.ChainLimits.MaxAttestationChecks} (attestation limit), got s = {SampledLeaves}");
        Check(BatchSequences >= 1, $"batch must be at least 1 sequence, got {BatchSequences}");
        Check(SequenceLength is null or >= 1, $"sequence length must be at least 1, got {SequenceLength}");
        Check(EvalRows >= 0, $"evaluation rows must be 0 or more, got {EvalRows}");
        Check(OptimizerBuffers >= 0 && OptimizerBuffers <= 8, $"optimizer buffers must be in 0..8, got {OptimizerBuffers}");
        Check(Miners >= 1 && Miners <= 100_000, $"miners must be in 1..100000, got {Miners}");
        Check(Validators >= 1 && Validators <= Pot.Chain.ChainLimits.MaxValidators, $"validators must be in 1..{Pot.Chain.ChainLimits.MaxValidators}, got {Validators}");
        Check(WindowBlocks >= 1, $"window W must be at least 1 block, got {WindowBlocks}");
        Check(DiffRatio > 0 && DiffRatio <= 1.01, $"diff ratio must be in (0, 1.01], got {DiffRatio}");
        Check(Mfu > 0 && Mfu <= 1, $"MFU must be in (0, 1], got {Mfu}");
    }
}

/// <summary>Sizes of the protocol's objects for one model.</summary>
/// <param name="Fp32ModelBytes">4N.</param>
/// <param name="TrainingStateBytes">(1 + buffers)·4N: what a verifier fetches to replay one step.</param>
/// <param name="Q4UpdateBytes">16 + ⌈N/32⌉·18 (Q4 blob).</param>
/// <param name="DiffBytes">80 + r·4N (binary diff, zstd, measured ratio r).</param>
/// <param name="Leaves">⌈N/1024⌉ model leaves (the update has the same count of 576-byte leaves).</param>
/// <param name="TreeHeight">⌈log₂ leaves⌉.</param>
/// <param name="InclusionProofBytes">Encoded inclusion proof of leaf 0 (the longest path).</param>
/// <param name="MultiProofHashes">Hashes of a multi-proof of s evenly spaced leaves.</param>
/// <param name="MultiProofBytes">Its encoded size.</param>
/// <param name="LeafCheckBytes">Data one verifier's s leaf checks fetch: s·(4096 + 576) + 2 multi-proofs.</param>
public sealed record CommitmentSizes(double Fp32ModelBytes, double TrainingStateBytes, double Q4UpdateBytes, double DiffBytes, long Leaves, int TreeHeight,
    int InclusionProofBytes, int MultiProofHashes, int MultiProofBytes, double LeafCheckBytes);

/// <summary>On-chain bytes, from the chain's canonical encoders.</summary>
/// <param name="SubmitTxBytes">A signed submit transaction with H claimed losses.</param>
/// <param name="AttestTxBytes">A signed accepting attestation with k steps and s leaves.</param>
/// <param name="FinalizeTxBytes">The signed finalize transaction of a round with M accepted submissions.</param>
/// <param name="BlockOverheadBytes">Header plus a commit certificate of n − f signatures.</param>
/// <param name="RoundBytes">M·submit + c·M·attest + finalize + (W + 1)·overhead.</param>
/// <param name="BytesPerBlock">RoundBytes / (W + 1).</param>
/// <param name="FinalizeExceedsTransactionLimit">Whether the finalize transaction is above the chain's transaction size limit.</param>
/// <param name="LargestBlockExceedsLimit">Whether a block with the round's finalize, or with all submissions of the round, is above the chain's block limit.</param>
public sealed record ChainSizes(int SubmitTxBytes, int AttestTxBytes, int FinalizeTxBytes, int BlockOverheadBytes, double RoundBytes, double BytesPerBlock,
    bool FinalizeExceedsTransactionLimit, bool LargestBlockExceedsLimit);

/// <summary>FLOPs and times of one round.</summary>
/// <param name="TokensPerStep">batch × sequence length.</param>
/// <param name="TrainingFlops">6·N·tokens·H per miner.</param>
/// <param name="ReplayFlops">6·N·tokens·k per verification.</param>
/// <param name="EvaluationFlops">4 forward passes: 4·2·N·evalRows·sequence per verification.</param>
/// <param name="LeafCheckHashBlocks">SHA-256 compression blocks of s leaf checks (negligible against the FLOPs).</param>
/// <param name="VerificationFlops">Replay + evaluation per verification.</param>
/// <param name="VerifierToMinerRatio">Verification / training FLOPs, one verifier.</param>
/// <param name="TrainingSecondsBf16">Training FLOPs at the GPU's peak dense BF16 rate (one GPU's throughput).</param>
/// <param name="TrainingSecondsFp32">At the peak FP32 rate.</param>
/// <param name="VerificationSecondsBf16">Verification FLOPs at peak BF16.</param>
/// <param name="VerificationSecondsFp32">At peak FP32.</param>
/// <param name="TrainingSecondsAtMfu">Training at the assumed MFU of the BF16 peak.</param>
/// <param name="VerificationSecondsAtMfu">Verification at the assumed MFU.</param>
/// <param name="GpusToHoldState">⌈(4N params + 4N gradients + buffers·4N) / GPU memory⌉, activations left out.</param>
public sealed record ComputeCost(double TokensPerStep, double TrainingFlops, double ReplayFlops, double EvaluationFlops, double LeafCheckHashBlocks, double VerificationFlops,
    double VerifierToMinerRatio, double TrainingSecondsBf16, double TrainingSecondsFp32, double VerificationSecondsBf16, double VerificationSecondsFp32,
    double TrainingSecondsAtMfu, double VerificationSecondsAtMfu, long GpusToHoldState);

/// <summary>A full cost estimate.</summary>
/// <param name="Model">The model.</param>
/// <param name="Gpu">The GPU.</param>
/// <param name="Parameters">The workload parameters.</param>
/// <param name="ParameterCount">N from the spec's formula.</param>
/// <param name="SequenceLength">Effective sequence length.</param>
/// <param name="Sizes">Object sizes.</param>
/// <param name="Chain">On-chain sizes.</param>
/// <param name="Compute">FLOPs and times.</param>
public sealed record CostEstimate(ModelSpec Model, GpuSpec Gpu, CostParameters Parameters, double ParameterCount, long SequenceLength, CommitmentSizes Sizes, ChainSizes Chain, ComputeCost Compute);

/// <summary>PoGO-style cost analysis of the protocol for a real model (docs/cost.md gives every formula).</summary>
public static class CostModel
{
    /// <summary>Compressed binary diff over fp32 size measured by <c>CodecBenchmarks</c> (16 MiB, ¼ of values changed): 24.6 %.</summary>
    public const double MeasuredDiffRatio = 0.246;

    /// <summary>Chain id used for the sized transactions (its length enters every transaction).</summary>
    public const string ChainId = "pot-mainnet";

    /// <summary>Computes the estimate.</summary>
    /// <param name="model">Model spec (validated here).</param>
    /// <param name="gpu">GPU.</param>
    /// <param name="p">Parameters (validated here).</param>
    /// <returns>The estimate.</returns>
    public static CostEstimate Estimate(ModelSpec model, GpuSpec gpu, CostParameters p)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(gpu);
        ArgumentNullException.ThrowIfNull(p);
        model.Validate();
        p.Validate();
        double n = model.Parameters;
        long seq = p.SequenceLength ?? Math.Min(model.Context, 2048);
        if (seq > model.Context)
        {
            throw new ArgumentException($"sequence length {seq} exceeds the model's context {model.Context}");
        }
        var sizes = Sizes(n, p);
        var chain = Chain(p, sizes.Leaves);
        double tokens = (double)p.BatchSequences * seq;
        double training = 6 * n * tokens * p.InnerSteps;
        double replay = 6 * n * tokens * p.ReplayedSteps;
        double evaluation = 4 * 2 * n * p.EvalRows * seq;
        // Per leaf check: hash the fp32 leaf (0x00 ‖ 4096 bytes = 65 blocks), the update leaf (0x00 ‖ 576 = 10 blocks);
        // the two multi-proofs: one 2-block interior hash per proof hash and per proven leaf's ancestors.
        double hashBlocks = p.SampledLeaves * (65 + 10) + 2.0 * 2 * (sizes.MultiProofHashes + (double)p.SampledLeaves * sizes.TreeHeight);
        double verification = replay + evaluation;
        double bf16 = gpu.Bf16DenseTflops * 1e12, fp32 = gpu.Fp32Tflops * 1e12;
        double stateBytes = n * 4 * (2 + p.OptimizerBuffers);
        var compute = new ComputeCost(tokens, training, replay, evaluation, hashBlocks, verification, verification / training,
            training / bf16, training / fp32, verification / bf16, verification / fp32, training / (bf16 * p.Mfu), verification / (bf16 * p.Mfu),
            (long)Math.Ceiling(stateBytes / (gpu.MemoryGb * 1e9)));
        return new CostEstimate(model, gpu, p, n, seq, sizes, chain, compute);
    }

    /// <summary>Object sizes for N parameters.</summary>
    /// <param name="n">Parameters.</param>
    /// <param name="p">Workload parameters.</param>
    /// <returns>The sizes.</returns>
    public static CommitmentSizes Sizes(double n, CostParameters p)
    {
        ArgumentNullException.ThrowIfNull(p);
        long count = (long)Math.Ceiling(n);
        int leaves = ModelCommitment.LeafCount(count);
        int height = leaves <= 1 ? 0 : (int)Math.Ceiling(Math.Log2(leaves));
        var zero = new byte[MerkleHash.Size];
        int pathLength = MerkleProof.ExpectedPathLength(0, leaves);
        int inclusion = new MerkleProof(0, leaves, Enumerable.Repeat(zero, pathLength).ToArray()).Encode().Length;
        int s = Math.Min(p.SampledLeaves, leaves);
        int multiHashes = 0, multiBytes = 0;
        if (s > 0)
        {
            long[] indices = Enumerable.Range(0, s).Select(i => (long)i * leaves / s).ToArray();
            multiHashes = MerkleMultiProof.ExpectedHashCount(leaves, indices);
            multiBytes = new MerkleMultiProof(leaves, indices, Enumerable.Repeat(zero, multiHashes).ToArray()).Encode().Length;
        }
        double q4 = Q4Blob.EncodedLength(count);
        return new CommitmentSizes(4.0 * count, (1.0 + p.OptimizerBuffers) * 4 * count, q4, Pot.Commitments.Diffs.ModelDiff.HeaderBytes + p.DiffRatio * 4 * count,
            leaves, height, inclusion, multiHashes, multiBytes, s * (double)(ModelCommitment.LeafBytes + Q4Blob.BlocksBytesPerModelLeaf) + 2.0 * multiBytes);
    }

    /// <summary>On-chain sizes from the real encoders: transactions signed with deterministic keys, realistic field values.</summary>
    /// <param name="p">Workload parameters.</param>
    /// <param name="leaves">Model leaves (the sampled leaf indices are the last s, whose varints are the longest).</param>
    /// <returns>The sizes.</returns>
    public static ChainSizes Chain(CostParameters p, long leaves)
    {
        ArgumentNullException.ThrowIfNull(p);
        static Ed25519Keys Key(string who) => Ed25519Keys.FromSeed(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("pot/cost/" + who)));
        static byte[] Id(string what, long i) => SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"pot/cost/{what}/{i}"));
        // Nonces and amounts as an established chain would carry them: two-byte nonces, four-byte varint rewards.
        const ulong Nonce = 1000, Fee = 1000;
        var miner = Key("miner");
        uint loss = BitConverter.SingleToUInt32Bits(2.5f);
        var submit = Transaction.Create(ChainId, miner, Nonce, Fee, new SubmitPayload(1, 1000, Id("base", 0), Id("update", 0), Id("trace", 0),
            Enumerable.Repeat(loss, p.InnerSteps).ToArray(), (ulong)(p.InnerSteps * p.BatchSequences)));
        // Steps and leaves: indices near the top of their ranges (their varints are the longest the model allows).
        var attest = Transaction.Create(ChainId, Key("verifier"), Nonce, Fee, new AttestPayload(Id("submission", 0), true,
            Enumerable.Range(0, p.ReplayedSteps).Select(i => (uint)(p.InnerSteps - 1 - i)).Reverse().ToArray(),
            Enumerable.Range(0, p.SampledLeaves).Select(i => (uint)Math.Max(0, leaves - p.SampledLeaves + i)).Distinct().ToArray(), new byte[32], 0, loss, loss, loss));
        var accepted = Enumerable.Range(0, p.Miners).Select(i => Id("submission", i)).OrderBy(x => x, ByteComparer).ToArray();
        int payees = p.Miners + Math.Min(p.Validators, p.Verifiers * p.Miners);
        var rewards = Enumerable.Range(0, payees).Select(i => new Payout(Id("payee", i)[..20], 1_000_000UL / (ulong)payees + 1)).OrderBy(x => x.Address, ByteComparer).ToArray();
        var finalize = Transaction.Create(ChainId, Key("primary"), Nonce, Fee, new FinalizeRoundPayload(1, 1000, Id("model", 1), accepted, [], rewards, []));
        var validators = Enumerable.Range(0, p.Validators).Select(i => Key("validator" + i)).ToArray();
        int quorum = p.Validators - (p.Validators - 1) / 3;
        var header = new BlockHeader(ChainId, 1_000_000, Id("parent", 0), 1_800_000_000_000, Id("proposer", 0)[..20], 0, Id("state", 0), Id("txroot", 0), [new TaskModelRoot(1, Id("model", 1))]);
        byte[] headerBytes = header.Encode();
        int certificate = CommitCertificate.Sign(SHA256.HashData(headerBytes), validators.Take(quorum)).Encode().Length;
        int overhead = headerBytes.Length + certificate;
        int blocks = p.WindowBlocks + 1;
        double round = (double)p.Miners * submit.Size + (double)p.Verifiers * p.Miners * attest.Size + finalize.Size + (double)blocks * overhead;
        double biggestBlock = Math.Max(finalize.Size, (double)p.Miners * submit.Size) + overhead;
        return new ChainSizes(submit.Size, attest.Size, finalize.Size, overhead, round, round / blocks,
            finalize.Size > Pot.Chain.ChainLimits.MaxTransactionBytes, biggestBlock > Pot.Chain.ChainLimits.MaxBlockBytes);
    }

    private static readonly Comparer<byte[]> ByteComparer = Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b));
}
