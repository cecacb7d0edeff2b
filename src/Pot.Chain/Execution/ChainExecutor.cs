using System.Security.Cryptography;
using Pot.Chain.Protocol;
using Pot.Chain.State;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Canonical;

namespace Pot.Chain.Execution;

/// <summary>What a transaction executes against: the block being built or checked.</summary>
/// <param name="ChainId">Chain id.</param>
/// <param name="Height">Height of the block.</param>
/// <param name="TimeMs">Time of the block.</param>
/// <param name="Proposer">20-byte proposer address (receives the non-burned fee share).</param>
/// <param name="Parameters">Chain parameters (from the state).</param>
/// <param name="PreviousHash">Hash of the parent block (opens challenges and beacons); null skips that work.</param>
public sealed record BlockContext(string ChainId, ulong Height, ulong TimeMs, byte[] Proposer, ChainParameters Parameters, byte[]? PreviousHash = null);

/// <summary>
/// The deterministic state-transition function. Every rule a transaction must satisfy is checked
/// here, in a child overlay that is discarded on rejection, so a rejected transaction changes nothing.
/// </summary>
/// <remarks>
/// Fees: every executed transaction pays its fee from the sender's balance first; feeBurnPpm of it is
/// burned, the rest is credited to the block's proposer. Rejected transactions pay nothing (they are
/// never part of a valid block).
/// </remarks>
public sealed class ChainExecutor
{
    private readonly IProtocolRules _rules;

    /// <summary>Creates an executor.</summary>
    /// <param name="rules">Protocol rules; <see cref="DefaultProtocolRules"/> when null.</param>
    public ChainExecutor(IProtocolRules? rules = null) => _rules = rules ?? DefaultProtocolRules.Instance;

    /// <summary>The protocol rules in use.</summary>
    public IProtocolRules Rules => _rules;

    /// <summary>Start-of-block work: releases the unbonding batch that matures at this height.</summary>
    /// <param name="o">The block's overlay.</param>
    /// <param name="ctx">Block context.</param>
    public static void BeginBlock(StateOverlay o, BlockContext ctx)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(ctx);
        byte[] key = StateKeys.Unbonding(ctx.Height);
        if (o.Get(key) is byte[] v)
        {
            foreach (var e in UnbondingBatch.Decode(v).Entries)
            {
                var a = StateAccess.Account(o, e.Address);
                StateAccess.SetAccount(o, e.Address, a with { Balance = Add(a.Balance, e.Amount, "balance") });
            }
            o.Delete(key);
        }
    }

    /// <summary>
    /// Start-of-block protocol work, after <see cref="BeginBlock"/>: records β (the parent's hash) for every task
    /// whose round started at the parent, and opens the challenge of every submission the parent included
    /// (γ and the assigned verifiers, from <see cref="IProtocolRules.OpenChallenge"/>). Both use the parent's hash,
    /// which nobody knew when the parent's transactions were signed.
    /// </summary>
    /// <param name="o">The block's overlay.</param>
    /// <param name="ctx">Block context (without <see cref="BlockContext.PreviousHash"/> nothing happens).</param>
    public void OpenChallenges(StateOverlay o, BlockContext ctx)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(ctx);
        if (ctx.PreviousHash is not byte[] parent || ctx.Height == 0)
        {
            return;
        }
        var meta = StateAccess.Meta(o);
        for (ulong t = 0; t < meta.NextTaskId; t++)
        {
            if (StateAccess.TaskRound(o, t) is TaskRound round && round.Beacon is null && round.RoundStartHeight == ctx.Height - 1)
            {
                o.Set(StateKeys.TaskRound(t), (round with { Beacon = (byte[])parent.Clone() }).Encode());
            }
        }
        if (o.Get(StateKeys.AwaitingChallenge) is not byte[] awaiting)
        {
            return;
        }
        var r = new CanonicalReader(awaiting, "awaiting challenge list");
        int count = r.ReadVarInt32(ChainLimits.MaxBlockTransactions, "count");
        var validators = StateAccess.Validators(o);
        for (int i = 0; i < count; i++)
        {
            byte[] id = r.ReadFixed(32, "submission id").ToArray();
            if (StateAccess.Submission(o, id) is Submission s && s.Challenge is null && StateAccess.TaskInfo(o, s.Payload.TaskId) is TaskInfo info)
            {
                var challenge = _rules.OpenChallenge(new ChallengeContext(s, info, parent, validators));
                o.Set(StateKeys.Submission(id), (s with { Challenge = challenge }).Encode());
            }
        }
        r.EnsureEnd();
        o.Delete(StateKeys.AwaitingChallenge);
    }

    /// <summary>End-of-block work: records the height and time in the meta record.</summary>
    /// <param name="o">The block's overlay.</param>
    /// <param name="ctx">Block context.</param>
    public static void EndBlock(StateOverlay o, BlockContext ctx)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(ctx);
        var meta = StateAccess.Meta(o);
        o.Set(StateKeys.Meta, (meta with { Height = ctx.Height, TimeMs = ctx.TimeMs }).Encode());
    }

    /// <summary>
    /// Checks and applies one transaction. On success its writes are merged into <paramref name="blockOverlay"/>;
    /// on rejection nothing changes.
    /// </summary>
    /// <param name="blockOverlay">The block's overlay.</param>
    /// <param name="tx">The transaction.</param>
    /// <param name="ctx">Block context.</param>
    /// <param name="modelRoots">Receives task model roots set by this transaction (may be null).</param>
    /// <param name="signatureVerified">True when the caller already verified the signature.</param>
    /// <returns>Null on success, else the rejection.</returns>
    public Rejection? ApplyTransaction(StateOverlay blockOverlay, Transaction tx, BlockContext ctx, SortedDictionary<ulong, byte[]>? modelRoots = null, bool signatureVerified = false)
    {
        ArgumentNullException.ThrowIfNull(blockOverlay);
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(ctx);
        var o = new StateOverlay(blockOverlay);
        try
        {
            var roots = new SortedDictionary<ulong, byte[]>();
            Apply(o, tx, ctx, roots, signatureVerified);
            o.CommitToParent();
            if (modelRoots is not null)
            {
                foreach (var kv in roots)
                {
                    modelRoots[kv.Key] = kv.Value;
                }
            }
            return null;
        }
        catch (RejectedException ex)
        {
            return ex.Rejection;
        }
        catch (OverflowException)
        {
            return new Rejection(RejectionCode.Overflow, $"{tx}: an amount would overflow 64 bits");
        }
    }

    private static RejectedException Reject(RejectionCode code, string message) => new(code, message);

    private static ulong Add(ulong a, ulong b, string what) => a > ulong.MaxValue - b ? throw Reject(RejectionCode.Overflow, $"{what} {a} + {b} overflows 64 bits") : a + b;

    private void Apply(StateOverlay o, Transaction tx, BlockContext ctx, SortedDictionary<ulong, byte[]> roots, bool signatureVerified)
    {
        var p = ctx.Parameters;
        if (tx.ChainId != ctx.ChainId)
        {
            throw Reject(RejectionCode.WrongChainId, $"{tx}: chain id '{tx.ChainId}'; expected '{ctx.ChainId}'");
        }
        if (tx.Size > ChainLimits.MaxTransactionBytes)
        {
            throw Reject(RejectionCode.Oversize, $"{tx}: {tx.Size} bytes; the limit is {ChainLimits.MaxTransactionBytes}");
        }
        if (!signatureVerified && !tx.VerifySignature())
        {
            throw Reject(RejectionCode.BadSignature, $"{tx}: the signature does not verify for sender key {Hex.Encode(tx.SenderPublicKey)}");
        }
        var sender = StateAccess.Account(o, tx.Sender);
        if (tx.Nonce < sender.Nonce)
        {
            throw Reject(RejectionCode.NonceTooLow, $"{tx}: nonce {tx.Nonce} was already used; expected {sender.Nonce}");
        }
        if (tx.Nonce > sender.Nonce)
        {
            throw Reject(RejectionCode.NonceGap, $"{tx}: nonce {tx.Nonce} leaves a gap; expected {sender.Nonce}");
        }
        UInt128 minFee = (UInt128)(ulong)tx.Size * p.MinFeePerByte;
        if (tx.Fee < minFee)
        {
            throw Reject(RejectionCode.FeeTooLow, $"{tx}: fee {tx.Fee} is below {minFee} ({tx.Size} bytes × {p.MinFeePerByte} per byte)");
        }
        if (sender.Balance < tx.Fee)
        {
            throw Reject(RejectionCode.InsufficientBalance, $"{tx}: balance {sender.Balance} does not cover the fee {tx.Fee}");
        }

        // Fee first: the sender pays, part is burned, the rest goes to the proposer.
        sender = sender with { Balance = sender.Balance - tx.Fee, Nonce = sender.Nonce + 1, PublicKey = sender.PublicKey ?? tx.SenderPublicKey };
        StateAccess.SetAccount(o, tx.Sender, sender);
        ulong burned = DefaultProtocolRules.MulPpm(tx.Fee, p.FeeBurnPpm);
        Burn(o, burned);
        Credit(o, ctx.Proposer, tx.Fee - burned);

        switch (tx.Payload)
        {
            case TransferPayload t:
                Transfer(o, tx, t);
                break;
            case BondPayload b:
                Bond(o, tx, b);
                break;
            case UnbondPayload u:
                Unbond(o, tx, u, ctx);
                break;
            case RegisterRolePayload r:
                RegisterRole(o, tx, r, p);
                break;
            case CreateTaskPayload c:
                CreateTask(o, tx, c, ctx, roots);
                break;
            case SubmitPayload s:
                Submit(o, tx, s, ctx);
                break;
            case AttestPayload a:
                Attest(o, tx, a, p);
                break;
            case FraudProofPayload f:
                FraudProof(o, tx, f, ctx);
                break;
            case FinalizeRoundPayload f:
                Finalize(o, tx, f, ctx, roots);
                break;
            default:
                throw Reject(RejectionCode.Malformed, $"{tx}: unknown payload type");
        }
    }

    private static void Credit(StateOverlay o, byte[] address, ulong amount)
    {
        if (amount == 0)
        {
            return;
        }
        var a = StateAccess.Account(o, address);
        StateAccess.SetAccount(o, address, a with { Balance = Add(a.Balance, amount, "balance") });
    }

    private static void Burn(StateOverlay o, ulong amount)
    {
        if (amount == 0)
        {
            return;
        }
        var meta = StateAccess.Meta(o);
        o.Set(StateKeys.Meta, (meta with { Burned = Add(meta.Burned, amount, "burned") }).Encode());
    }

    private static Account Debit(StateOverlay o, Transaction tx, ulong amount, string what)
    {
        var a = StateAccess.Account(o, tx.Sender);
        if (amount == 0)
        {
            throw Reject(RejectionCode.InvalidParameter, $"{tx}: {what} amount is 0; expected a positive amount");
        }
        if (a.Balance < amount)
        {
            throw Reject(RejectionCode.InsufficientBalance, $"{tx}: balance {a.Balance} after the fee does not cover the {what} amount {amount}");
        }
        a = a with { Balance = a.Balance - amount };
        StateAccess.SetAccount(o, tx.Sender, a);
        return a;
    }

    private static void Transfer(StateOverlay o, Transaction tx, TransferPayload t)
    {
        Debit(o, tx, t.Amount, "transfer");
        Credit(o, t.To, t.Amount);
    }

    private static void Bond(StateOverlay o, Transaction tx, BondPayload b)
    {
        var a = Debit(o, tx, b.Amount, "bond");
        StateAccess.SetAccount(o, tx.Sender, a with { Stake = Add(a.Stake, b.Amount, "stake") });
    }

    private static ulong RequiredStake(Roles roles, ChainParameters p)
    {
        ulong need = 0;
        if (roles.HasFlag(Roles.Validator))
        {
            need = Math.Max(need, p.MinStakeValidator);
        }
        if (roles.HasFlag(Roles.Miner))
        {
            need = Math.Max(need, p.MinStakeMiner);
        }
        if (roles.HasFlag(Roles.Verifier))
        {
            need = Math.Max(need, p.MinStakeVerifier);
        }
        return need;
    }

    private static void Unbond(StateOverlay o, Transaction tx, UnbondPayload u, BlockContext ctx)
    {
        var a = StateAccess.Account(o, tx.Sender);
        if (u.Amount == 0)
        {
            throw Reject(RejectionCode.InvalidParameter, $"{tx}: unbond amount is 0; expected a positive amount");
        }
        if (a.Stake < u.Amount)
        {
            throw Reject(RejectionCode.InsufficientStake, $"{tx}: stake {a.Stake} is below the unbond amount {u.Amount}");
        }
        ulong need = RequiredStake(a.Roles, ctx.Parameters);
        if (a.Stake - u.Amount < need)
        {
            throw Reject(RejectionCode.InsufficientStake, $"{tx}: unbonding {u.Amount} would leave stake {a.Stake - u.Amount}, below the {need} its roles ({a.Roles}) require");
        }
        StateAccess.SetAccount(o, tx.Sender, a with { Stake = a.Stake - u.Amount });
        ulong release = Add(ctx.Height, ctx.Parameters.UnbondingDelayBlocks, "release height");
        byte[] key = StateKeys.Unbonding(release);
        var batch = o.Get(key) is byte[] v ? UnbondingBatch.Decode(v) : new UnbondingBatch([]);
        o.Set(key, batch.Add(tx.Sender, u.Amount).Encode());
    }

    private static void RegisterRole(StateOverlay o, Transaction tx, RegisterRolePayload r, ChainParameters p)
    {
        var a = StateAccess.Account(o, tx.Sender);
        if ((a.Roles & r.Role) != 0)
        {
            throw Reject(RejectionCode.DuplicateRole, $"{tx}: the account already holds the {r.Role} role");
        }
        ulong need = RequiredStake(r.Role, p);
        if (a.Stake < need)
        {
            throw Reject(RejectionCode.InsufficientStake, $"{tx}: stake {a.Stake} is below the {need} the {r.Role} role requires");
        }
        StateAccess.SetAccount(o, tx.Sender, a with { Roles = a.Roles | r.Role });
        if (r.Role == Roles.Validator)
        {
            var set = StateAccess.Validators(o);
            if (set.Addresses.Count >= ChainLimits.MaxValidators)
            {
                throw Reject(RejectionCode.ValidatorSetFull, $"{tx}: the validator set has the maximum {ChainLimits.MaxValidators} members");
            }
            var list = set.Addresses.ToList();
            list.Add(tx.Sender);
            list.Sort(ByteOrder.Comparer);
            o.Set(StateKeys.ValidatorSet, new ValidatorSet(list).Encode());
        }
    }

    /// <summary>Checks a create-task payload's parameters.</summary>
    /// <param name="c">The payload.</param>
    /// <param name="p">Chain parameters.</param>
    /// <returns>Null when valid, else what is wrong.</returns>
    public static string? CheckTaskParameters(CreateTaskPayload c, ChainParameters p)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(p);
        if (c.RewardPerRound == 0 || c.Budget < c.RewardPerRound)
        {
            return $"reward per round {c.RewardPerRound} and budget {c.Budget}: expected 0 < reward per round <= budget";
        }
        if (c.Verification.WindowBlocks < 1 || c.Verification.WindowBlocks > p.MaxWindowBlocks)
        {
            return $"verification window {c.Verification.WindowBlocks} blocks; expected 1 to {p.MaxWindowBlocks}";
        }
        if (c.Verification.VerifiersPerSubmission < 1)
        {
            return "verifiers per submission is 0; expected at least 1";
        }
        return null;
    }

    private static void CreateTask(StateOverlay o, Transaction tx, CreateTaskPayload c, BlockContext ctx, SortedDictionary<ulong, byte[]> roots)
    {
        if (CheckTaskParameters(c, ctx.Parameters) is string error)
        {
            throw Reject(RejectionCode.InvalidParameter, $"{tx}: {error}");
        }
        Debit(o, tx, c.Budget, "task budget");
        var meta = StateAccess.Meta(o);
        ulong id = meta.NextTaskId;
        o.Set(StateKeys.Meta, (meta with { NextTaskId = Add(id, 1, "task id") }).Encode());
        WriteTask(o, id, tx.Sender, c, ctx.Height);
        roots[id] = c.InitialModelRoot;
    }

    /// <summary>Writes a new task's records (used by create task and by genesis).</summary>
    /// <param name="o">Overlay.</param>
    /// <param name="id">Task id.</param>
    /// <param name="owner">Owner address.</param>
    /// <param name="c">Task definition; its budget becomes the escrow.</param>
    /// <param name="height">Height at which round 0 starts.</param>
    public static void WriteTask(StateOverlay o, ulong id, byte[] owner, CreateTaskPayload c, ulong height)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(c);
        o.Set(StateKeys.TaskInfo(id), new TaskInfo(owner, c.ModelSpec, c.DatasetCommitment, c.InitialModelRoot, c.InitSeed, c.HyperParameters, c.Verification, c.RewardPerRound).Encode());
        o.Set(StateKeys.TaskRound(id), new TaskRound(0, c.InitialModelRoot, height, c.Budget, false, 0).Encode());
    }

    private static void RequireRole(Transaction tx, Account a, Roles role, ulong minStake)
    {
        if (!a.Roles.HasFlag(role))
        {
            throw Reject(RejectionCode.MissingRole, $"{tx}: the sender does not hold the {role} role");
        }
        if (a.Stake < minStake)
        {
            throw Reject(RejectionCode.InsufficientStake, $"{tx}: stake {a.Stake} is below the {minStake} the {role} role requires");
        }
    }

    private static (TaskInfo Info, TaskRound Round) RequireTask(StateOverlay o, Transaction tx, ulong taskId)
    {
        var info = StateAccess.TaskInfo(o, taskId);
        var round = StateAccess.TaskRound(o, taskId);
        if (info is null || round is null)
        {
            throw Reject(RejectionCode.UnknownTask, $"{tx}: task {taskId} does not exist");
        }
        return (info, round);
    }

    private void Submit(StateOverlay o, Transaction tx, SubmitPayload s, BlockContext ctx)
    {
        RequireRole(tx, StateAccess.Account(o, tx.Sender), Roles.Miner, ctx.Parameters.MinStakeMiner);
        var (taskInfo, round) = RequireTask(o, tx, s.TaskId);
        if (round.Finished)
        {
            throw Reject(RejectionCode.TaskFinished, $"{tx}: task {s.TaskId} has spent its reward budget and takes no more submissions");
        }
        if (s.Round != round.Round)
        {
            throw Reject(RejectionCode.WrongRound, $"{tx}: round {s.Round}; task {s.TaskId} is in round {round.Round}");
        }
        if (!s.BaseRoot.AsSpan().SequenceEqual(round.ModelRoot))
        {
            throw Reject(RejectionCode.WrongBaseRoot, $"{tx}: base root {Hex.Encode(s.BaseRoot)}; task {s.TaskId} round {round.Round} starts from {Hex.Encode(round.ModelRoot)}");
        }
        if (round.PendingCount >= ChainLimits.MaxSubmissionsPerRound)
        {
            throw Reject(RejectionCode.TooManySubmissions, $"{tx}: task {s.TaskId} round {round.Round} already has the maximum {ChainLimits.MaxSubmissionsPerRound} submissions");
        }
        if (_rules.CheckSubmission(s, taskInfo) is string invalid)
        {
            throw Reject(RejectionCode.InvalidParameter, $"{tx}: {invalid}");
        }
        byte[] minerKey = StateKeys.MinerRound(s.TaskId, s.Round, tx.Sender);
        if (o.Get(minerKey) is byte[] existing)
        {
            throw Reject(RejectionCode.DuplicateSubmission, $"{tx}: the miner already submitted {Hex.Encode(existing)} in task {s.TaskId} round {s.Round}");
        }
        ulong closes = Add(round.RoundStartHeight, taskInfo.Verification.WindowBlocks, "window end");
        if (ctx.Height >= closes)
        {
            throw Reject(RejectionCode.WindowClosed, $"{tx}: task {s.TaskId} round {round.Round} started at height {round.RoundStartHeight}; its submission window of {taskInfo.Verification.WindowBlocks} blocks closed at height {closes}, this block is {ctx.Height}");
        }
        o.Set(StateKeys.Submission(tx.Hash), new Submission(tx.Hash, tx.Sender, ctx.Height, s, []).Encode());
        byte[] rootKey = StateKeys.UpdateRoot(s.UpdateRoot);
        if (o.Get(rootKey) is null)
        {
            o.Set(rootKey, tx.Hash);
        }
        var awaiting = new CanonicalWriter(64);
        if (o.Get(StateKeys.AwaitingChallenge) is byte[] list)
        {
            var lr = new CanonicalReader(list, "awaiting challenge list");
            int n = lr.ReadVarInt32(ChainLimits.MaxBlockTransactions, "count");
            awaiting.WriteVarUInt64((ulong)n + 1);
            awaiting.WriteFixed(list.AsSpan(list.Length - n * 32));
        }
        else
        {
            awaiting.WriteVarUInt64(1);
        }
        awaiting.WriteFixed(tx.Hash);
        o.Set(StateKeys.AwaitingChallenge, awaiting.ToArray());
        o.Set(StateKeys.Pending(s.TaskId, round.PendingCount), tx.Hash);
        o.Set(minerKey, tx.Hash);
        o.Set(StateKeys.TaskRound(s.TaskId), (round with { PendingCount = round.PendingCount + 1 }).Encode());
    }

    private void Attest(StateOverlay o, Transaction tx, AttestPayload a, ChainParameters p)
    {
        RequireRole(tx, StateAccess.Account(o, tx.Sender), Roles.Verifier, p.MinStakeVerifier);
        var s = StateAccess.Submission(o, a.SubmissionId) ?? throw Reject(RejectionCode.UnknownSubmission, $"{tx}: submission {Hex.Encode(a.SubmissionId)} is not pending (unknown or already finalized)");
        if (s.Miner.AsSpan().SequenceEqual(tx.Sender))
        {
            throw Reject(RejectionCode.SelfAttestation, $"{tx}: a miner cannot attest its own submission {Hex.Encode(s.Id)}");
        }
        bool zeroEvidence = a.EvidenceHash.AsSpan().IndexOfAnyExcept((byte)0) < 0;
        if (a.Accept != zeroEvidence)
        {
            throw Reject(RejectionCode.InvalidParameter, $"{tx}: {(a.Accept ? "an accept must carry an all-zero evidence hash" : "a reject must carry the non-zero hash of its evidence")}");
        }
        foreach (var existing in s.Attestations)
        {
            if (existing.Verifier.AsSpan().SequenceEqual(tx.Sender))
            {
                throw Reject(RejectionCode.DuplicateAttestation, $"{tx}: the verifier already attested submission {Hex.Encode(s.Id)}");
            }
        }
        if (s.Attestations.Count >= ChainLimits.MaxAttestationsPerSubmission)
        {
            throw Reject(RejectionCode.TooManyAttestations, $"{tx}: submission {Hex.Encode(s.Id)} already has the maximum {ChainLimits.MaxAttestationsPerSubmission} attestations");
        }
        if (a.Accept && a.FailedCheck != 0)
        {
            throw Reject(RejectionCode.InvalidParameter, $"{tx}: an accept names failed check {a.FailedCheck}; expected 0");
        }
        if (_rules.AssignsVerifiers)
        {
            if (s.Challenge is null)
            {
                throw Reject(RejectionCode.ChallengeNotOpen, $"{tx}: the challenge of submission {Hex.Encode(s.Id)} (included at height {s.Height}) opens at height {s.Height + 1}");
            }
            if (s.Challenge.AssignedVerifiers.Count > 0 && !s.Challenge.AssignedVerifiers.Any(v => v.AsSpan().SequenceEqual(tx.Sender)))
            {
                throw Reject(RejectionCode.NotAssignedVerifier, $"{tx}: {AddressText.Of(tx.Sender)} is not among the {s.Challenge.AssignedVerifiers.Count} verifiers assigned to submission {Hex.Encode(s.Id)}");
            }
        }
        var (info, round) = RequireTask(o, tx, s.Payload.TaskId);
        if (_rules.CheckAttestation(new AttestationContext(s, info, round, a, tx.Sender, tx.SenderPublicKey) { State = o }) is string why)
        {
            throw Reject(RejectionCode.AttestationRejected, $"{tx}: {why}");
        }
        var list = s.Attestations.ToList();
        list.Add(AttestationRecord.Of(tx.Sender, a));
        o.Set(StateKeys.Submission(s.Id), (s with { Attestations = list }).Encode());
    }

    private void FraudProof(StateOverlay o, Transaction tx, FraudProofPayload f, BlockContext ctx)
    {
        var s = StateAccess.Submission(o, f.SubmissionId) ?? throw Reject(RejectionCode.UnknownSubmission, $"{tx}: submission {Hex.Encode(f.SubmissionId)} is not pending (unknown or already finalized)");
        if (StateAccess.FraudProof(o, s.Id) is not null)
        {
            throw Reject(RejectionCode.DuplicateFraudProof, $"{tx}: a fraud proof against submission {Hex.Encode(s.Id)} was already upheld");
        }
        var (info, round) = RequireTask(o, tx, s.Payload.TaskId);
        var context = new FraudProofContext(s, info, round, f, tx.Sender, ctx.Height) { State = o };
        string? reason;
        try
        {
            reason = _rules.JudgeFraudProof(context);
        }
        catch (ProtocolDataUnavailableException ex)
        {
            throw Reject(RejectionCode.DataUnavailable, $"{tx}: cannot judge yet: {ex.Message}");
        }
        if (reason is not null)
        {
            var rejectedBy = s.RejectedProofSenders ?? [];
            if (!_rules.ChargesRejectedFraudProofs)
            {
                throw Reject(RejectionCode.FraudProofRejected, $"{tx}: {reason}");
            }
            if (rejectedBy.Any(v => v.AsSpan().SequenceEqual(tx.Sender)))
            {
                throw Reject(RejectionCode.DuplicateFraudProof, $"{tx}: the sender already sent a rejected fraud proof against submission {Hex.Encode(s.Id)}");
            }
            if (rejectedBy.Count >= ChainLimits.MaxAttestationsPerSubmission)
            {
                throw Reject(RejectionCode.TooManyAttestations, $"{tx}: submission {Hex.Encode(s.Id)} already records {rejectedBy.Count} rejected fraud proofs");
            }
            // Recorded, not refused: the sender pays for it at finalization.
            o.Set(StateKeys.Submission(s.Id), (s with { RejectedProofSenders = [.. rejectedBy, tx.Sender] }).Encode());
            return;
        }
        var kind = _rules.ClassifyFraudProof(context);
        o.Set(StateKeys.FraudProof(s.Id), new FraudProofRecord(tx.Sender, f.Reference, SHA256.HashData(f.Evidence), ctx.Height, kind.Kind, kind.Index).Encode());
    }

    private static (FinalizationContext Context, List<byte[]> PendingKeys) GatherRound(IStateReader o, ulong taskId, TaskInfo info, TaskRound round, ChainParameters p, ulong height)
    {
        var submissions = new List<Submission>((int)round.PendingCount);
        var pendingKeys = new List<byte[]>((int)round.PendingCount);
        for (uint i = 0; i < round.PendingCount; i++)
        {
            byte[] key = StateKeys.Pending(taskId, i);
            pendingKeys.Add(key);
            byte[] id = o.Get(key) ?? throw new InvalidOperationException($"state is inconsistent: task {taskId} pending entry {i} is missing");
            submissions.Add(StateAccess.Submission(o, id) ?? throw new InvalidOperationException($"state is inconsistent: pending submission {Hex.Encode(id)} is missing"));
        }
        submissions.Sort((a, b) => ByteOrder.Compare(a.Id, b.Id));
        var fraud = new Dictionary<byte[], FraudProofRecord>(ByteOrder.Equality);
        foreach (var s in submissions)
        {
            if (StateAccess.FraudProof(o, s.Id) is FraudProofRecord r)
            {
                fraud[s.Id] = r;
            }
        }
        var context = new FinalizationContext(taskId, info, round, submissions,
            id => fraud.TryGetValue(id, out var r) ? r : null, addr => StateAccess.Account(o, addr), p, height);
        return (context, pendingKeys);
    }

    /// <summary>
    /// Builds the finalize payload the rules expect for a task's current round (the aggregator's job):
    /// the outcome from <see cref="IProtocolRules.ComputeFinalization"/>, and the aggregated root
    /// when something was accepted (the current root otherwise).
    /// </summary>
    /// <param name="state">State the finalization will execute against.</param>
    /// <param name="taskId">Task id.</param>
    /// <param name="aggregatedModelRoot">Root of the aggregated model, used when a submission is accepted.</param>
    /// <param name="height">Height of the block that will carry it.</param>
    /// <returns>The payload, or null when the task does not exist.</returns>
    public FinalizeRoundPayload? ProposeFinalization(IStateReader state, ulong taskId, byte[] aggregatedModelRoot, ulong height)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(aggregatedModelRoot);
        var info = StateAccess.TaskInfo(state, taskId);
        var round = StateAccess.TaskRound(state, taskId);
        if (info is null || round is null)
        {
            return null;
        }
        var (context, _) = GatherRound(state, taskId, info, round, StateAccess.Parameters(state), height);
        var outcome = _rules.ComputeFinalization(context);
        return new FinalizeRoundPayload(taskId, round.Round, outcome.Accepted.Count > 0 ? aggregatedModelRoot : round.ModelRoot,
            outcome.Accepted, outcome.Rejected, outcome.Rewards, outcome.Slashes);
    }

    private void Finalize(StateOverlay o, Transaction tx, FinalizeRoundPayload f, BlockContext ctx, SortedDictionary<ulong, byte[]> roots)
    {
        var p = ctx.Parameters;
        RequireRole(tx, StateAccess.Account(o, tx.Sender), Roles.Validator, p.MinStakeValidator);
        var (info, round) = RequireTask(o, tx, f.TaskId);
        if (f.Round != round.Round)
        {
            throw Reject(RejectionCode.WrongRound, $"{tx}: finalizes round {f.Round}; task {f.TaskId} is in round {round.Round}");
        }
        ulong due = Add(round.RoundStartHeight, info.Verification.WindowBlocks, "window end");
        if (ctx.Height < due)
        {
            throw Reject(RejectionCode.WindowNotElapsed, $"{tx}: task {f.TaskId} round {round.Round} started at height {round.RoundStartHeight}; its window of {info.Verification.WindowBlocks} blocks ends at height {due}, this block is {ctx.Height}");
        }

        var (context, pendingKeys) = GatherRound(o, f.TaskId, info, round, p, ctx.Height);
        var submissions = context.Submissions;
        var outcome = _rules.ComputeFinalization(context);

        var expected = new CanonicalWriter(256);
        FinalizeRoundPayload.WriteOutcome(expected, outcome.Accepted, outcome.Rejected, outcome.Rewards, outcome.Slashes);
        var actual = new CanonicalWriter(256);
        FinalizeRoundPayload.WriteOutcome(actual, f.Accepted, f.Rejected, f.Rewards, f.Slashes);
        if (!expected.WrittenSpan.SequenceEqual(actual.WrittenSpan))
        {
            // Counts alone can agree while amounts differ (a reward computed from losses attested meanwhile): name the totals too.
            static string Total<T>(IEnumerable<T> items, Func<T, ulong> amount) => items.Aggregate(0UL, (a, x) => unchecked(a + amount(x))).ToString(System.Globalization.CultureInfo.InvariantCulture);
            throw Reject(RejectionCode.OutcomeMismatch, $"{tx}: outcome (accepted {f.Accepted.Count}, rejected {f.Rejected.Count}, rewards {f.Rewards.Count} totalling {Total(f.Rewards, r => r.Amount)}, slashes {f.Slashes.Count} totalling {Total(f.Slashes, s => s.Amount)}) differs from the protocol rules' outcome (accepted {outcome.Accepted.Count}, rejected {outcome.Rejected.Count}, rewards {outcome.Rewards.Count} totalling {Total(outcome.Rewards, r => r.Amount)}, slashes {outcome.Slashes.Count} totalling {Total(outcome.Slashes, s => s.Amount)})");
        }
        if (f.Accepted.Count == 0 && !f.NewModelRoot.AsSpan().SequenceEqual(round.ModelRoot))
        {
            throw Reject(RejectionCode.InvalidParameter, $"{tx}: no submission was accepted, so the model root must stay {Hex.Encode(round.ModelRoot)}; got {Hex.Encode(f.NewModelRoot)}");
        }

        // Rewards come out of escrow, never from thin air.
        UInt128 paid = 0;
        foreach (var r in f.Rewards)
        {
            paid += r.Amount;
        }
        if (paid > round.Escrow)
        {
            throw Reject(RejectionCode.BookkeepingViolation, $"{tx}: rewards total {paid} exceed the escrow {round.Escrow} of task {f.TaskId}");
        }
        foreach (var r in f.Rewards)
        {
            Credit(o, r.Address, r.Amount);
        }

        // Slashes come out of stake: part burned, the rest to the prover.
        foreach (var s in f.Slashes)
        {
            var a = StateAccess.Account(o, s.Offender);
            if (s.Amount > a.Stake)
            {
                throw Reject(RejectionCode.BookkeepingViolation, $"{tx}: slash of {s.Amount} exceeds the stake {a.Stake} of {AddressText.Of(s.Offender)}");
            }
            StateAccess.SetAccount(o, s.Offender, a with { Stake = a.Stake - s.Amount });
            ulong burned = s.Beneficiary is null ? s.Amount : DefaultProtocolRules.MulPpm(s.Amount, p.SlashBurnPpm);
            Burn(o, burned);
            if (s.Beneficiary is not null)
            {
                Credit(o, s.Beneficiary, s.Amount - burned);
            }
            byte[] recordKey = StateKeys.SlashRecord(s.Offender);
            var record = o.Get(recordKey) is byte[] rv ? SlashRecord.Decode(rv) : new SlashRecord(0, 0, 0);
            o.Set(recordKey, new SlashRecord(Add(record.TotalSlashed, s.Amount, "total slashed"), record.Count + 1, ctx.Height).Encode());
        }

        // Each accepted miner's last accepted submission is remembered (its trace carries the miner's optimiser state).
        var accepted = new HashSet<byte[]>(f.Accepted, ByteOrder.Equality);
        foreach (var s in submissions)
        {
            if (accepted.Contains(s.Id))
            {
                o.Set(StateKeys.LastAccepted(f.TaskId, s.Miner), new LastAccepted(round.Round, s.Id, s.Payload.TraceRoot).Encode());
            }
        }

        // The round's pending data leaves the state; the block keeps the history.
        foreach (var s in submissions)
        {
            o.Delete(StateKeys.Submission(s.Id));
            o.Delete(StateKeys.MinerRound(f.TaskId, round.Round, s.Miner));
            o.Delete(StateKeys.FraudProof(s.Id));
        }
        foreach (byte[] key in pendingKeys)
        {
            o.Delete(key);
        }
        ulong escrow = round.Escrow - (ulong)paid;
        o.Set(StateKeys.TaskRound(f.TaskId), new TaskRound(round.Round + 1, f.NewModelRoot, ctx.Height, escrow, escrow == 0, 0, null).Encode());
        roots[f.TaskId] = f.NewModelRoot;
    }
}
