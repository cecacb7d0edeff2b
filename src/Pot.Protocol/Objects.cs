using Pot.Commitments;
using Pot.Commitments.Canonical;
using Pot.Commitments.Keys;

namespace Pot.Protocol;

/// <summary>
/// A miner's submission for one round (DESIGN §4): roots only, the claimed per-step training losses, the
/// sample count, and the miner's signature. The blobs behind the roots are served from the miner's
/// chunk store.
/// </summary>
/// <param name="TaskId">Task id.</param>
/// <param name="Round">Round number.</param>
/// <param name="Miner">Miner's Ed25519 public key.</param>
/// <param name="BaseRoot">R_r, the model commitment the round started from.</param>
/// <param name="UpdateRoot">Merkle root over the Q4_0 blocks of q (576-byte leaves, one per model leaf).</param>
/// <param name="TraceRoot">Merkle root over the H + 1 trace leaves.</param>
/// <param name="InnerSteps">H.</param>
/// <param name="ClaimedLosses">Training loss of each inner step, as claimed.</param>
/// <param name="SampleCount">Training examples consumed (H × batch size).</param>
/// <param name="Signature">Ed25519 signature by <paramref name="Miner"/> over <see cref="Body"/> (type "pot/submission").</param>
public sealed record Submission(string TaskId, ulong Round, byte[] Miner, byte[] BaseRoot, byte[] UpdateRoot, byte[] TraceRoot,
    int InnerSteps, float[] ClaimedLosses, ulong SampleCount, byte[] Signature)
{
    /// <summary>Signature domain.</summary>
    public const string MessageType = "pot/submission";

    /// <summary>Canonical encoding of everything but the signature.</summary>
    /// <returns>The bytes.</returns>
    public byte[] Body()
    {
        var w = new CanonicalWriter(256 + ClaimedLosses.Length * 4);
        w.WriteByte(1);
        w.WriteString(TaskId);
        w.WriteVarUInt64(Round);
        w.WriteFixed(Miner);
        w.WriteFixed(BaseRoot);
        w.WriteFixed(UpdateRoot);
        w.WriteFixed(TraceRoot);
        w.WriteVarUInt64((ulong)InnerSteps);
        w.WriteVarUInt64((ulong)ClaimedLosses.Length);
        foreach (float loss in ClaimedLosses)
        {
            w.WriteUInt32LittleEndian(BitConverter.SingleToUInt32Bits(loss));
        }
        w.WriteVarUInt64(SampleCount);
        return w.ToArray();
    }

    /// <summary>Submission id: SHA-256("pot/submission-id/v1" ‖ body).</summary>
    public byte[] Id => Hashing.Domain("pot/submission-id/v1", Body());

    /// <summary>Short hex id for messages.</summary>
    public string ShortId => Hex.Encode(Id)[..12];

    /// <summary>Miner address.</summary>
    public string MinerAddress => AccountAddress.FromPublicKey(Miner);

    /// <summary>Signs a submission.</summary>
    /// <param name="unsigned">The fields (signature ignored).</param>
    /// <param name="key">The miner's key (must match <see cref="Miner"/>).</param>
    /// <returns>The signed submission.</returns>
    public static Submission Sign(Submission unsigned, Ed25519Keys key)
    {
        ArgumentNullException.ThrowIfNull(unsigned);
        ArgumentNullException.ThrowIfNull(key);
        return unsigned with { Signature = key.Sign(MessageType, unsigned.Body()) };
    }

    /// <summary>Whether the signature is the miner's over this body.</summary>
    /// <returns>True when valid.</returns>
    public bool VerifySignature() => Ed25519Keys.Verify(Miner, MessageType, Body(), Signature);
}

/// <summary>The verifier checks, each counted separately in the metrics (DESIGN §5.5).</summary>
public enum CheckKind : byte
{
    /// <summary>No check failed.</summary>
    None = 0,

    /// <summary>A committed blob could not be fetched or did not match its root.</summary>
    Availability = 1,

    /// <summary>State 0 of the trace is not the round's model with fresh optimiser state.</summary>
    TraceStart = 2,

    /// <summary>q[leaf] ≠ Q4(θ_r[leaf] − θ_H[leaf]) on a sampled leaf.</summary>
    Quantization = 3,

    /// <summary>A replayed inner step gave another state root than the trace commits.</summary>
    Replay = 4,

    /// <summary>A replayed step's loss differs from the claimed loss.</summary>
    LossClaim = 5,

    /// <summary>The loss on γ-chosen data did not improve by ε.</summary>
    Usefulness = 6,

    /// <summary>The update did not help the miner's own data more than random data.</summary>
    OwnData = 7,

    /// <summary>Another submission carries the same (or a near-identical) update.</summary>
    Uniqueness = 8,
}

/// <summary>
/// A verifier's signed verdict on one submission (DESIGN §4): which steps and leaves it checked, what it
/// measured, and, when negative, which check failed and the hash of its evidence.
/// </summary>
/// <param name="SubmissionId">The submission.</param>
/// <param name="Verifier">Verifier's public key.</param>
/// <param name="Accept">Verdict.</param>
/// <param name="FailedCheck">First failing check (None on accept).</param>
/// <param name="ReplayedSteps">Inner steps replayed.</param>
/// <param name="SampledLeaves">Leaves checked for quantization consistency.</param>
/// <param name="LossBefore">Loss of θ_r on the γ sample.</param>
/// <param name="LossAfter">Loss of θ_r − deq(q) on the γ sample.</param>
/// <param name="OwnImprovement">Loss improvement on the miner's own (γ-chosen) batch.</param>
/// <param name="EvidenceHash">SHA-256 of the encoded fraud proof (32 zero bytes when none).</param>
/// <param name="Signature">Ed25519 signature over <see cref="Body"/> (type "pot/attestation").</param>
public sealed record Attestation(byte[] SubmissionId, byte[] Verifier, bool Accept, CheckKind FailedCheck, int[] ReplayedSteps, int[] SampledLeaves,
    float LossBefore, float LossAfter, float OwnImprovement, byte[] EvidenceHash, byte[] Signature)
{
    /// <summary>Signature domain.</summary>
    public const string MessageType = "pot/attestation";

    /// <summary>Loss improvement on the γ sample (before − after).</summary>
    public float Improvement => LossBefore - LossAfter;

    /// <summary>Verifier address.</summary>
    public string VerifierAddress => AccountAddress.FromPublicKey(Verifier);

    /// <summary>Canonical encoding of everything but the signature.</summary>
    /// <returns>The bytes.</returns>
    public byte[] Body()
    {
        var w = new CanonicalWriter(256);
        w.WriteByte(1);
        w.WriteFixed(SubmissionId);
        w.WriteFixed(Verifier);
        w.WriteBool(Accept);
        w.WriteByte((byte)FailedCheck);
        w.WriteVarUInt64((ulong)ReplayedSteps.Length);
        foreach (int s in ReplayedSteps)
        {
            w.WriteVarUInt64((ulong)s);
        }
        w.WriteVarUInt64((ulong)SampledLeaves.Length);
        foreach (int l in SampledLeaves)
        {
            w.WriteVarUInt64((ulong)l);
        }
        w.WriteUInt32LittleEndian(BitConverter.SingleToUInt32Bits(LossBefore));
        w.WriteUInt32LittleEndian(BitConverter.SingleToUInt32Bits(LossAfter));
        w.WriteUInt32LittleEndian(BitConverter.SingleToUInt32Bits(OwnImprovement));
        w.WriteFixed(EvidenceHash);
        return w.ToArray();
    }

    /// <summary>Signs an attestation.</summary>
    /// <param name="unsigned">The fields.</param>
    /// <param name="key">The verifier's key.</param>
    /// <returns>The signed attestation.</returns>
    public static Attestation Sign(Attestation unsigned, Ed25519Keys key)
    {
        ArgumentNullException.ThrowIfNull(unsigned);
        ArgumentNullException.ThrowIfNull(key);
        return unsigned with { Signature = key.Sign(MessageType, unsigned.Body()) };
    }

    /// <summary>Whether the signature is the verifier's over this body.</summary>
    /// <returns>True when valid.</returns>
    public bool VerifySignature() => Ed25519Keys.Verify(Verifier, MessageType, Body(), Signature);
}

/// <summary>What a fraud proof claims.</summary>
public enum FraudKind : byte
{
    /// <summary>Recomputing inner step <c>Index</c> from the committed state gives another state root or another loss than claimed.</summary>
    Replay = 1,

    /// <summary>q[Index] ≠ Q4(θ_r[Index] − θ_H[Index]) for model leaf <c>Index</c>.</summary>
    Quantization = 2,

    /// <summary>Trace leaf 0 is not the round's model with fresh optimiser state.</summary>
    TraceStart = 3,

    /// <summary>The update root equals that of an earlier submission (<c>OtherSubmission</c>).</summary>
    DuplicateUpdate = 4,
}

/// <summary>
/// A fraud proof (DESIGN §5.6): evidence that any validator re-checks at the cost of one inner step (replay)
/// or one leaf (quantization), or by a lookup (trace start, duplicate).
/// </summary>
/// <param name="Kind">What is claimed.</param>
/// <param name="SubmissionId">The accused submission.</param>
/// <param name="Prover">Sender's public key (receives the prover's share of the slash, pays for a false proof).</param>
/// <param name="Index">Step (replay) or leaf (quantization) index.</param>
/// <param name="TraceBlob">The miner's trace blob (all trace leaves; checked against the trace root).</param>
/// <param name="StateBlob">Replay: the committed state before step <c>Index</c>.</param>
/// <param name="FinalLeafValues">Quantization: leaf <c>Index</c> of θ_H.</param>
/// <param name="FinalLeafProof">Quantization: its inclusion proof against θ_H's parameter root (trace leaf H).</param>
/// <param name="UpdateLeaf">Quantization: the Q4 bytes of leaf <c>Index</c> of q.</param>
/// <param name="UpdateLeafProof">Quantization: their inclusion proof against the update root.</param>
/// <param name="OtherSubmission">Duplicate: the earlier submission's id.</param>
/// <param name="Signature">Ed25519 signature by the prover over <see cref="Body"/> (type "pot/fraud-proof").</param>
public sealed record FraudProof(FraudKind Kind, byte[] SubmissionId, byte[] Prover, int Index, byte[] TraceBlob, byte[] StateBlob,
    float[] FinalLeafValues, byte[] FinalLeafProof, byte[] UpdateLeaf, byte[] UpdateLeafProof, byte[] OtherSubmission, byte[] Signature)
{
    /// <summary>Signature domain.</summary>
    public const string MessageType = "pot/fraud-proof";

    /// <summary>Canonical encoding of everything but the signature.</summary>
    /// <returns>The bytes.</returns>
    public byte[] Body()
    {
        var w = new CanonicalWriter(256 + TraceBlob.Length + StateBlob.Length + FinalLeafValues.Length * 4 + UpdateLeaf.Length);
        w.WriteByte(1);
        w.WriteByte((byte)Kind);
        w.WriteFixed(SubmissionId);
        w.WriteFixed(Prover);
        w.WriteVarUInt64((ulong)Index);
        w.WriteBytes(TraceBlob);
        w.WriteBytes(StateBlob);
        w.WriteVarUInt64((ulong)FinalLeafValues.Length);
        foreach (float v in FinalLeafValues)
        {
            w.WriteUInt32LittleEndian(BitConverter.SingleToUInt32Bits(v));
        }
        w.WriteBytes(FinalLeafProof);
        w.WriteBytes(UpdateLeaf);
        w.WriteBytes(UpdateLeafProof);
        w.WriteBytes(OtherSubmission);
        return w.ToArray();
    }

    /// <summary>Evidence hash an attestation commits to: SHA-256("pot/evidence/v1" ‖ body).</summary>
    public byte[] EvidenceHash => Hashing.Domain("pot/evidence/v1", Body());

    /// <summary>Prover address.</summary>
    public string ProverAddress => AccountAddress.FromPublicKey(Prover);

    /// <summary>An unsigned proof with empty optional fields.</summary>
    /// <param name="kind">Kind.</param>
    /// <param name="submissionId">Accused submission.</param>
    /// <param name="prover">Prover key.</param>
    /// <param name="index">Step or leaf.</param>
    /// <returns>The proof.</returns>
    public static FraudProof Empty(FraudKind kind, byte[] submissionId, byte[] prover, int index) =>
        new(kind, submissionId, prover, index, [], [], [], [], [], [], [], []);

    /// <summary>Signs a proof.</summary>
    /// <param name="unsigned">The fields.</param>
    /// <param name="key">The prover's key.</param>
    /// <returns>The signed proof.</returns>
    public static FraudProof Sign(FraudProof unsigned, Ed25519Keys key)
    {
        ArgumentNullException.ThrowIfNull(unsigned);
        ArgumentNullException.ThrowIfNull(key);
        return unsigned with { Signature = key.Sign(MessageType, unsigned.Body()) };
    }

    /// <summary>Whether the signature is the prover's over this body.</summary>
    /// <returns>True when valid.</returns>
    public bool VerifySignature() => Ed25519Keys.Verify(Prover, MessageType, Body(), Signature);
}
