using Pot.Chain.State;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Canonical;
using Pot.Commitments.Keys;

namespace Pot.Protocol;

/// <summary>
/// A miner's submission for one round (DESIGN §4), as the chain records it: the submit transaction's payload
/// (roots, claimed per-step losses, sample count) and its sender. The transaction's signature is the miner's
/// signature; its hash is the submission id. The blobs behind the roots are served from the miner's chunk store.
/// </summary>
/// <param name="Id">Submission id: the hash of the submit transaction.</param>
/// <param name="TaskId">Chain task id.</param>
/// <param name="Round">Round number.</param>
/// <param name="Miner">Miner's Ed25519 public key (the transaction's sender).</param>
/// <param name="BaseRoot">R_r, the model commitment the round started from.</param>
/// <param name="UpdateRoot">Merkle root over the Q4_0 blocks of q (576-byte leaves, one per model leaf).</param>
/// <param name="TraceRoot">Merkle root over the H + 1 trace leaves.</param>
/// <param name="ClaimedLosses">Training loss of each inner step, as claimed (their count is H).</param>
/// <param name="SampleCount">Training examples consumed (H × batch size).</param>
public sealed record Submission(byte[] Id, ulong TaskId, ulong Round, byte[] Miner, byte[] BaseRoot, byte[] UpdateRoot, byte[] TraceRoot,
    float[] ClaimedLosses, ulong SampleCount)
{
    /// <summary>H, the number of inner steps (= the number of claimed losses).</summary>
    public int InnerSteps => ClaimedLosses.Length;

    /// <summary>Short hex id for messages.</summary>
    public string ShortId => Hex.Encode(Id)[..12];

    /// <summary>Miner address.</summary>
    public string MinerAddress => AccountAddress.FromPublicKey(Miner);

    /// <summary>The chain payload of this submission.</summary>
    /// <returns>The submit payload.</returns>
    public SubmitPayload ToPayload() => new(TaskId, Round, BaseRoot, UpdateRoot, TraceRoot,
        ClaimedLosses.Select(BitConverter.SingleToUInt32Bits).ToArray(), SampleCount);

    /// <summary>The submission a chain record describes.</summary>
    /// <param name="record">The chain's pending submission.</param>
    /// <param name="minerPublicKey">The miner's public key (from its account).</param>
    /// <returns>The submission.</returns>
    public static Submission FromChain(Pot.Chain.State.Submission record, byte[] minerPublicKey)
    {
        ArgumentNullException.ThrowIfNull(record);
        var p = record.Payload;
        return new Submission(record.Id, p.TaskId, p.Round, minerPublicKey, p.BaseRoot, p.UpdateRoot, p.TraceRoot,
            p.ClaimedLossBits.Select(BitConverter.UInt32BitsToSingle).ToArray(), p.SampleCount);
    }
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

    /// <summary>
    /// The chain payload: verdict, failed check, declared steps and leaves, measured losses and the evidence hash.
    /// A reject without a fraud proof (a statistical check or unavailability) carries the non-zero hash
    /// SHA-256("pot/statistical-evidence/v1" ‖ submission ‖ verifier ‖ check ‖ measured losses), so every reject names evidence.
    /// </summary>
    /// <returns>The attest payload.</returns>
    public AttestPayload ToPayload()
    {
        byte[] evidence = EvidenceHash;
        if (!Accept && evidence.AsSpan().IndexOfAnyExcept((byte)0) < 0)
        {
            evidence = Hashing.Domain("pot/statistical-evidence/v1", SubmissionId, Verifier, [(byte)FailedCheck],
                Hashing.U64(BitConverter.SingleToUInt32Bits(LossBefore)), Hashing.U64(BitConverter.SingleToUInt32Bits(LossAfter)), Hashing.U64(BitConverter.SingleToUInt32Bits(OwnImprovement)));
        }
        return new AttestPayload(SubmissionId, Accept, ReplayedSteps.Select(x => (uint)x).ToArray(), SampledLeaves.Select(x => (uint)x).ToArray(), evidence,
            (byte)FailedCheck, Bits(LossBefore), Bits(LossAfter), Bits(OwnImprovement));
    }

    /// <summary>The chain carries finite floats only: a diverged measurement (NaN, ±∞) is sent as ±float.MaxValue (NaN as +MaxValue, the worst loss).</summary>
    private static uint Bits(float value) => BitConverter.SingleToUInt32Bits(float.IsFinite(value) ? value : float.IsNegativeInfinity(value) ? -float.MaxValue : float.MaxValue);

    /// <summary>The attestation a chain record describes (unsigned: the chain transaction carried the signature).</summary>
    /// <param name="submissionId">The submission.</param>
    /// <param name="record">The recorded attestation.</param>
    /// <param name="verifierPublicKey">The verifier's public key (from its account).</param>
    /// <returns>The attestation.</returns>
    public static Attestation FromChain(byte[] submissionId, AttestationRecord record, byte[] verifierPublicKey)
    {
        ArgumentNullException.ThrowIfNull(record);
        return new Attestation(submissionId, verifierPublicKey, record.Accept, (CheckKind)record.FailedCheck,
            (record.ReplayedSteps ?? []).Select(x => (int)x).ToArray(), (record.SampledLeaves ?? []).Select(x => (int)x).ToArray(),
            BitConverter.UInt32BitsToSingle(record.LossBeforeBits), BitConverter.UInt32BitsToSingle(record.LossAfterBits),
            BitConverter.UInt32BitsToSingle(record.OwnImprovementBits), record.EvidenceHash, []);
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

    /// <summary>The chain evidence: body ‖ signature (64 bytes).</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode() => [.. Body(), .. Signature];

    /// <summary>Decodes <see cref="Encode"/>'s output, rejecting every non-canonical form.</summary>
    /// <param name="evidence">The bytes (at most the chain's evidence limit).</param>
    /// <returns>The proof.</returns>
    /// <exception cref="PotFormatException">Malformed evidence.</exception>
    public static FraudProof Decode(ReadOnlySpan<byte> evidence)
    {
        var r = new CanonicalReader(evidence, "fraud proof");
        if (r.ReadByte("version") != 1)
        {
            throw r.Error("fraud proof version is not 1");
        }
        byte kind = r.ReadByte("kind");
        if (kind is < 1 or > 4)
        {
            throw r.Error($"fraud proof kind {kind}; expected 1 to 4");
        }
        byte[] id = r.ReadFixed(32, "submission id").ToArray();
        byte[] prover = r.ReadFixed(32, "prover").ToArray();
        int index = r.ReadVarInt32(int.MaxValue, "index");
        const int max = 1 << 20;
        byte[] trace = r.ReadBytes(max, "trace blob").ToArray();
        byte[] state = r.ReadBytes(max, "state blob").ToArray();
        int values = r.ReadVarInt32(4096, "final leaf value count");
        var finalLeaf = new float[values];
        for (int i = 0; i < values; i++)
        {
            finalLeaf[i] = BitConverter.UInt32BitsToSingle(r.ReadUInt32LittleEndian("final leaf value"));
        }
        byte[] finalProof = r.ReadBytes(max, "final leaf proof").ToArray();
        byte[] updateLeaf = r.ReadBytes(max, "update leaf").ToArray();
        byte[] updateProof = r.ReadBytes(max, "update leaf proof").ToArray();
        byte[] other = r.ReadBytes(64, "other submission").ToArray();
        byte[] signature = r.ReadFixed(64, "signature").ToArray();
        r.EnsureEnd();
        return new FraudProof((FraudKind)kind, id, prover, index, trace, state, finalLeaf, finalProof, updateLeaf, updateProof, other, signature);
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
