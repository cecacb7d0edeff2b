using Pot.Commitments;
using Pot.Commitments.Merkle;

namespace Pot.Protocol;

/// <summary>An account: spendable balance and bonded stake.</summary>
/// <param name="Balance">Spendable units.</param>
/// <param name="Stake">Bonded units (what slashing takes).</param>
public sealed record AccountState(ulong Balance, ulong Stake);

/// <summary>
/// What the protocol needs from the chain: blocks (their hashes are the beacon β and enter γ), accounts with
/// stake, the validator set, inclusion of submissions, attestations and fraud proofs, and applying a round's
/// outcome. <see cref="InMemoryLedger"/> implements it in-process; the chain (branch <c>chain</c>) plugs the
/// same decisions in through its <c>IProtocolRules</c> (docs/protocol.md, "Chain integration").
/// </summary>
public interface IProtocolLedger
{
    /// <summary>Hash of the latest block.</summary>
    byte[] Head { get; }

    /// <summary>Height of the latest block.</summary>
    ulong Height { get; }

    /// <summary>Validator (= verifier) addresses in canonical order (ascending).</summary>
    IReadOnlyList<string> Validators { get; }

    /// <summary>An account (zero when absent).</summary>
    /// <param name="address">Address.</param>
    /// <returns>The account.</returns>
    AccountState Account(string address);

    /// <summary>Validates and queues a submission for the next block.</summary>
    /// <param name="submission">The submission.</param>
    /// <returns>Null when accepted into the block; otherwise why it is invalid.</returns>
    string? Submit(Submission submission);

    /// <summary>Seals the pending transactions into a block.</summary>
    /// <returns>The block hash.</returns>
    byte[] SealBlock();

    /// <summary>Records an attestation from an assigned verifier.</summary>
    /// <param name="attestation">The attestation.</param>
    /// <returns>Null when recorded; otherwise why not.</returns>
    string? Attest(Attestation attestation);

    /// <summary>Judges and records a fraud proof.</summary>
    /// <param name="proof">The proof.</param>
    /// <returns>Null when upheld; otherwise why it was rejected (the sender then pays).</returns>
    string? SubmitFraudProof(FraudProof proof);

    /// <summary>Finalizes the round: outcome, slashes and rewards applied.</summary>
    /// <returns>The outcome.</returns>
    RoundOutcome FinalizeRound();
}

/// <summary>An in-process ledger for one task: a hash chain of blocks, accounts, and the current round's records.</summary>
public sealed class InMemoryLedger : IProtocolLedger
{
    private readonly SortedDictionary<string, AccountState> _accounts = new(StringComparer.Ordinal);
    private readonly List<byte[]> _pending = [];
    private readonly List<RoundEntry> _round = [];
    private readonly List<Submission> _history = [];
    private readonly List<(string Sender, string Reason)> _rejectedProofSenders = [];
    private readonly FraudProofJudge _judge;
    private RoundStart? _start;
    private ulong _roundStartHeight;

    /// <summary>Creates the ledger with a genesis block.</summary>
    /// <param name="task">The task.</param>
    /// <param name="engine">An engine for the task (used by the fraud-proof judge).</param>
    /// <param name="validators">Validator addresses.</param>
    /// <param name="escrow">Task reward escrow.</param>
    public InMemoryLedger(ProtocolTask task, StepEngine engine, IEnumerable<string> validators, ulong escrow)
    {
        Task = task;
        _judge = new FraudProofJudge(engine);
        Validators = validators.Order(StringComparer.Ordinal).ToArray();
        Escrow = escrow;
        Head = Hashing.Domain("pot/genesis/v1", Hashing.Utf8(task.Id));
    }

    /// <summary>The task.</summary>
    public ProtocolTask Task { get; }

    /// <inheritdoc />
    public byte[] Head { get; private set; }

    /// <inheritdoc />
    public ulong Height { get; private set; }

    /// <inheritdoc />
    public IReadOnlyList<string> Validators { get; }

    /// <summary>Remaining reward escrow.</summary>
    public ulong Escrow { get; private set; }

    /// <summary>Units burned by slashing so far.</summary>
    public ulong Burned { get; private set; }

    /// <summary>Units created after genesis by <see cref="Mint"/> (the simulation's re-bonding of slashed cheaters).</summary>
    public ulong Minted { get; private set; }

    /// <summary>Adds newly created stake to an account (counted in <see cref="Minted"/>).</summary>
    /// <param name="address">Address.</param>
    /// <param name="stake">Stake to add.</param>
    public void Mint(string address, ulong stake)
    {
        var a = Account(address);
        _accounts[address] = a with { Stake = a.Stake + stake };
        Minted += stake;
    }

    /// <summary>Sum of all balances, stakes, escrow and burned units minus <see cref="Minted"/> (constant: the supply invariant).</summary>
    public UInt128 Supply
    {
        get
        {
            UInt128 total = (UInt128)Escrow + Burned - Minted;
            foreach (var a in _accounts.Values)
            {
                total += (UInt128)a.Balance + a.Stake;
            }
            return total;
        }
    }

    /// <summary>Credits an account at genesis.</summary>
    /// <param name="address">Address.</param>
    /// <param name="balance">Balance.</param>
    /// <param name="stake">Stake.</param>
    public void Fund(string address, ulong balance, ulong stake) => _accounts[address] = new AccountState(balance, stake);

    /// <inheritdoc />
    public AccountState Account(string address) => _accounts.TryGetValue(address, out var a) ? a : new AccountState(0, 0);

    /// <summary>Opens round <paramref name="start"/>: submissions are taken for <see cref="ProtocolTask.WindowBlocks"/> blocks.</summary>
    /// <param name="start">The round.</param>
    public void StartRound(RoundStart start)
    {
        _start = start;
        _round.Clear();
        _rejectedProofSenders.Clear();
        _roundStartHeight = Height;
    }

    /// <summary>Whether the submission window of the current round is still open at the next block.</summary>
    public bool WindowOpen => Height + 1 <= _roundStartHeight + (ulong)Task.WindowBlocks;

    /// <summary>Records of the current round, chain order.</summary>
    public IReadOnlyList<RecordedSubmission> Records => _round.Select(e => e.Record()).ToArray();

    /// <summary>The challenge seed γ of a submission of the current round.</summary>
    /// <param name="submissionId">The id.</param>
    /// <returns>γ, or null before the submission's block is sealed.</returns>
    public byte[]? Gamma(byte[] submissionId) => Find(submissionId)?.Gamma;

    /// <summary>The assigned verifiers of a submission of the current round.</summary>
    /// <param name="submissionId">The id.</param>
    /// <returns>Addresses.</returns>
    public IReadOnlyList<string> AssignedVerifiers(byte[] submissionId) => Find(submissionId)?.Assigned ?? [];

    /// <summary>Submissions recorded before <paramref name="submissionId"/>: this round's in chain order, then earlier rounds' newest first.</summary>
    /// <param name="submissionId">The id.</param>
    /// <returns>The submissions.</returns>
    public IReadOnlyList<Submission> Earlier(byte[] submissionId)
    {
        var list = new List<Submission>();
        foreach (var e in _round)
        {
            if (e.Submission.Id.AsSpan().SequenceEqual(submissionId))
            {
                break;
            }
            list.Add(e.Submission);
        }
        list.AddRange(Enumerable.Reverse(_history));
        return list;
    }

    /// <inheritdoc />
    public string? Submit(Submission submission)
    {
        ArgumentNullException.ThrowIfNull(submission);
        if (_start is null)
        {
            return "no round is open";
        }
        if (!WindowOpen)
        {
            return $"submission {submission.ShortId} arrives at height {Height + 1}, after the window of round {_start.Round} closed at height {_roundStartHeight + (ulong)Task.WindowBlocks}";
        }
        if (submission.TaskId != Task.Id || submission.Round != _start.Round)
        {
            return $"submission {submission.ShortId} is for task '{submission.TaskId}' round {submission.Round}; expected task '{Task.Id}' round {_start.Round}";
        }
        if (!submission.BaseRoot.AsSpan().SequenceEqual(_start.ModelRoot))
        {
            return $"submission {submission.ShortId} starts from model {Hex.Encode(submission.BaseRoot)[..12]}; the round's model is {Hex.Encode(_start.ModelRoot)[..12]}";
        }
        if (submission.InnerSteps != Task.InnerSteps || submission.ClaimedLosses.Length != Task.InnerSteps)
        {
            return $"submission {submission.ShortId} declares {submission.InnerSteps} steps and {submission.ClaimedLosses.Length} losses; the task requires H = {Task.InnerSteps}";
        }
        if (submission.UpdateRoot.Length != 32 || submission.TraceRoot.Length != 32 || submission.Miner.Length != 32)
        {
            return $"submission {submission.ShortId}: roots must be 32 bytes and the miner key 32 bytes";
        }
        if (!submission.VerifySignature())
        {
            return $"submission {submission.ShortId}: signature does not verify against miner key {Hex.Encode(submission.Miner)[..12]}";
        }
        if (Account(submission.MinerAddress).Stake == 0)
        {
            return $"miner {submission.MinerAddress} has no stake; miners must bond stake before submitting";
        }
        if (_round.Any(e => e.Submission.Miner.AsSpan().SequenceEqual(submission.Miner)))
        {
            return $"miner {submission.MinerAddress} already submitted in round {_start.Round}";
        }
        _round.Add(new RoundEntry(submission));
        _pending.Add(submission.Id);
        return null;
    }

    /// <inheritdoc />
    public byte[] SealBlock()
    {
        byte[] txRoot = MerkleTree.ComputeRoot(_pending);
        Height++;
        Head = Hashing.Domain("pot/block/v1", Head, Hashing.U64(Height), txRoot);
        _pending.Clear();
        foreach (var e in _round.Where(e => e.Gamma is null))
        {
            e.Gamma = Challenge.Seed(Head, e.Submission.Id);
            e.Assigned = Challenge.Verifiers(e.Gamma, Validators.Count, Task.VerifiersPerSubmission).Select(i => Validators[i]).ToArray();
        }
        return Head;
    }

    /// <inheritdoc />
    public string? Attest(Attestation attestation)
    {
        ArgumentNullException.ThrowIfNull(attestation);
        var e = Find(attestation.SubmissionId);
        if (e?.Gamma is null)
        {
            return $"attestation names submission {Hex.Encode(attestation.SubmissionId)[..12]}, which is not a finalized submission of the current round";
        }
        string verifier = attestation.VerifierAddress;
        if (!e.Assigned.Contains(verifier))
        {
            return $"verifier {verifier} is not assigned to submission {e.Submission.ShortId}; assigned: {string.Join(", ", e.Assigned)}";
        }
        if (e.Attestations.Any(a => a.VerifierAddress == verifier))
        {
            return $"verifier {verifier} already attested submission {e.Submission.ShortId}";
        }
        if (!attestation.ReplayedSteps.SequenceEqual(Challenge.Steps(e.Gamma, attestation.Verifier, Task.InnerSteps, Task.ReplayedSteps))
            || !attestation.SampledLeaves.SequenceEqual(Challenge.Leaves(e.Gamma, attestation.Verifier, Updates.LeafCount(_start!.Model.Length), Task.SampledLeaves)))
        {
            return $"attestation by {verifier} on {e.Submission.ShortId} does not declare the steps and leaves γ assigned to it";
        }
        if (!attestation.VerifySignature())
        {
            return $"attestation by {verifier} on {e.Submission.ShortId}: signature does not verify";
        }
        e.Attestations.Add(attestation);
        _pending.Add(Hashing.Domain("pot/tx/attest", attestation.Body()));
        return null;
    }

    /// <inheritdoc />
    public string? SubmitFraudProof(FraudProof proof)
    {
        ArgumentNullException.ThrowIfNull(proof);
        var e = Find(proof.SubmissionId);
        if (e is null || _start is null)
        {
            return $"fraud proof names submission {Hex.Encode(proof.SubmissionId)[..12]}, which is not in the current round";
        }
        string? verdict = _judge.Judge(proof, e.Submission, _start, id =>
            Earlier(e.Submission.Id).FirstOrDefault(s => s.Id.AsSpan().SequenceEqual(id)));
        _pending.Add(proof.EvidenceHash);
        if (verdict is not null)
        {
            _rejectedProofSenders.Add((proof.ProverAddress, verdict));
        }
        else if (e.UpheldProver is null)
        {
            e.UpheldProver = proof.ProverAddress;
            e.UpheldProof = proof;
        }
        return verdict;
    }

    /// <inheritdoc />
    public RoundOutcome FinalizeRound()
    {
        var outcome = RoundRules.Finalize(Task, Records, _rejectedProofSenders, a => Account(a).Stake, Escrow);
        foreach (var slash in outcome.Slashes)
        {
            var a = Account(slash.Offender);
            ulong amount = Math.Min(slash.Amount, a.Stake);
            _accounts[slash.Offender] = a with { Stake = a.Stake - amount };
            ulong toProver = slash.Beneficiary is null ? 0 : RoundRules.MulPpm(amount, Task.ProverSharePpm);
            if (slash.Beneficiary is { } b)
            {
                var ba = Account(b);
                _accounts[b] = ba with { Balance = ba.Balance + toProver };
            }
            Burned += amount - toProver;
        }
        foreach (var (address, amount) in outcome.Rewards)
        {
            var a = Account(address);
            _accounts[address] = a with { Balance = a.Balance + amount };
            Escrow -= amount;
        }
        _history.AddRange(outcome.Accepted);
        _history.AddRange(outcome.Rejected);
        SealBlock();
        return outcome;
    }

    private RoundEntry? Find(byte[] id) => _round.FirstOrDefault(e => e.Submission.Id.AsSpan().SequenceEqual(id));

    private sealed class RoundEntry(Submission submission)
    {
        public Submission Submission { get; } = submission;

        public byte[]? Gamma { get; set; }

        public string[] Assigned { get; set; } = [];

        public List<Attestation> Attestations { get; } = [];

        public string? UpheldProver { get; set; }

        public FraudProof? UpheldProof { get; set; }

        public RecordedSubmission Record() => new(Submission, Assigned, Attestations.ToArray(), UpheldProver, UpheldProof);
    }
}
