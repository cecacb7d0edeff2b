using System.Buffers.Binary;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Canonical;
using Pot.Commitments.Keys;

namespace Pot.Chain.State;

/// <summary>
/// The keys of the state map. Every key starts with a one-byte prefix naming the record kind; integers
/// inside keys are big-endian so that byte order equals numeric order.
/// </summary>
public static class StateKeys
{
    /// <summary>Prefix of singleton records (meta, parameters, validator set).</summary>
    public const byte GlobalPrefix = 0x00;

    /// <summary>Prefix of accounts: 0x01 ‖ address (20).</summary>
    public const byte AccountPrefix = 0x01;

    /// <summary>Prefix of unbonding batches: 0x02 ‖ release height (8, BE).</summary>
    public const byte UnbondingPrefix = 0x02;

    /// <summary>Prefix of task records: 0x03 ‖ task id (8, BE) ‖ 0x00 (static info) or 0x01 (round state).</summary>
    public const byte TaskPrefix = 0x03;

    /// <summary>Prefix of submissions: 0x04 ‖ submission id (32).</summary>
    public const byte SubmissionPrefix = 0x04;

    /// <summary>Prefix of a round's pending list: 0x05 ‖ task id (8, BE) ‖ index (4, BE) → submission id.</summary>
    public const byte PendingPrefix = 0x05;

    /// <summary>Prefix of the one-submission-per-miner index: 0x06 ‖ task id ‖ round (8, BE) ‖ miner (20) → submission id.</summary>
    public const byte MinerRoundPrefix = 0x06;

    /// <summary>Prefix of upheld fraud proofs: 0x07 ‖ submission id (32).</summary>
    public const byte FraudProofPrefix = 0x07;

    /// <summary>Prefix of slashing records: 0x08 ‖ address (20).</summary>
    public const byte SlashRecordPrefix = 0x08;

    /// <summary>Prefix of the update-root index: 0x09 ‖ update root (32) → id of the first submission that carried it.</summary>
    public const byte UpdateRootPrefix = 0x09;

    /// <summary>Prefix of each miner's last accepted submission in a task: 0x0A ‖ task id (8, BE) ‖ miner (20) → <see cref="State.LastAccepted"/>.</summary>
    public const byte LastAcceptedPrefix = 0x0A;

    /// <summary>Key of the list of submissions included in the latest block whose challenge opens at the next block.</summary>
    public static byte[] AwaitingChallenge => [GlobalPrefix, 0x04];

    /// <summary>Key of the update-root index entry.</summary>
    /// <param name="updateRoot">32-byte update root.</param>
    /// <returns>The key.</returns>
    public static byte[] UpdateRoot(ReadOnlySpan<byte> updateRoot) => Concat(UpdateRootPrefix, updateRoot);

    /// <summary>Key of the chain meta record.</summary>
    public static byte[] Meta => [GlobalPrefix, 0x01];

    /// <summary>Key of the chain parameters.</summary>
    public static byte[] Parameters => [GlobalPrefix, 0x02];

    /// <summary>Key of the validator set.</summary>
    public static byte[] ValidatorSet => [GlobalPrefix, 0x03];

    /// <summary>Key of an account.</summary>
    /// <param name="address">20-byte address.</param>
    /// <returns>The key.</returns>
    public static byte[] Account(ReadOnlySpan<byte> address) => Concat(AccountPrefix, address);

    /// <summary>Key of the unbonding batch released at a height.</summary>
    /// <param name="releaseHeight">The height.</param>
    /// <returns>The key.</returns>
    public static byte[] Unbonding(ulong releaseHeight) => Concat(UnbondingPrefix, BigEndian(releaseHeight));

    /// <summary>Key of a task's static information.</summary>
    /// <param name="taskId">Task id.</param>
    /// <returns>The key.</returns>
    public static byte[] TaskInfo(ulong taskId) => [.. Concat(TaskPrefix, BigEndian(taskId)), 0x00];

    /// <summary>Key of a task's round state (round, model root, escrow).</summary>
    /// <param name="taskId">Task id.</param>
    /// <returns>The key.</returns>
    public static byte[] TaskRound(ulong taskId) => [.. Concat(TaskPrefix, BigEndian(taskId)), 0x01];

    /// <summary>Key of a submission.</summary>
    /// <param name="submissionId">32-byte id.</param>
    /// <returns>The key.</returns>
    public static byte[] Submission(ReadOnlySpan<byte> submissionId) => Concat(SubmissionPrefix, submissionId);

    /// <summary>Key of entry <paramref name="index"/> of a task's pending list.</summary>
    /// <param name="taskId">Task id.</param>
    /// <param name="index">Index in arrival order.</param>
    /// <returns>The key.</returns>
    public static byte[] Pending(ulong taskId, uint index)
    {
        var key = new byte[13];
        key[0] = PendingPrefix;
        BinaryPrimitives.WriteUInt64BigEndian(key.AsSpan(1), taskId);
        BinaryPrimitives.WriteUInt32BigEndian(key.AsSpan(9), index);
        return key;
    }

    /// <summary>Key of the (task, round, miner) index.</summary>
    /// <param name="taskId">Task id.</param>
    /// <param name="round">Round.</param>
    /// <param name="miner">20-byte miner address.</param>
    /// <returns>The key.</returns>
    public static byte[] MinerRound(ulong taskId, ulong round, ReadOnlySpan<byte> miner)
    {
        var key = new byte[17 + AccountAddress.Size];
        key[0] = MinerRoundPrefix;
        BinaryPrimitives.WriteUInt64BigEndian(key.AsSpan(1), taskId);
        BinaryPrimitives.WriteUInt64BigEndian(key.AsSpan(9), round);
        miner.CopyTo(key.AsSpan(17));
        return key;
    }

    /// <summary>Key of the upheld fraud proof against a submission.</summary>
    /// <param name="submissionId">32-byte id.</param>
    /// <returns>The key.</returns>
    public static byte[] FraudProof(ReadOnlySpan<byte> submissionId) => Concat(FraudProofPrefix, submissionId);

    /// <summary>Key of a miner's last accepted submission in a task.</summary>
    /// <param name="taskId">Task id.</param>
    /// <param name="miner">20-byte miner address.</param>
    /// <returns>The key.</returns>
    public static byte[] LastAccepted(ulong taskId, ReadOnlySpan<byte> miner)
    {
        var key = new byte[9 + AccountAddress.Size];
        key[0] = LastAcceptedPrefix;
        BinaryPrimitives.WriteUInt64BigEndian(key.AsSpan(1), taskId);
        miner.CopyTo(key.AsSpan(9));
        return key;
    }

    /// <summary>Key of an address's slashing record.</summary>
    /// <param name="address">20-byte address.</param>
    /// <returns>The key.</returns>
    public static byte[] SlashRecord(ReadOnlySpan<byte> address) => Concat(SlashRecordPrefix, address);

    private static byte[] BigEndian(ulong value)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, value);
        return b;
    }

    private static byte[] Concat(byte prefix, ReadOnlySpan<byte> rest)
    {
        var key = new byte[1 + rest.Length];
        key[0] = prefix;
        rest.CopyTo(key.AsSpan(1));
        return key;
    }
}

/// <summary>Chain-wide counters.</summary>
/// <param name="Height">Height of the last applied block (0 after genesis).</param>
/// <param name="TimeMs">Time of the last applied block in Unix milliseconds.</param>
/// <param name="NextTaskId">Id the next created task receives.</param>
/// <param name="TotalSupply">Tokens created at genesis; never changes (no inflation).</param>
/// <param name="Burned">Tokens destroyed so far (burned fees and slashes). Holdings + burned = total supply.</param>
public sealed record ChainMeta(ulong Height, ulong TimeMs, ulong NextTaskId, ulong TotalSupply, ulong Burned)
{
    /// <summary>Canonical encoding.</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode()
    {
        var w = new CanonicalWriter(48);
        w.WriteVarUInt64(Height);
        w.WriteVarUInt64(TimeMs);
        w.WriteVarUInt64(NextTaskId);
        w.WriteVarUInt64(TotalSupply);
        w.WriteVarUInt64(Burned);
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="Encode"/>'s output.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The record.</returns>
    public static ChainMeta Decode(ReadOnlySpan<byte> data)
    {
        var r = new CanonicalReader(data, "chain meta");
        var m = new ChainMeta(r.ReadVarUInt64(ulong.MaxValue, "height"), r.ReadVarUInt64(ulong.MaxValue, "time"), r.ReadVarUInt64(ulong.MaxValue, "next task id"),
            r.ReadVarUInt64(ulong.MaxValue, "total supply"), r.ReadVarUInt64(ulong.MaxValue, "burned"));
        r.EnsureEnd();
        return m;
    }
}

/// <summary>An account.</summary>
/// <param name="Balance">Spendable balance.</param>
/// <param name="Nonce">Number of transactions the account has sent.</param>
/// <param name="Stake">Bonded stake.</param>
/// <param name="Roles">Registered roles.</param>
/// <param name="PublicKey">The account's Ed25519 public key once it has signed a transaction or was listed in genesis; null before.</param>
public sealed record Account(ulong Balance, ulong Nonce, ulong Stake, Roles Roles, byte[]? PublicKey)
{
    /// <summary>An account that does not exist yet.</summary>
    public static Account Empty { get; } = new(0, 0, 0, Roles.None, null);

    /// <summary>True when every field is zero (such an account is not stored).</summary>
    public bool IsEmpty => Balance == 0 && Nonce == 0 && Stake == 0 && Roles == Roles.None && PublicKey is null;

    /// <summary>Canonical encoding.</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode()
    {
        var w = new CanonicalWriter(64);
        w.WriteVarUInt64(Balance);
        w.WriteVarUInt64(Nonce);
        w.WriteVarUInt64(Stake);
        w.WriteByte((byte)Roles);
        w.WriteBool(PublicKey is not null);
        if (PublicKey is not null)
        {
            w.WriteFixed(PublicKey);
        }
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="Encode"/>'s output.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The account.</returns>
    public static Account Decode(ReadOnlySpan<byte> data)
    {
        var r = new CanonicalReader(data, "account");
        ulong balance = r.ReadVarUInt64(ulong.MaxValue, "balance");
        ulong nonce = r.ReadVarUInt64(ulong.MaxValue, "nonce");
        ulong stake = r.ReadVarUInt64(ulong.MaxValue, "stake");
        byte roles = r.ReadByte("roles");
        if (roles > 7)
        {
            throw r.Error($"roles 0x{roles:x2}; expected a combination of 1, 2 and 4");
        }
        byte[]? key = r.ReadBool("has public key") ? r.ReadFixed(32, "public key").ToArray() : null;
        r.EnsureEnd();
        return new Account(balance, nonce, stake, (Roles)roles, key);
    }
}

/// <summary>Stake released to balances at one height, sorted by address.</summary>
/// <param name="Entries">(address, amount) pairs, strictly ascending by address.</param>
public sealed record UnbondingBatch(IReadOnlyList<Payout> Entries)
{
    /// <summary>Canonical encoding.</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode()
    {
        var w = new CanonicalWriter(8 + Entries.Count * 30);
        w.WriteVarUInt64((ulong)Entries.Count);
        foreach (var e in Entries)
        {
            w.WriteFixed(e.Address);
            w.WriteVarUInt64(e.Amount);
        }
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="Encode"/>'s output.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The batch.</returns>
    public static UnbondingBatch Decode(ReadOnlySpan<byte> data)
    {
        var r = new CanonicalReader(data, "unbonding batch");
        int count = r.ReadVarInt32(1 << 20, "entry count");
        var list = new Payout[count];
        for (int i = 0; i < count; i++)
        {
            list[i] = new Payout(r.ReadFixed(AccountAddress.Size, "address").ToArray(), r.ReadVarUInt64(ulong.MaxValue, "amount"));
        }
        r.EnsureEnd();
        return new UnbondingBatch(list);
    }

    /// <summary>Returns this batch with <paramref name="amount"/> added for <paramref name="address"/>, keeping address order.</summary>
    /// <param name="address">Address.</param>
    /// <param name="amount">Amount.</param>
    /// <returns>The new batch.</returns>
    public UnbondingBatch Add(byte[] address, ulong amount)
    {
        var list = new List<Payout>(Entries);
        int i = list.FindIndex(p => ByteOrder.Compare(p.Address, address) >= 0);
        if (i >= 0 && ByteOrder.Compare(list[i].Address, address) == 0)
        {
            list[i] = list[i] with { Amount = checked(list[i].Amount + amount) };
        }
        else
        {
            list.Insert(i < 0 ? list.Count : i, new Payout(address, amount));
        }
        return new UnbondingBatch(list);
    }
}

/// <summary>A task's static information (written once by create task).</summary>
/// <param name="Owner">20-byte owner address.</param>
/// <param name="ModelSpec">Model specification bytes.</param>
/// <param name="DatasetCommitment">Dataset Merkle root.</param>
/// <param name="InitialModelRoot">Round-0 model root.</param>
/// <param name="InitSeed">Initialisation seed (pretraining) or null (fine-tuning).</param>
/// <param name="HyperParameters">Opaque hyper-parameters.</param>
/// <param name="Verification">Verification parameters.</param>
/// <param name="RewardPerRound">Reward per finalized round.</param>
public sealed record TaskInfo(byte[] Owner, byte[] ModelSpec, byte[] DatasetCommitment, byte[] InitialModelRoot, ulong? InitSeed, byte[] HyperParameters,
    VerificationParameters Verification, ulong RewardPerRound)
{
    /// <summary>Canonical encoding.</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode()
    {
        var w = new CanonicalWriter(ModelSpec.Length + HyperParameters.Length + 160);
        w.WriteFixed(Owner);
        new CreateTaskPayload(ModelSpec, DatasetCommitment, InitialModelRoot, InitSeed, HyperParameters, Verification, RewardPerRound, 0).Write(w);
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="Encode"/>'s output.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The record.</returns>
    public static TaskInfo Decode(ReadOnlySpan<byte> data)
    {
        var r = new CanonicalReader(data, "task info");
        byte[] owner = r.ReadFixed(AccountAddress.Size, "owner").ToArray();
        var p = CreateTaskPayload.ReadBody(ref r);
        r.EnsureEnd();
        return new TaskInfo(owner, p.ModelSpec, p.DatasetCommitment, p.InitialModelRoot, p.InitSeed, p.HyperParameters, p.Verification, p.RewardPerRound);
    }
}

/// <summary>A task's evolving round state.</summary>
/// <param name="Round">Current round.</param>
/// <param name="ModelRoot">Root of the current model θ_r (the base of every submission this round).</param>
/// <param name="RoundStartHeight">Height at which the current round started.</param>
/// <param name="Escrow">Reward budget left.</param>
/// <param name="Finished">True once the escrow is exhausted: no more submissions.</param>
/// <param name="PendingCount">Submissions received this round (entries of the pending list).</param>
/// <param name="Beacon">β: the hash of the block at <paramref name="RoundStartHeight"/>, recorded by the next block (null until then).</param>
public sealed record TaskRound(ulong Round, byte[] ModelRoot, ulong RoundStartHeight, ulong Escrow, bool Finished, uint PendingCount, byte[]? Beacon = null)
{
    /// <summary>Canonical encoding.</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode()
    {
        var w = new CanonicalWriter(120);
        w.WriteVarUInt64(Round);
        w.WriteFixed(ModelRoot);
        w.WriteVarUInt64(RoundStartHeight);
        w.WriteVarUInt64(Escrow);
        w.WriteBool(Finished);
        w.WriteVarUInt64(PendingCount);
        w.WriteBool(Beacon is not null);
        if (Beacon is not null)
        {
            w.WriteFixed(Beacon);
        }
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="Encode"/>'s output.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The record.</returns>
    public static TaskRound Decode(ReadOnlySpan<byte> data)
    {
        var r = new CanonicalReader(data, "task round");
        var t = new TaskRound(r.ReadVarUInt64(ulong.MaxValue, "round"), r.ReadFixed(32, "model root").ToArray(), r.ReadVarUInt64(ulong.MaxValue, "round start"),
            r.ReadVarUInt64(ulong.MaxValue, "escrow"), r.ReadBool("finished"), (uint)r.ReadVarUInt64(ChainLimits.MaxSubmissionsPerRound, "pending count"),
            r.ReadBool("has beacon") ? r.ReadFixed(32, "beacon").ToArray() : null);
        r.EnsureEnd();
        return t;
    }
}

/// <summary>One attestation recorded on a submission.</summary>
/// <param name="Verifier">20-byte verifier address.</param>
/// <param name="Accept">Verdict.</param>
/// <param name="EvidenceHash">Evidence hash (zero for accepts).</param>
/// <param name="FailedCheck">Protocol code of the failing check (0 for accepts).</param>
/// <param name="ReplayedSteps">Declared replayed steps (ascending; null reads as empty).</param>
/// <param name="SampledLeaves">Declared sampled leaves (ascending; null reads as empty).</param>
/// <param name="LossBeforeBits">Measured loss before, float32 bits.</param>
/// <param name="LossAfterBits">Measured loss after, float32 bits.</param>
/// <param name="OwnImprovementBits">Measured own-data improvement, float32 bits.</param>
public sealed record AttestationRecord(byte[] Verifier, bool Accept, byte[] EvidenceHash, byte FailedCheck = 0, IReadOnlyList<uint>? ReplayedSteps = null,
    IReadOnlyList<uint>? SampledLeaves = null, uint LossBeforeBits = 0, uint LossAfterBits = 0, uint OwnImprovementBits = 0)
{
    /// <summary>The record of an attest payload sent by <paramref name="verifier"/>.</summary>
    /// <param name="verifier">20-byte sender address.</param>
    /// <param name="a">The payload.</param>
    /// <returns>The record.</returns>
    public static AttestationRecord Of(byte[] verifier, AttestPayload a)
    {
        ArgumentNullException.ThrowIfNull(a);
        return new(verifier, a.Accept, a.EvidenceHash, a.FailedCheck, a.ReplayedSteps, a.SampledLeaves, a.LossBeforeBits, a.LossAfterBits, a.OwnImprovementBits);
    }

    /// <summary>The attest payload this record came from.</summary>
    /// <param name="submissionId">The submission id.</param>
    /// <returns>The payload.</returns>
    public AttestPayload ToPayload(byte[] submissionId) =>
        new(submissionId, Accept, ReplayedSteps ?? [], SampledLeaves ?? [], EvidenceHash, FailedCheck, LossBeforeBits, LossAfterBits, OwnImprovementBits);
}

/// <summary>A submission's challenge, opened by the block after the one that included it.</summary>
/// <param name="Gamma">γ, derived by the protocol rules from the including block's hash and the submission id.</param>
/// <param name="AssignedVerifiers">The verifiers γ assigns (20-byte addresses, in the rules' order); empty: any verifier may attest.</param>
public sealed record SubmissionChallenge(byte[] Gamma, IReadOnlyList<byte[]> AssignedVerifiers);

/// <summary>A pending submission and the attestations it has received, in arrival order.</summary>
/// <param name="Id">Submission id (submit transaction hash).</param>
/// <param name="Miner">20-byte miner address.</param>
/// <param name="Height">Height of the block that included it.</param>
/// <param name="Payload">The submit payload.</param>
/// <param name="Attestations">Attestations in arrival order (at most one per verifier).</param>
/// <param name="Challenge">The challenge, once opened (null before).</param>
/// <param name="RejectedProofSenders">Senders of fraud proofs against it that the rules did not uphold (arrival order; only with rules that charge for them).</param>
public sealed record Submission(byte[] Id, byte[] Miner, ulong Height, SubmitPayload Payload, IReadOnlyList<AttestationRecord> Attestations,
    SubmissionChallenge? Challenge = null, IReadOnlyList<byte[]>? RejectedProofSenders = null)
{
    /// <summary>Canonical encoding.</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode()
    {
        var w = new CanonicalWriter(200 + Attestations.Count * 80);
        w.WriteFixed(Id);
        w.WriteFixed(Miner);
        w.WriteVarUInt64(Height);
        Payload.Write(w);
        w.WriteVarUInt64((ulong)Attestations.Count);
        foreach (var a in Attestations)
        {
            w.WriteFixed(a.Verifier);
            a.ToPayload(Id).Write(w);
        }
        w.WriteBool(Challenge is not null);
        if (Challenge is not null)
        {
            w.WriteFixed(Challenge.Gamma);
            w.WriteVarUInt64((ulong)Challenge.AssignedVerifiers.Count);
            foreach (byte[] v in Challenge.AssignedVerifiers)
            {
                w.WriteFixed(v);
            }
        }
        var rejected = RejectedProofSenders ?? [];
        w.WriteVarUInt64((ulong)rejected.Count);
        foreach (byte[] v in rejected)
        {
            w.WriteFixed(v);
        }
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="Encode"/>'s output.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The record.</returns>
    public static Submission Decode(ReadOnlySpan<byte> data)
    {
        var r = new CanonicalReader(data, "submission");
        byte[] id = r.ReadFixed(32, "id").ToArray();
        byte[] miner = r.ReadFixed(AccountAddress.Size, "miner").ToArray();
        ulong height = r.ReadVarUInt64(ulong.MaxValue, "height");
        var payload = SubmitPayload.ReadBody(ref r);
        int count = r.ReadVarInt32(ChainLimits.MaxAttestationsPerSubmission, "attestation count");
        var list = new AttestationRecord[count];
        for (int i = 0; i < count; i++)
        {
            byte[] verifier = r.ReadFixed(AccountAddress.Size, "verifier").ToArray();
            var a = AttestPayload.ReadBody(ref r);
            if (!a.SubmissionId.AsSpan().SequenceEqual(id))
            {
                throw r.Error($"attestation {i} names another submission");
            }
            list[i] = AttestationRecord.Of(verifier, a);
        }
        SubmissionChallenge? challenge = null;
        if (r.ReadBool("has challenge"))
        {
            byte[] gamma = r.ReadFixed(32, "gamma").ToArray();
            int n = r.ReadVarInt32(ChainLimits.MaxValidators, "assigned verifier count");
            var assigned = new byte[n][];
            for (int i = 0; i < n; i++)
            {
                assigned[i] = r.ReadFixed(AccountAddress.Size, "assigned verifier").ToArray();
            }
            challenge = new SubmissionChallenge(gamma, assigned);
        }
        int rejectedCount = r.ReadVarInt32(ChainLimits.MaxAttestationsPerSubmission, "rejected proof count");
        var rejected = new byte[rejectedCount][];
        for (int i = 0; i < rejectedCount; i++)
        {
            rejected[i] = r.ReadFixed(AccountAddress.Size, "rejected proof sender").ToArray();
        }
        r.EnsureEnd();
        return new Submission(id, miner, height, payload, list, challenge, rejected);
    }
}

/// <summary>An upheld fraud proof.</summary>
/// <param name="Prover">20-byte address of the account that proved the fraud (receives the prover share of slashes).</param>
/// <param name="Reference">The proof's reference.</param>
/// <param name="EvidenceHash">SHA-256 of the evidence.</param>
/// <param name="Height">Height at which it was upheld.</param>
/// <param name="Kind">What the proof showed, as the protocol rules classify it (0: unclassified).</param>
/// <param name="Index">The step or leaf the proof is about (0 when not applicable).</param>
public sealed record FraudProofRecord(byte[] Prover, byte[] Reference, byte[] EvidenceHash, ulong Height, byte Kind = 0, ulong Index = 0)
{
    /// <summary>Canonical encoding.</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode()
    {
        var w = new CanonicalWriter(112);
        w.WriteFixed(Prover);
        w.WriteFixed(Reference);
        w.WriteFixed(EvidenceHash);
        w.WriteVarUInt64(Height);
        w.WriteByte(Kind);
        w.WriteVarUInt64(Index);
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="Encode"/>'s output.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The record.</returns>
    public static FraudProofRecord Decode(ReadOnlySpan<byte> data)
    {
        var r = new CanonicalReader(data, "fraud proof record");
        var f = new FraudProofRecord(r.ReadFixed(AccountAddress.Size, "prover").ToArray(), r.ReadFixed(32, "reference").ToArray(), r.ReadFixed(32, "evidence hash").ToArray(),
            r.ReadVarUInt64(ulong.MaxValue, "height"), r.ReadByte("kind"), r.ReadVarUInt64(ulong.MaxValue, "index"));
        r.EnsureEnd();
        return f;
    }
}

/// <summary>
/// A miner's last accepted submission in a task, written when a round finalizes with it accepted (the submission
/// record itself leaves the state then). The protocol carries the miner's optimiser state from its trace
/// (docs/protocol.md, "Carried optimiser state").
/// </summary>
/// <param name="Round">Round of the submission.</param>
/// <param name="SubmissionId">Its id.</param>
/// <param name="TraceRoot">Its trace root.</param>
public sealed record LastAccepted(ulong Round, byte[] SubmissionId, byte[] TraceRoot)
{
    /// <summary>Canonical encoding: round (varint), submission id (32), trace root (32).</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode()
    {
        var w = new CanonicalWriter(80);
        w.WriteVarUInt64(Round);
        w.WriteFixed(SubmissionId);
        w.WriteFixed(TraceRoot);
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="Encode"/>'s output.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The record.</returns>
    public static LastAccepted Decode(ReadOnlySpan<byte> data)
    {
        var r = new CanonicalReader(data, "last accepted submission");
        var a = new LastAccepted(r.ReadVarUInt64(ulong.MaxValue, "round"), r.ReadFixed(32, "submission id").ToArray(), r.ReadFixed(32, "trace root").ToArray());
        r.EnsureEnd();
        return a;
    }
}

/// <summary>An address's slashing history.</summary>
/// <param name="TotalSlashed">Sum of all slashes.</param>
/// <param name="Count">Number of slashes.</param>
/// <param name="LastHeight">Height of the latest slash.</param>
public sealed record SlashRecord(ulong TotalSlashed, ulong Count, ulong LastHeight)
{
    /// <summary>Canonical encoding.</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode()
    {
        var w = new CanonicalWriter(32);
        w.WriteVarUInt64(TotalSlashed);
        w.WriteVarUInt64(Count);
        w.WriteVarUInt64(LastHeight);
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="Encode"/>'s output.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The record.</returns>
    public static SlashRecord Decode(ReadOnlySpan<byte> data)
    {
        var r = new CanonicalReader(data, "slash record");
        var s = new SlashRecord(r.ReadVarUInt64(ulong.MaxValue, "total"), r.ReadVarUInt64(ulong.MaxValue, "count"), r.ReadVarUInt64(ulong.MaxValue, "last height"));
        r.EnsureEnd();
        return s;
    }
}

/// <summary>The validator set: addresses strictly ascending (public keys live in the accounts).</summary>
/// <param name="Addresses">20-byte addresses, strictly ascending.</param>
public sealed record ValidatorSet(IReadOnlyList<byte[]> Addresses)
{
    /// <summary>Canonical encoding.</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode()
    {
        var w = new CanonicalWriter(4 + Addresses.Count * AccountAddress.Size);
        w.WriteVarUInt64((ulong)Addresses.Count);
        foreach (byte[] a in Addresses)
        {
            w.WriteFixed(a);
        }
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="Encode"/>'s output.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The set.</returns>
    public static ValidatorSet Decode(ReadOnlySpan<byte> data)
    {
        var r = new CanonicalReader(data, "validator set");
        int count = r.ReadVarInt32(ChainLimits.MaxValidators, "validator count");
        var list = new byte[count][];
        for (int i = 0; i < count; i++)
        {
            list[i] = r.ReadFixed(AccountAddress.Size, "validator").ToArray();
            if (i > 0 && ByteOrder.Compare(list[i], list[i - 1]) <= 0)
            {
                throw r.Error("validator addresses must be strictly ascending");
            }
        }
        r.EnsureEnd();
        return new ValidatorSet(list);
    }

    /// <summary>Byzantine faults tolerated: f = ⌊(n − 1) / 3⌋.</summary>
    public int FaultsTolerated => Math.Max(0, (Addresses.Count - 1) / 3);

    /// <summary>Signatures a commit certificate needs: 2f + 1.</summary>
    public int Quorum => 2 * FaultsTolerated + 1;

    /// <summary>True when the address is a member.</summary>
    /// <param name="address">20-byte address.</param>
    /// <returns>Membership.</returns>
    public bool Contains(ReadOnlySpan<byte> address)
    {
        foreach (byte[] a in Addresses)
        {
            if (a.AsSpan().SequenceEqual(address))
            {
                return true;
            }
        }
        return false;
    }
}

/// <summary>Text helpers for addresses in messages.</summary>
public static class AddressText
{
    /// <summary>The textual form "pot…" of 20 address bytes.</summary>
    /// <param name="address">Address bytes.</param>
    /// <returns>The text.</returns>
    public static string Of(ReadOnlySpan<byte> address) => AccountAddress.Prefix + Hex.Encode(address);
}
