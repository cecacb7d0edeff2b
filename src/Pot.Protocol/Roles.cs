using Pot.Chain;
using Pot.Chain.State;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Keys;

namespace Pot.Protocol;

/// <summary>A task's current round as the chain state shows it.</summary>
/// <param name="TaskId">Chain task id.</param>
/// <param name="Round">Round number r.</param>
/// <param name="ModelRoot">R_r, the root of θ_r.</param>
/// <param name="Beacon">β, the hash of the block at <paramref name="RoundStartHeight"/>.</param>
/// <param name="RoundStartHeight">Height of the block that started the round.</param>
/// <param name="SubmissionsCloseHeight">First height at which submissions are refused (start + W).</param>
/// <param name="Escrow">Reward escrow left.</param>
public sealed record ChainRound(ulong TaskId, ulong Round, byte[] ModelRoot, byte[] Beacon, ulong RoundStartHeight, ulong SubmissionsCloseHeight, ulong Escrow);

/// <summary>Reads the protocol's view of the chain state and signs transactions with the minimum fee.</summary>
public static class ChainView
{
    /// <summary>The current round of a task.</summary>
    /// <param name="state">Chain state.</param>
    /// <param name="taskId">Task id.</param>
    /// <returns>The round, or null when the task does not exist, is finished, or its beacon is not recorded yet (the block after the round's start records it).</returns>
    public static ChainRound? Round(IStateReader state, ulong taskId)
    {
        ArgumentNullException.ThrowIfNull(state);
        var info = StateAccess.TaskInfo(state, taskId);
        var round = StateAccess.TaskRound(state, taskId);
        if (info is null || round is null || round.Finished || round.Beacon is null)
        {
            return null;
        }
        return new ChainRound(taskId, round.Round, round.ModelRoot, round.Beacon, round.RoundStartHeight, round.RoundStartHeight + info.Verification.WindowBlocks, round.Escrow);
    }

    /// <summary>The round's pending submissions in chain order (arrival).</summary>
    /// <param name="state">Chain state.</param>
    /// <param name="taskId">Task id.</param>
    /// <returns>The submissions.</returns>
    public static IReadOnlyList<Pot.Chain.State.Submission> Pending(IStateReader state, ulong taskId)
    {
        ArgumentNullException.ThrowIfNull(state);
        var round = StateAccess.TaskRound(state, taskId);
        var list = new List<Pot.Chain.State.Submission>();
        for (uint i = 0; round is not null && i < round.PendingCount; i++)
        {
            if (state.Get(StateKeys.Pending(taskId, i)) is byte[] id && StateAccess.Submission(state, id) is { } s)
            {
                list.Add(s);
            }
        }
        return list;
    }

    /// <summary>Signs a transaction from <paramref name="key"/> with its next nonce (plus an offset for several in one block) and the minimum fee.</summary>
    /// <param name="chainId">Chain id.</param>
    /// <param name="key">Sender key.</param>
    /// <param name="state">State for the nonce and the fee rate.</param>
    /// <param name="payload">Payload.</param>
    /// <param name="nonceOffset">Transactions of this sender already queued before this one.</param>
    /// <returns>The signed transaction.</returns>
    public static Transaction Sign(string chainId, Ed25519Keys key, IStateReader state, TransactionPayload payload, ulong nonceOffset = 0)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(state);
        ulong nonce = StateAccess.Account(state, AccountAddress.BytesFromPublicKey(key.PublicKey)).Nonce + nonceOffset;
        ulong rate = StateAccess.Parameters(state).MinFeePerByte;
        ulong fee = 0;
        while (true)
        {
            var tx = Transaction.Create(chainId, key, nonce, fee, payload);
            ulong need = (ulong)tx.Size * rate;
            if (fee >= need)
            {
                return tx;
            }
            fee = need;
        }
    }
}

/// <summary>A miner's result for one round: the signed submit transaction and what it commits to.</summary>
/// <param name="Transaction">The signed submit transaction (its hash is the submission id).</param>
/// <param name="Submission">The submission.</param>
/// <param name="Output">The training output and the blob server.</param>
public sealed record MinedRound(Transaction Transaction, Submission Submission, MinerOutput Output);

/// <summary>
/// The miner role on the chain: reads the round from the chain state, fetches θ_r by its root, trains H steps,
/// keeps q, the trace and the checkpoint states in its chunk store, serves them (<see cref="Server"/>) and builds
/// the signed submit transaction. No transport inside: a node sends the transaction and exposes the server.
/// </summary>
public sealed class MinerRole
{
    private readonly IChunkStore _store;
    private readonly Dictionary<string, float[]> _models = new(StringComparer.Ordinal);

    /// <summary>Creates the role.</summary>
    /// <param name="key">The miner's key (its account must hold the miner role and stake).</param>
    /// <param name="store">Its chunk store.</param>
    /// <param name="strategy">Behaviour (<see cref="MinerStrategy.Honest"/> for a real node; others are test doubles).</param>
    /// <param name="cheatCount">How much a graded cheater deviates (<see cref="Miner.CheatCount"/>; null: the strategy's default).</param>
    /// <param name="cheatProbability">Probability of cheating in a round (<see cref="Miner.CheatProbability"/>).</param>
    public MinerRole(Ed25519Keys key, IChunkStore store, MinerStrategy strategy = MinerStrategy.Honest, int? cheatCount = null, double cheatProbability = 1)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (!(cheatProbability >= 0 && cheatProbability <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(cheatProbability), cheatProbability, "the cheating probability must be in [0, 1]");
        }
        Miner = new Miner(key, strategy) { CheatCount = cheatCount, CheatProbability = cheatProbability };
        _store = store;
    }

    /// <summary>The trainer behind the role.</summary>
    public Miner Miner { get; }

    /// <summary>The server of the latest round's blobs (null before the first round).</summary>
    public MinerBlobServer? Server { get; private set; }

    /// <summary>Trains for the task's current round and builds the submit transaction.</summary>
    /// <param name="task">The protocol task.</param>
    /// <param name="chainId">Chain id.</param>
    /// <param name="state">Chain state at the head.</param>
    /// <param name="taskId">Chain task id.</param>
    /// <param name="models">Where θ_r is fetched by its root.</param>
    /// <param name="engine">An engine for the task (owned by this call while it runs).</param>
    /// <param name="earlier">Outputs other miners published this round (only the copy strategies use them).</param>
    /// <returns>The result, or null when the task has no open round.</returns>
    /// <exception cref="InvalidOperationException">θ_r is not available.</exception>
    public MinedRound? Mine(ProtocolTask task, string chainId, IStateReader state, ulong taskId, IChunkSource models, StepEngine engine, IReadOnlyList<MinerOutput>? earlier = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(models);
        if (ChainView.Round(state, taskId) is not ChainRound round)
        {
            return null;
        }
        float[] model = ModelOf(round.ModelRoot, models, engine.ParameterCount);
        var carry = StateAccess.LastAccepted(state, taskId, AccountAddress.BytesFromPublicKey(Miner.Key.PublicKey))?.TraceRoot;
        var output = Miner.Mine(new RoundStart(task, round.Round, round.Beacon, model, round.ModelRoot, taskId) { CarryFrom = carry }, engine, earlier ?? [], _store);
        Server = output.Blobs;
        var tx = ChainView.Sign(chainId, Miner.Key, state, output.Payload);
        var submission = new Submission(tx.Hash, taskId, round.Round, Miner.Key.PublicKey, output.Payload.BaseRoot, output.Payload.UpdateRoot, output.Payload.TraceRoot,
            output.Payload.ClaimedLossBits.Select(BitConverter.UInt32BitsToSingle).ToArray(), output.Payload.SampleCount);
        return new MinedRound(tx, submission, output);
    }

    private float[] ModelOf(byte[] root, IChunkSource models, int n)
    {
        string key = Hex.Encode(root);
        if (!_models.TryGetValue(key, out var m))
        {
            m = ModelBlobs.TryGet(models, root, n) ?? throw new InvalidOperationException($"model {key[..12]} is not available");
            _models.Clear();
            _models[key] = m;
        }
        return m;
    }
}

/// <summary>A verifier's result on one submission, ready to be sent.</summary>
/// <param name="Submission">The submission checked.</param>
/// <param name="Attestation">The attestation (protocol form).</param>
/// <param name="FraudProof">The fraud proof behind a provable reject, or null.</param>
/// <param name="AttestPayload">The chain payload of the attestation.</param>
/// <param name="FraudProofPayload">The chain payload of the fraud proof, or null.</param>
/// <param name="CpuSeconds">Processor time of the checks (the miner's serving excluded).</param>
/// <param name="Detail">Why a reject failed, for logs; null on accept.</param>
public sealed record VerifiedSubmission(Submission Submission, Attestation Attestation, FraudProof? FraudProof, AttestPayload AttestPayload,
    FraudProofPayload? FraudProofPayload, double CpuSeconds, string? Detail = null);

/// <summary>
/// The verifier role on the chain: finds the submissions γ assigned to it, fetches their blobs through an
/// <see cref="IChunkSource"/>, runs the checks (<see cref="Verifier"/>) and builds the attest payload and, for a
/// provable failure, the fraud-proof payload (whose disputed state it keeps in its own store).
/// </summary>
public sealed class VerifierRole
{
    private readonly Dictionary<string, float[]> _models = new(StringComparer.Ordinal);

    /// <summary>Creates the role.</summary>
    /// <param name="key">The verifier's key (its account must hold the verifier role and stake).</param>
    /// <param name="store">Its chunk store (keeps the evidence its fraud proofs reference).</param>
    /// <param name="strategy">Behaviour (<see cref="VerifierStrategy.Honest"/> for a real node).</param>
    public VerifierRole(Ed25519Keys key, IChunkStore store, VerifierStrategy strategy = VerifierStrategy.Honest)
    {
        ArgumentNullException.ThrowIfNull(store);
        Verifier = new Verifier(key, strategy) { Evidence = store };
        Store = store;
    }

    /// <summary>The checker behind the role.</summary>
    public Verifier Verifier { get; }

    /// <summary>The role's chunk store.</summary>
    public IChunkStore Store { get; }

    /// <summary>20-byte address.</summary>
    public byte[] Address => AccountAddress.BytesFromPublicKey(Verifier.Key.PublicKey);

    /// <summary>Submissions of a task whose challenge is open, that γ assigned to this verifier and that it has not attested yet (chain order).</summary>
    /// <param name="state">Chain state.</param>
    /// <param name="taskId">Task id.</param>
    /// <returns>Submission ids.</returns>
    public IReadOnlyList<byte[]> AssignedPending(IStateReader state, ulong taskId)
    {
        byte[] me = Address;
        return ChainView.Pending(state, taskId)
            .Where(s => s.Challenge is { } c && c.AssignedVerifiers.Any(v => v.AsSpan().SequenceEqual(me)) && !s.Attestations.Any(a => a.Verifier.AsSpan().SequenceEqual(me)))
            .Select(s => s.Id).ToArray();
    }

    /// <summary>Checks one submission.</summary>
    /// <param name="task">The protocol task.</param>
    /// <param name="state">Chain state.</param>
    /// <param name="submissionId">The submission (pending, challenge open).</param>
    /// <param name="network">Where blobs (the miner's, its peers', θ_r) are fetched.</param>
    /// <returns>The result.</returns>
    /// <exception cref="InvalidOperationException">The submission is not pending with an open challenge, or θ_r is unavailable.</exception>
    public VerifiedSubmission Verify(ProtocolTask task, IStateReader state, byte[] submissionId, IChunkSource network)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(network);
        var record = StateAccess.Submission(state, submissionId) ?? throw new InvalidOperationException($"submission {Hex.Encode(submissionId)[..12]} is not pending");
        var challenge = record.Challenge ?? throw new InvalidOperationException($"the challenge of submission {Hex.Encode(submissionId)[..12]} is not open yet");
        ulong taskId = record.Payload.TaskId;
        var round = ChainView.Round(state, taskId) ?? throw new InvalidOperationException($"task {taskId} has no open round");
        var submission = Submission.FromChain(record, KeyOf(state, record.Miner));
        var start = new RoundStart(task, round.Round, round.Beacon, ModelOf(round.ModelRoot, network, task), round.ModelRoot, taskId)
        {
            CarryFrom = StateAccess.LastAccepted(state, taskId, record.Miner)?.TraceRoot,
        };

        // Uniqueness compares with the round's earlier submissions (chain order) and with the update-root index.
        var earlier = new List<PeerSubmission>();
        foreach (var other in ChainView.Pending(state, taskId))
        {
            if (other.Id.AsSpan().SequenceEqual(submissionId))
            {
                break;
            }
            earlier.Add(new PeerSubmission(Submission.FromChain(other, KeyOf(state, other.Miner)), network));
        }
        if (state.Get(StateKeys.UpdateRoot(record.Payload.UpdateRoot)) is byte[] first && !first.AsSpan().SequenceEqual(submissionId)
            && !earlier.Any(p => p.Submission.Id.AsSpan().SequenceEqual(first)))
        {
            earlier.Add(new PeerSubmission(new Submission(first, taskId, 0, [], [], record.Payload.UpdateRoot, [], [], 0), null));
        }
        var result = Verifier.Verify(new VerificationContext(start, submission, challenge.Gamma, network, earlier));
        var proof = result.FraudProof;
        return new VerifiedSubmission(submission, result.Attestation, proof, result.Attestation.ToPayload(),
            proof is null ? null : new FraudProofPayload(submissionId, Reference(proof), proof.Encode()), result.CpuSeconds, result.Detail);
    }

    private static byte[] Reference(FraudProof proof) => Hashing.Domain("pot/fraud-reference/v1", [(byte)proof.Kind], Hashing.U64((ulong)proof.Index));

    private static byte[] KeyOf(IStateReader state, byte[] address) =>
        StateAccess.Account(state, address).PublicKey ?? throw new InvalidOperationException($"account {AddressText.Of(address)} has no public key on chain");

    private float[] ModelOf(byte[] root, IChunkSource source, ProtocolTask task)
    {
        string key = Hex.Encode(root);
        if (!_models.TryGetValue(key, out var m))
        {
            m = ModelBlobs.TryGet(source, root) ?? throw new InvalidOperationException($"model {key[..12]} is not available");
            _models.Clear();
            _models[key] = m;
        }
        return m;
    }
}

/// <summary>What the round's primary proposes to close a round, with what validators need to spot-check it.</summary>
/// <param name="Payload">The finalize payload (outcome from the rules, the new model root).</param>
/// <param name="Result">The aggregation (new model, momentum, clip coefficients: published with the model).</param>
/// <param name="BaseModel">θ_r.</param>
/// <param name="BaseMomentum">Outer momentum before the round (null: zeros).</param>
/// <param name="UpdateBlobs">The accepted q blobs in canonical order (ascending submission id).</param>
/// <param name="Weights">Their weights (sample counts).</param>
public sealed record FinalizationProposal(FinalizeRoundPayload Payload, AggregationResult Result, float[] BaseModel, float[]? BaseMomentum,
    IReadOnlyList<byte[]> UpdateBlobs, IReadOnlyList<ulong> Weights);

/// <summary>
/// The aggregator / finalizer role (the round's primary): after the window, asks the chain's rules for the outcome,
/// fetches the accepted updates, aggregates θ_{r+1}, stores it in its chunk store under its root, and builds the
/// finalize payload. <see cref="CheckProposal"/> is what every validator runs before voting: it fetches θ_{r+1} by
/// the proposed root and recomputes s random leaves.
/// </summary>
public sealed class AggregatorRole
{
    private readonly IChunkStore _store;

    /// <summary>Creates the role.</summary>
    /// <param name="store">Where θ_{r+1} is published.</param>
    public AggregatorRole(IChunkStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
    }

    /// <summary>Builds the finalize payload for the task's round, to be included at the next height.</summary>
    /// <param name="task">The protocol task.</param>
    /// <param name="ledger">The chain at its head (its executor runs the rules).</param>
    /// <param name="taskId">Chain task id.</param>
    /// <param name="network">Where θ_r and the accepted updates are fetched.</param>
    /// <param name="momentum">Outer momentum before the round (null: zeros).</param>
    /// <returns>The proposal, or null when the window has not elapsed at the next height or the round is not open.</returns>
    /// <exception cref="InvalidOperationException">θ_r or an accepted update is unavailable.</exception>
    public FinalizationProposal? Propose(ProtocolTask task, Ledger ledger, ulong taskId, IChunkSource network, float[]? momentum)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(ledger);
        ArgumentNullException.ThrowIfNull(network);
        ulong height = ledger.Head.Height + 1;
        if (ChainView.Round(ledger.State, taskId) is not ChainRound round || height < round.SubmissionsCloseHeight)
        {
            return null;
        }
        float[] model = ModelBlobs.TryGet(network, round.ModelRoot) ?? throw new InvalidOperationException($"model {Hex.Encode(round.ModelRoot)[..12]} is not available");
        var outcome = ledger.Executor.ProposeFinalization(ledger.State, taskId, round.ModelRoot, height)!;
        var blobs = new List<byte[]>();
        var weights = new List<ulong>();
        foreach (byte[] id in outcome.Accepted)
        {
            var s = StateAccess.Submission(ledger.State, id)!;
            byte[] blob = network.TryGet(s.Payload.UpdateRoot) is byte[] b && Updates.Root(b).AsSpan().SequenceEqual(s.Payload.UpdateRoot)
                ? b : throw new InvalidOperationException($"accepted update {Hex.Encode(s.Payload.UpdateRoot)[..12]} is not available");
            blobs.Add(blob);
            weights.Add(s.Payload.SampleCount);
        }
        var result = Aggregator.Aggregate(task, model, momentum, blobs.Select(b => Updates.Dequantize(b, model.Length)).ToArray(), weights);
        byte[] newRoot = ModelBlobs.Put(_store, result.Model);
        var payload = ledger.Executor.ProposeFinalization(ledger.State, taskId, newRoot, height)!;
        return new FinalizationProposal(payload, result, model, momentum, blobs, weights);
    }

    /// <summary>
    /// A validator's check before voting for a finalize transaction: fetches θ_{r+1} by the proposed root and
    /// recomputes s leaves chosen by SHA-256("pot/aggregation-check/v1" ‖ new root ‖ validator key) from θ_r, the
    /// momentum and each accepted q (PoGO's random leaf check).
    /// </summary>
    /// <param name="task">The protocol task.</param>
    /// <param name="proposal">The proposal.</param>
    /// <param name="network">Where θ_{r+1} is fetched.</param>
    /// <param name="validatorPublicKey">The checking validator's key (seeds its leaves).</param>
    /// <returns>The number of leaves that failed (any failure: do not vote); −1 when θ_{r+1} is unavailable or does not match its root.</returns>
    public static int CheckProposal(ProtocolTask task, FinalizationProposal proposal, IChunkSource network, byte[] validatorPublicKey)
    {
        ArgumentNullException.ThrowIfNull(proposal);
        ArgumentNullException.ThrowIfNull(network);
        byte[] root = proposal.Payload.NewModelRoot;
        var published = ModelBlobs.TryGet(network, root, proposal.BaseModel.Length);
        if (published is null)
        {
            return -1;
        }
        var asPublished = proposal.Result with { Model = published };
        int failures = 0;
        foreach (int leaf in new ProtocolRandom(Hashing.Domain("pot/aggregation-check/v1", root, validatorPublicKey), "leaves")
            .SampleWithoutReplacement(Updates.LeafCount(published.Length), task.SampledLeaves))
        {
            if (!Aggregator.CheckLeaf(task, proposal.BaseModel, proposal.BaseMomentum, proposal.UpdateBlobs, proposal.Weights, asPublished, leaf))
            {
                failures++;
            }
        }
        return failures;
    }
}
