using Pot.Commitments;
using Pot.Commitments.Canonical;
using Pot.Commitments.Keys;

namespace Pot.Chain.Transactions;

/// <summary>Transaction type tags, the byte after the chain id in the encoding.</summary>
public enum TransactionType : byte
{
    /// <summary>Move balance to another account.</summary>
    Transfer = 1,

    /// <summary>Move balance into stake.</summary>
    Bond = 2,

    /// <summary>Move stake into the unbonding queue; released after the unbonding delay.</summary>
    Unbond = 3,

    /// <summary>Take on a role (validator, miner or verifier); needs the role's minimum stake.</summary>
    RegisterRole = 4,

    /// <summary>Create a training task and escrow its reward budget.</summary>
    CreateTask = 5,

    /// <summary>A miner's commitment roots for one round of a task.</summary>
    Submit = 6,

    /// <summary>A verifier's verdict on a submission.</summary>
    Attest = 7,

    /// <summary>Evidence that a submission is fraudulent, judged by <see cref="Protocol.IProtocolRules"/>.</summary>
    FraudProof = 8,

    /// <summary>Close a task's round: new model root, accepted and rejected submissions, rewards, slashes.</summary>
    FinalizeRound = 9,
}

/// <summary>Roles an account can hold (a bit set; one account may hold several).</summary>
[Flags]
public enum Roles : byte
{
    /// <summary>No role.</summary>
    None = 0,

    /// <summary>Orders and executes blocks; member of the validator set.</summary>
    Validator = 1,

    /// <summary>Trains and submits updates.</summary>
    Miner = 2,

    /// <summary>Checks submissions and attests.</summary>
    Verifier = 4,
}

/// <summary>The type-specific part of a transaction.</summary>
public abstract record TransactionPayload
{
    /// <summary>The type tag of this payload.</summary>
    public abstract TransactionType Type { get; }

    /// <summary>Writes the canonical encoding of the payload (without the type tag).</summary>
    /// <param name="w">The writer.</param>
    public abstract void Write(CanonicalWriter w);

    /// <summary>Reads a payload of the given type, rejecting non-canonical forms.</summary>
    /// <param name="type">The type tag (already read).</param>
    /// <param name="r">The reader.</param>
    /// <returns>The payload.</returns>
    /// <exception cref="PotFormatException">Malformed payload or unknown type.</exception>
    public static TransactionPayload Read(byte type, ref CanonicalReader r) => (TransactionType)type switch
    {
        TransactionType.Transfer => new TransferPayload(r.ReadFixed(AccountAddress.Size, "transfer recipient").ToArray(), r.ReadVarUInt64(ulong.MaxValue, "transfer amount")),
        TransactionType.Bond => new BondPayload(r.ReadVarUInt64(ulong.MaxValue, "bond amount")),
        TransactionType.Unbond => new UnbondPayload(r.ReadVarUInt64(ulong.MaxValue, "unbond amount")),
        TransactionType.RegisterRole => RegisterRolePayload.ReadBody(ref r),
        TransactionType.CreateTask => CreateTaskPayload.ReadBody(ref r),
        TransactionType.Submit => SubmitPayload.ReadBody(ref r),
        TransactionType.Attest => AttestPayload.ReadBody(ref r),
        TransactionType.FraudProof => new FraudProofPayload(r.ReadFixed(32, "fraud proof submission id").ToArray(), r.ReadFixed(32, "fraud proof reference").ToArray(), r.ReadBytes(ChainLimits.MaxEvidenceBytes, "fraud proof evidence").ToArray()),
        TransactionType.FinalizeRound => FinalizeRoundPayload.ReadBody(ref r),
        _ => throw r.Error($"transaction type {type} is unknown; expected 1 (transfer) to 9 (finalize round)"),
    };

    /// <summary>The canonical encoding of the payload alone.</summary>
    /// <returns>The bytes.</returns>
    public byte[] EncodeBody()
    {
        var w = new CanonicalWriter(64);
        Write(w);
        return w.ToArray();
    }

    internal static IReadOnlyList<uint> ReadAscendingU32(ref CanonicalReader r, int max, string field)
    {
        int count = r.ReadVarInt32(max, field + " count");
        var list = new uint[count];
        for (int i = 0; i < count; i++)
        {
            list[i] = (uint)r.ReadVarUInt64(uint.MaxValue, field);
            if (i > 0 && list[i] <= list[i - 1])
            {
                throw r.Error($"{field} {i} is {list[i]}; expected strictly ascending indices");
            }
        }
        return list;
    }

    internal static IReadOnlyList<byte[]> ReadAscendingHashes(ref CanonicalReader r, int max, string field)
    {
        int count = r.ReadVarInt32(max, field + " count");
        var list = new byte[count][];
        for (int i = 0; i < count; i++)
        {
            list[i] = r.ReadFixed(32, field).ToArray();
            if (i > 0 && ByteOrder.Compare(list[i], list[i - 1]) <= 0)
            {
                throw r.Error($"{field} {i} is not above the previous one; expected strictly ascending ids");
            }
        }
        return list;
    }
}

/// <summary>Transfer <paramref name="Amount"/> from the sender's balance to <paramref name="To"/>.</summary>
/// <param name="To">20-byte recipient address.</param>
/// <param name="Amount">Amount in base units.</param>
public sealed record TransferPayload(byte[] To, ulong Amount) : TransactionPayload
{
    /// <inheritdoc/>
    public override TransactionType Type => TransactionType.Transfer;

    /// <inheritdoc/>
    public override void Write(CanonicalWriter w)
    {
        w.WriteFixed(To);
        w.WriteVarUInt64(Amount);
    }
}

/// <summary>Move <paramref name="Amount"/> from balance to stake.</summary>
/// <param name="Amount">Amount in base units.</param>
public sealed record BondPayload(ulong Amount) : TransactionPayload
{
    /// <inheritdoc/>
    public override TransactionType Type => TransactionType.Bond;

    /// <inheritdoc/>
    public override void Write(CanonicalWriter w) => w.WriteVarUInt64(Amount);
}

/// <summary>Move <paramref name="Amount"/> from stake into the unbonding queue.</summary>
/// <param name="Amount">Amount in base units.</param>
public sealed record UnbondPayload(ulong Amount) : TransactionPayload
{
    /// <inheritdoc/>
    public override TransactionType Type => TransactionType.Unbond;

    /// <inheritdoc/>
    public override void Write(CanonicalWriter w) => w.WriteVarUInt64(Amount);
}

/// <summary>Register exactly one role for the sender.</summary>
/// <param name="Role">A single role bit.</param>
public sealed record RegisterRolePayload(Roles Role) : TransactionPayload
{
    /// <inheritdoc/>
    public override TransactionType Type => TransactionType.RegisterRole;

    /// <inheritdoc/>
    public override void Write(CanonicalWriter w) => w.WriteByte((byte)Role);

    internal static RegisterRolePayload ReadBody(ref CanonicalReader r)
    {
        byte role = r.ReadByte("role");
        if (role is not (1 or 2 or 4))
        {
            throw r.Error($"role is {role}; expected 1 (validator), 2 (miner) or 4 (verifier)");
        }
        return new RegisterRolePayload((Roles)role);
    }
}

/// <summary>A task's verification parameters (DESIGN §4).</summary>
/// <param name="VerifiersPerSubmission">c: verifiers assigned to each submission.</param>
/// <param name="ReplayedSteps">k: inner steps re-executed per check.</param>
/// <param name="SampledLeaves">s: model leaves checked per check.</param>
/// <param name="LossMarginBits">ε: required loss improvement, as the bits of an IEEE-754 float32.</param>
/// <param name="WindowBlocks">W: blocks after a round starts before it may be finalized.</param>
public sealed record VerificationParameters(uint VerifiersPerSubmission, uint ReplayedSteps, uint SampledLeaves, uint LossMarginBits, ulong WindowBlocks)
{
    /// <summary>Writes the canonical encoding.</summary>
    /// <param name="w">The writer.</param>
    public void Write(CanonicalWriter w)
    {
        w.WriteVarUInt64(VerifiersPerSubmission);
        w.WriteVarUInt64(ReplayedSteps);
        w.WriteVarUInt64(SampledLeaves);
        w.WriteUInt32LittleEndian(LossMarginBits);
        w.WriteVarUInt64(WindowBlocks);
    }

    /// <summary>Reads the canonical encoding.</summary>
    /// <param name="r">The reader.</param>
    /// <returns>The parameters.</returns>
    public static VerificationParameters Read(ref CanonicalReader r)
    {
        var p = new VerificationParameters(
            (uint)r.ReadVarUInt64(1024, "verifiers per submission"),
            (uint)r.ReadVarUInt64(1 << 20, "replayed steps"),
            (uint)r.ReadVarUInt64(1 << 20, "sampled leaves"),
            r.ReadUInt32LittleEndian("loss margin"),
            r.ReadVarUInt64(ulong.MaxValue, "window blocks"));
        if (!float.IsFinite(BitConverter.UInt32BitsToSingle(p.LossMarginBits)))
        {
            throw r.Error("loss margin is not a finite float32");
        }
        return p;
    }
}

/// <summary>Create a task; <paramref name="Budget"/> is escrowed from the sender, the task's owner.</summary>
/// <param name="ModelSpec">Architecture and sizes, opaque bytes (at most <see cref="ChainLimits.MaxModelSpecBytes"/>).</param>
/// <param name="DatasetCommitment">Merkle root over the dataset shards.</param>
/// <param name="InitialModelRoot">Root of the round-0 model (for a seeded init, the root of the model that seed produces).</param>
/// <param name="InitSeed">Seed of the initialisation for pretraining; null for fine-tuning an existing model.</param>
/// <param name="HyperParameters">Opaque canonical hyper-parameter bytes (H, batch, optimizers, learning rates, quantization).</param>
/// <param name="Verification">Verification parameters.</param>
/// <param name="RewardPerRound">Reward paid out per finalized round (at most what is left in escrow).</param>
/// <param name="Budget">Total reward budget escrowed now.</param>
public sealed record CreateTaskPayload(byte[] ModelSpec, byte[] DatasetCommitment, byte[] InitialModelRoot, ulong? InitSeed, byte[] HyperParameters,
    VerificationParameters Verification, ulong RewardPerRound, ulong Budget) : TransactionPayload
{
    /// <inheritdoc/>
    public override TransactionType Type => TransactionType.CreateTask;

    /// <inheritdoc/>
    public override void Write(CanonicalWriter w)
    {
        w.WriteBytes(ModelSpec);
        w.WriteFixed(DatasetCommitment);
        w.WriteFixed(InitialModelRoot);
        w.WriteBool(InitSeed.HasValue);
        if (InitSeed is ulong seed)
        {
            w.WriteUInt64LittleEndian(seed);
        }
        w.WriteBytes(HyperParameters);
        Verification.Write(w);
        w.WriteVarUInt64(RewardPerRound);
        w.WriteVarUInt64(Budget);
    }

    internal static CreateTaskPayload ReadBody(ref CanonicalReader r)
    {
        byte[] spec = r.ReadBytes(ChainLimits.MaxModelSpecBytes, "model spec").ToArray();
        byte[] dataset = r.ReadFixed(32, "dataset commitment").ToArray();
        byte[] root = r.ReadFixed(32, "initial model root").ToArray();
        ulong? seed = r.ReadBool("has init seed") ? r.ReadUInt64LittleEndian("init seed") : null;
        byte[] hyper = r.ReadBytes(ChainLimits.MaxHyperParameterBytes, "hyper-parameters").ToArray();
        var verification = VerificationParameters.Read(ref r);
        return new CreateTaskPayload(spec, dataset, root, seed, hyper, verification, r.ReadVarUInt64(ulong.MaxValue, "reward per round"), r.ReadVarUInt64(ulong.MaxValue, "budget"));
    }
}

/// <summary>A miner's submission for round <paramref name="Round"/> of task <paramref name="TaskId"/>: commitment roots only, the blobs live off-chain.</summary>
/// <param name="TaskId">Task id.</param>
/// <param name="Round">Round the submission is for (must be the task's current round).</param>
/// <param name="BaseRoot">Root of the model the miner started from (must equal the task's current model root).</param>
/// <param name="UpdateRoot">Root of the quantized update q_m.</param>
/// <param name="TraceRoot">Root of the training trace commitments.</param>
/// <param name="ClaimedLossBits">Claimed train losses as float32 bits, one per inner step (finite values).</param>
/// <param name="SampleCount">Number of training samples the miner used.</param>
public sealed record SubmitPayload(ulong TaskId, ulong Round, byte[] BaseRoot, byte[] UpdateRoot, byte[] TraceRoot, IReadOnlyList<uint> ClaimedLossBits, ulong SampleCount) : TransactionPayload
{
    /// <inheritdoc/>
    public override TransactionType Type => TransactionType.Submit;

    /// <inheritdoc/>
    public override void Write(CanonicalWriter w)
    {
        w.WriteVarUInt64(TaskId);
        w.WriteVarUInt64(Round);
        w.WriteFixed(BaseRoot);
        w.WriteFixed(UpdateRoot);
        w.WriteFixed(TraceRoot);
        w.WriteVarUInt64((ulong)ClaimedLossBits.Count);
        foreach (uint bits in ClaimedLossBits)
        {
            w.WriteUInt32LittleEndian(bits);
        }
        w.WriteVarUInt64(SampleCount);
    }

    internal static SubmitPayload ReadBody(ref CanonicalReader r)
    {
        ulong task = r.ReadVarUInt64(ulong.MaxValue, "task id");
        ulong round = r.ReadVarUInt64(ulong.MaxValue, "round");
        byte[] baseRoot = r.ReadFixed(32, "base root").ToArray();
        byte[] updateRoot = r.ReadFixed(32, "update root").ToArray();
        byte[] traceRoot = r.ReadFixed(32, "trace root").ToArray();
        int count = r.ReadVarInt32(ChainLimits.MaxClaimedLosses, "claimed loss count");
        var losses = new uint[count];
        for (int i = 0; i < count; i++)
        {
            losses[i] = r.ReadUInt32LittleEndian("claimed loss");
            if (!float.IsFinite(BitConverter.UInt32BitsToSingle(losses[i])))
            {
                throw r.Error($"claimed loss {i} is not a finite float32");
            }
        }
        return new SubmitPayload(task, round, baseRoot, updateRoot, traceRoot, losses, r.ReadVarUInt64(ulong.MaxValue, "sample count"));
    }
}

/// <summary>A verifier's attestation on a submission.</summary>
/// <param name="SubmissionId">The submission's id (the hash of its submit transaction).</param>
/// <param name="Accept">Verdict: true accepts, false rejects.</param>
/// <param name="ReplayedSteps">Inner-step indices that were re-executed (strictly ascending).</param>
/// <param name="SampledLeaves">Model-leaf indices that were checked (strictly ascending).</param>
/// <param name="EvidenceHash">SHA-256 of the evidence of a reject (must be non-zero then); all zero for an accept.</param>
/// <param name="FailedCheck">Protocol code of the first failing check of a reject (0 for an accept; the protocol rules give it meaning).</param>
/// <param name="LossBeforeBits">Measured loss of θ_r on the challenge-chosen batch, float32 bits (finite).</param>
/// <param name="LossAfterBits">Measured loss of θ_r − deq(q) on the same batch, float32 bits (finite).</param>
/// <param name="OwnImprovementBits">Measured improvement on the miner's own batch, float32 bits (finite).</param>
public sealed record AttestPayload(byte[] SubmissionId, bool Accept, IReadOnlyList<uint> ReplayedSteps, IReadOnlyList<uint> SampledLeaves, byte[] EvidenceHash,
    byte FailedCheck = 0, uint LossBeforeBits = 0, uint LossAfterBits = 0, uint OwnImprovementBits = 0) : TransactionPayload
{
    /// <inheritdoc/>
    public override TransactionType Type => TransactionType.Attest;

    /// <inheritdoc/>
    public override void Write(CanonicalWriter w)
    {
        w.WriteFixed(SubmissionId);
        w.WriteBool(Accept);
        w.WriteByte(FailedCheck);
        WriteU32List(w, ReplayedSteps);
        WriteU32List(w, SampledLeaves);
        w.WriteUInt32LittleEndian(LossBeforeBits);
        w.WriteUInt32LittleEndian(LossAfterBits);
        w.WriteUInt32LittleEndian(OwnImprovementBits);
        w.WriteFixed(EvidenceHash);
    }

    internal static void WriteU32List(CanonicalWriter w, IReadOnlyList<uint> list)
    {
        w.WriteVarUInt64((ulong)list.Count);
        foreach (uint s in list)
        {
            w.WriteVarUInt64(s);
        }
    }

    internal static uint ReadFiniteFloatBits(ref CanonicalReader r, string field)
    {
        uint bits = r.ReadUInt32LittleEndian(field);
        if (!float.IsFinite(BitConverter.UInt32BitsToSingle(bits)))
        {
            throw r.Error($"{field} is not a finite float32");
        }
        return bits;
    }

    internal static AttestPayload ReadBody(ref CanonicalReader r)
    {
        byte[] id = r.ReadFixed(32, "submission id").ToArray();
        bool accept = r.ReadBool("verdict");
        byte failed = r.ReadByte("failed check");
        var steps = ReadAscendingU32(ref r, ChainLimits.MaxAttestationChecks, "replayed step");
        var leaves = ReadAscendingU32(ref r, ChainLimits.MaxAttestationChecks, "sampled leaf");
        if (steps.Count + leaves.Count > ChainLimits.MaxAttestationChecks)
        {
            throw r.Error($"{steps.Count + leaves.Count} checks; at most {ChainLimits.MaxAttestationChecks} per attestation");
        }
        uint before = ReadFiniteFloatBits(ref r, "loss before");
        uint after = ReadFiniteFloatBits(ref r, "loss after");
        uint own = ReadFiniteFloatBits(ref r, "own improvement");
        return new AttestPayload(id, accept, steps, leaves, r.ReadFixed(32, "evidence hash").ToArray(), failed, before, after, own);
    }
}

/// <summary>A fraud proof against a submission: opaque evidence judged by the protocol rules.</summary>
/// <param name="SubmissionId">The accused submission.</param>
/// <param name="Reference">What the evidence refers to (for example a step's state root or a leaf's hash).</param>
/// <param name="Evidence">Opaque evidence bytes (at most <see cref="ChainLimits.MaxEvidenceBytes"/>).</param>
public sealed record FraudProofPayload(byte[] SubmissionId, byte[] Reference, byte[] Evidence) : TransactionPayload
{
    /// <inheritdoc/>
    public override TransactionType Type => TransactionType.FraudProof;

    /// <inheritdoc/>
    public override void Write(CanonicalWriter w)
    {
        w.WriteFixed(SubmissionId);
        w.WriteFixed(Reference);
        w.WriteBytes(Evidence);
    }
}

/// <summary>A payment to an address.</summary>
/// <param name="Address">20-byte address.</param>
/// <param name="Amount">Amount in base units.</param>
public sealed record Payout(byte[] Address, ulong Amount);

/// <summary>A slash of an address's stake.</summary>
/// <param name="Offender">20-byte address whose stake is cut.</param>
/// <param name="Amount">Amount cut from the stake.</param>
/// <param name="Beneficiary">The fraud prover who receives the non-burned share, or null (all burned).</param>
public sealed record SlashEntry(byte[] Offender, ulong Amount, byte[]? Beneficiary);

/// <summary>Close round <paramref name="Round"/> of a task. The lists must equal what <see cref="Protocol.IProtocolRules"/> computes.</summary>
/// <param name="TaskId">Task id.</param>
/// <param name="Round">The round being closed (the task's current round).</param>
/// <param name="NewModelRoot">Root of the aggregated model θ_{r+1} (equal to the old root when nothing was accepted).</param>
/// <param name="Accepted">Accepted submission ids, strictly ascending.</param>
/// <param name="Rejected">Rejected submission ids, strictly ascending.</param>
/// <param name="Rewards">Payouts from the task's escrow, strictly ascending by address.</param>
/// <param name="Slashes">Stake slashes, strictly ascending by offender.</param>
public sealed record FinalizeRoundPayload(ulong TaskId, ulong Round, byte[] NewModelRoot, IReadOnlyList<byte[]> Accepted, IReadOnlyList<byte[]> Rejected,
    IReadOnlyList<Payout> Rewards, IReadOnlyList<SlashEntry> Slashes) : TransactionPayload
{
    /// <inheritdoc/>
    public override TransactionType Type => TransactionType.FinalizeRound;

    /// <inheritdoc/>
    public override void Write(CanonicalWriter w)
    {
        w.WriteVarUInt64(TaskId);
        w.WriteVarUInt64(Round);
        w.WriteFixed(NewModelRoot);
        WriteOutcome(w, Accepted, Rejected, Rewards, Slashes);
    }

    /// <summary>Writes the outcome part (lists) of a finalization; also used to compare outcomes byte for byte.</summary>
    /// <param name="w">The writer.</param>
    /// <param name="accepted">Accepted ids.</param>
    /// <param name="rejected">Rejected ids.</param>
    /// <param name="rewards">Rewards.</param>
    /// <param name="slashes">Slashes.</param>
    public static void WriteOutcome(CanonicalWriter w, IReadOnlyList<byte[]> accepted, IReadOnlyList<byte[]> rejected, IReadOnlyList<Payout> rewards, IReadOnlyList<SlashEntry> slashes)
    {
        ArgumentNullException.ThrowIfNull(w);
        foreach (var list in new[] { accepted, rejected })
        {
            w.WriteVarUInt64((ulong)list.Count);
            foreach (byte[] id in list)
            {
                w.WriteFixed(id);
            }
        }
        w.WriteVarUInt64((ulong)rewards.Count);
        foreach (var p in rewards)
        {
            w.WriteFixed(p.Address);
            w.WriteVarUInt64(p.Amount);
        }
        w.WriteVarUInt64((ulong)slashes.Count);
        foreach (var s in slashes)
        {
            w.WriteFixed(s.Offender);
            w.WriteVarUInt64(s.Amount);
            w.WriteBool(s.Beneficiary is not null);
            if (s.Beneficiary is not null)
            {
                w.WriteFixed(s.Beneficiary);
            }
        }
    }

    internal static FinalizeRoundPayload ReadBody(ref CanonicalReader r)
    {
        ulong task = r.ReadVarUInt64(ulong.MaxValue, "task id");
        ulong round = r.ReadVarUInt64(ulong.MaxValue, "round");
        byte[] root = r.ReadFixed(32, "new model root").ToArray();
        var accepted = ReadAscendingHashes(ref r, ChainLimits.MaxSubmissionsPerRound, "accepted submission");
        var rejected = ReadAscendingHashes(ref r, ChainLimits.MaxSubmissionsPerRound, "rejected submission");
        int rewardCount = r.ReadVarInt32(ChainLimits.MaxSubmissionsPerRound * 2, "reward count");
        var rewards = new Payout[rewardCount];
        for (int i = 0; i < rewardCount; i++)
        {
            rewards[i] = new Payout(r.ReadFixed(AccountAddress.Size, "reward address").ToArray(), r.ReadVarUInt64(ulong.MaxValue, "reward amount"));
            if (i > 0 && ByteOrder.Compare(rewards[i].Address, rewards[i - 1].Address) <= 0)
            {
                throw r.Error($"reward {i}: addresses must be strictly ascending");
            }
        }
        int slashCount = r.ReadVarInt32(ChainLimits.MaxSubmissionsPerRound * 2, "slash count");
        var slashes = new SlashEntry[slashCount];
        for (int i = 0; i < slashCount; i++)
        {
            byte[] offender = r.ReadFixed(AccountAddress.Size, "slash offender").ToArray();
            ulong amount = r.ReadVarUInt64(ulong.MaxValue, "slash amount");
            byte[]? beneficiary = r.ReadBool("slash has beneficiary") ? r.ReadFixed(AccountAddress.Size, "slash beneficiary").ToArray() : null;
            slashes[i] = new SlashEntry(offender, amount, beneficiary);
            if (i > 0 && ByteOrder.Compare(offender, slashes[i - 1].Offender) <= 0)
            {
                throw r.Error($"slash {i}: offenders must be strictly ascending");
            }
        }
        return new FinalizeRoundPayload(task, round, root, accepted, rejected, rewards, slashes);
    }
}
