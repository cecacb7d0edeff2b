using System.Security.Cryptography;
using Pot.Chain.State;
using Pot.Chain.Transactions;
using Pot.Commitments;

namespace Pot.Chain.Protocol;

/// <summary>What the rules see when judging a fraud proof.</summary>
/// <param name="Submission">The accused submission (still pending).</param>
/// <param name="Task">The task's static information.</param>
/// <param name="Round">The task's round state.</param>
/// <param name="Proof">The fraud proof payload.</param>
/// <param name="Prover">20-byte address of the sender of the proof.</param>
/// <param name="Height">Height of the block executing it.</param>
public sealed record FraudProofContext(Submission Submission, TaskInfo Task, TaskRound Round, FraudProofPayload Proof, byte[] Prover, ulong Height)
{
    /// <summary>Read access to the state the proof executes against (accounts, the update-root index); null outside the ledger.</summary>
    public IStateReader? State { get; init; }
}

/// <summary>What the rules see when closing a round.</summary>
/// <param name="TaskId">Task id.</param>
/// <param name="Task">Static task information.</param>
/// <param name="Round">Round state before finalization.</param>
/// <param name="Submissions">The round's submissions, ascending by id.</param>
/// <param name="FraudProofOf">The upheld fraud proof against a submission id, or null.</param>
/// <param name="AccountOf">An account by 20-byte address (empty when absent).</param>
/// <param name="Parameters">Chain parameters.</param>
/// <param name="Height">Height of the block executing the finalization.</param>
public sealed record FinalizationContext(ulong TaskId, TaskInfo Task, TaskRound Round, IReadOnlyList<Submission> Submissions,
    Func<byte[], FraudProofRecord?> FraudProofOf, Func<byte[], Account> AccountOf, ChainParameters Parameters, ulong Height);

/// <summary>The outcome of a round, in the canonical order the finalize transaction must carry.</summary>
/// <param name="Accepted">Accepted submission ids, ascending.</param>
/// <param name="Rejected">Rejected submission ids, ascending.</param>
/// <param name="Rewards">Payouts from escrow, ascending by address, no zero amounts.</param>
/// <param name="Slashes">Slashes, ascending by offender, no zero amounts.</param>
public sealed record FinalizationOutcome(IReadOnlyList<byte[]> Accepted, IReadOnlyList<byte[]> Rejected, IReadOnlyList<Payout> Rewards, IReadOnlyList<SlashEntry> Slashes);

/// <summary>What the rules see when a submission's challenge opens (at the block after the one that included it).</summary>
/// <param name="Submission">The submission.</param>
/// <param name="Task">The task's static information.</param>
/// <param name="IncludingBlockHash">Hash of the block that included the submission (unknown to the miner when it signed).</param>
/// <param name="Validators">The validator set, addresses ascending.</param>
public sealed record ChallengeContext(Submission Submission, TaskInfo Task, byte[] IncludingBlockHash, ValidatorSet Validators);

/// <summary>What the rules see when checking an attestation before it is recorded.</summary>
/// <param name="Submission">The attested submission (pending).</param>
/// <param name="Task">The task's static information.</param>
/// <param name="Round">The task's round state.</param>
/// <param name="Attestation">The attest payload.</param>
/// <param name="Verifier">20-byte address of the sender.</param>
/// <param name="VerifierPublicKey">The sender's public key.</param>
public sealed record AttestationContext(Submission Submission, TaskInfo Task, TaskRound Round, AttestPayload Attestation, byte[] Verifier, byte[] VerifierPublicKey)
{
    /// <summary>Read access to the state the attestation executes against; null outside the ledger.</summary>
    public IStateReader? State { get; init; }
}

/// <summary>How the rules classify an upheld fraud proof (recorded with it, read back at finalization).</summary>
/// <param name="Kind">Protocol-defined kind (0: unclassified).</param>
/// <param name="Index">The step or leaf it is about.</param>
public readonly record struct FraudProofClass(byte Kind, ulong Index);

/// <summary>
/// Thrown by <see cref="IProtocolRules"/> when a decision needs content-addressed data (a model, a training
/// state) that this node does not hold. It is not a verdict: the transaction (and a block holding it) is not
/// valid <em>here yet</em>, so a proposer skips it and a validator does not vote until it has fetched the data.
/// Verdicts stay deterministic functions of the context and the content-addressed data.
/// </summary>
public sealed class ProtocolDataUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is missing.</param>
    public ProtocolDataUnavailableException(string message) : base(message) { }
}

/// <summary>
/// The protocol's decisions that the ledger delegates: whether a fraud proof is upheld, and what a
/// round's outcome is. The ledger checks the bookkeeping of whatever the rules decide (rewards within
/// escrow, slashes within stake, exact burn/prover split), so a rule change cannot break the supply
/// invariant. Implementations must be deterministic functions of their context.
/// </summary>
public interface IProtocolRules
{
    /// <summary>Judges a fraud proof.</summary>
    /// <param name="context">The proof and what it accuses.</param>
    /// <returns>Null when the proof is upheld; otherwise why it is rejected (the transaction is then invalid).</returns>
    string? JudgeFraudProof(FraudProofContext context);

    /// <summary>Computes a round's outcome.</summary>
    /// <param name="context">The round.</param>
    /// <returns>The outcome a finalize transaction must carry.</returns>
    FinalizationOutcome ComputeFinalization(FinalizationContext context);

    /// <summary>
    /// Whether attestations must wait for the challenge (γ and the assigned verifiers) and come only from
    /// assigned verifiers. False (the default) keeps the open attestation of <see cref="DefaultProtocolRules"/>.
    /// </summary>
    bool AssignsVerifiers => false;

    /// <summary>
    /// Whether a fraud proof that is not upheld is still a valid transaction, recorded on the submission so that
    /// finalization can charge its sender. False (the default): such a proof is an invalid transaction.
    /// </summary>
    bool ChargesRejectedFraudProofs => false;

    /// <summary>Opens a submission's challenge: γ and the verifiers it assigns. Default: γ = SHA-256(block hash ‖ id), no assignment.</summary>
    /// <param name="context">The submission and the including block's hash.</param>
    /// <returns>The challenge to record.</returns>
    SubmissionChallenge OpenChallenge(ChallengeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new SubmissionChallenge(SHA256.HashData([.. context.IncludingBlockHash, .. context.Submission.Id]), []);
    }

    /// <summary>Checks a submission beyond the ledger's generic rules (for example that it claims one loss per inner step).</summary>
    /// <param name="payload">The submit payload.</param>
    /// <param name="task">The task's static information.</param>
    /// <returns>Null when acceptable, else why not (the transaction is then invalid).</returns>
    string? CheckSubmission(SubmitPayload payload, TaskInfo task) => null;

    /// <summary>Checks an attestation beyond the ledger's generic rules (for example that it declares the mandated checks).</summary>
    /// <param name="context">The attestation.</param>
    /// <returns>Null when acceptable, else why not (the transaction is then invalid).</returns>
    string? CheckAttestation(AttestationContext context) => null;

    /// <summary>Classifies an upheld fraud proof (kind and index are recorded with it).</summary>
    /// <param name="context">The proof.</param>
    /// <returns>The class; default (0, 0).</returns>
    FraudProofClass ClassifyFraudProof(FraudProofContext context) => default;
}

/// <summary>
/// Simple default rules until the verification protocol lands.
/// <list type="bullet">
/// <item>A fraud proof is upheld when SHA-256 of its evidence equals the evidence hash of a reject
/// attestation on the submission (the verifier's committed evidence is revealed).</item>
/// <item>A submission with an upheld fraud proof is rejected; its miner loses minerSlashPpm of its
/// stake and every verifier that accepted it loses falseAttestationSlashPpm; the prover is the
/// beneficiary.</item>
/// <item>Otherwise it is accepted when it has at least one attestation and accepting verifiers hold
/// at least 2/3 of the attesting verifiers' stake; else it is rejected without a slash (an honest
/// miner is never slashed without an upheld proof).</item>
/// <item>The round's budget min(rewardPerRound, escrow) is split: verifierRewardPpm of it equally over
/// the attestations that agree with the outcome, the rest equally over accepted miners. Integer
/// remainders, and the miners' share of a round with no accepted submission, stay in escrow.</item>
/// </list>
/// </summary>
public sealed class DefaultProtocolRules : IProtocolRules
{
    /// <summary>A shared instance (the rules are stateless).</summary>
    public static DefaultProtocolRules Instance { get; } = new();

    /// <inheritdoc/>
    public string? JudgeFraudProof(FraudProofContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        byte[] evidenceHash = SHA256.HashData(context.Proof.Evidence);
        foreach (var a in context.Submission.Attestations)
        {
            if (!a.Accept && a.EvidenceHash.AsSpan().SequenceEqual(evidenceHash))
            {
                return null;
            }
        }
        return $"evidence hash {Hex.Encode(evidenceHash)} matches no reject attestation on submission {Hex.Encode(context.Submission.Id)}; the default rules uphold only evidence a verifier committed to";
    }

    /// <inheritdoc/>
    public FinalizationOutcome ComputeFinalization(FinalizationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var p = context.Parameters;
        var accepted = new List<Submission>();
        var rejected = new List<Submission>();
        // Per offender: summed slash fraction and the beneficiary of the first (lowest id) proof.
        var slashFractions = new SortedDictionary<byte[], (ulong Ppm, byte[]? Beneficiary)>(ByteOrder.Comparer);
        void AddSlash(byte[] offender, ulong ppm, byte[] beneficiary)
        {
            slashFractions[offender] = slashFractions.TryGetValue(offender, out var cur) ? (cur.Ppm + ppm, cur.Beneficiary) : (ppm, beneficiary);
        }

        foreach (var s in context.Submissions)
        {
            var proof = context.FraudProofOf(s.Id);
            if (proof is not null)
            {
                rejected.Add(s);
                AddSlash(s.Miner, p.MinerSlashPpm, proof.Prover);
                foreach (var a in s.Attestations)
                {
                    if (a.Accept)
                    {
                        AddSlash(a.Verifier, p.FalseAttestationSlashPpm, proof.Prover);
                    }
                }
                continue;
            }
            UInt128 positive = 0, total = 0;
            foreach (var a in s.Attestations)
            {
                ulong stake = context.AccountOf(a.Verifier).Stake;
                total += stake;
                if (a.Accept)
                {
                    positive += stake;
                }
            }
            if (s.Attestations.Count > 0 && positive * 3 >= total * 2)
            {
                accepted.Add(s);
            }
            else
            {
                rejected.Add(s);
            }
        }

        ulong budget = Math.Min(context.Task.RewardPerRound, context.Round.Escrow);
        ulong verifierPool = MulPpm(budget, p.VerifierRewardPpm);
        ulong minerPool = budget - verifierPool;
        var rewards = new SortedDictionary<byte[], ulong>(ByteOrder.Comparer);
        void Pay(byte[] address, ulong amount)
        {
            if (amount > 0)
            {
                rewards[address] = rewards.TryGetValue(address, out ulong cur) ? cur + amount : amount;
            }
        }
        var agreeing = new List<byte[]>();
        foreach (var s in accepted)
        {
            agreeing.AddRange(s.Attestations.Where(a => a.Accept).Select(a => a.Verifier));
        }
        foreach (var s in rejected)
        {
            agreeing.AddRange(s.Attestations.Where(a => !a.Accept).Select(a => a.Verifier));
        }
        if (agreeing.Count > 0)
        {
            ulong each = verifierPool / (ulong)agreeing.Count;
            foreach (byte[] v in agreeing)
            {
                Pay(v, each);
            }
        }
        if (accepted.Count > 0)
        {
            ulong each = minerPool / (ulong)accepted.Count;
            foreach (var s in accepted)
            {
                Pay(s.Miner, each);
            }
        }

        var slashes = new List<SlashEntry>();
        foreach (var kv in slashFractions)
        {
            ulong amount = MulPpm(context.AccountOf(kv.Key).Stake, (uint)Math.Min(ChainLimits.Ppm, kv.Value.Ppm));
            if (amount > 0)
            {
                slashes.Add(new SlashEntry(kv.Key, amount, kv.Value.Beneficiary));
            }
        }
        return new FinalizationOutcome(
            accepted.Select(s => s.Id).ToArray(),
            rejected.Select(s => s.Id).ToArray(),
            rewards.Select(kv => new Payout(kv.Key, kv.Value)).ToArray(),
            slashes);
    }

    /// <summary>⌊value × ppm / 10^6⌋ without overflow.</summary>
    /// <param name="value">Value.</param>
    /// <param name="ppm">Fraction in parts per million (at most 10^6).</param>
    /// <returns>The product.</returns>
    public static ulong MulPpm(ulong value, uint ppm) => (ulong)((UInt128)value * ppm / ChainLimits.Ppm);
}
