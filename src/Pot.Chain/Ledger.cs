using Pot.Chain.Blocks;
using Pot.Chain.Execution;
using Pot.Chain.Genesis;
using Pot.Chain.Protocol;
using Pot.Chain.State;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Keys;

namespace Pot.Chain;

/// <summary>The result of executing a block against its parent state, before anything is committed.</summary>
/// <param name="Block">The block.</param>
/// <param name="Changes">State changes, strictly ascending by key.</param>
/// <param name="StateRoot">The state root after the block (equal to the header's).</param>
public sealed record BlockExecution(Block Block, IReadOnlyList<StateChange> Changes, byte[] StateRoot);

/// <summary>The verdict on a proposed block.</summary>
/// <param name="Rejection">Null when valid, else why not.</param>
/// <param name="Execution">The execution when valid.</param>
public sealed record BlockValidation(Rejection? Rejection, BlockExecution? Execution)
{
    /// <summary>True when the block is valid.</summary>
    public bool IsValid => Rejection is null;
}

/// <summary>Thrown when a block offered for commit is invalid.</summary>
public sealed class BlockRejectedException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="rejection">Why.</param>
    public BlockRejectedException(Rejection rejection) : base(rejection?.ToString()) => Rejection = rejection!;

    /// <summary>Why the block was rejected.</summary>
    public Rejection Rejection { get; }
}

/// <summary>
/// The in-memory chain: the head header and the state after it. It exposes the two hooks a consensus
/// engine needs — <see cref="ValidateProposal(ReadOnlySpan{byte}, ulong?)"/> (block-validity callback)
/// and <see cref="PrepareCommit"/> / <see cref="ApplyCommitted"/> (commit callback, split so durable
/// storage can write between them) — and knows nothing about consensus, disks or clocks.
/// </summary>
public sealed class Ledger
{
    private readonly ChainExecutor _executor;
    private BlockExecution? _lastValidated;

    /// <summary>Creates a ledger at a head.</summary>
    /// <param name="state">The state after <paramref name="head"/>.</param>
    /// <param name="head">The head header.</param>
    /// <param name="rules">Protocol rules (default when null).</param>
    public Ledger(ChainState state, BlockHeader head, IProtocolRules? rules = null)
    {
        State = state ?? throw new ArgumentNullException(nameof(state));
        Head = head ?? throw new ArgumentNullException(nameof(head));
        HeadHash = head.Hash();
        _executor = new ChainExecutor(rules);
        Parameters = StateAccess.Parameters(state);
    }

    /// <summary>Creates a ledger at the genesis of a document.</summary>
    /// <param name="genesis">The genesis.</param>
    /// <param name="rules">Protocol rules.</param>
    /// <returns>The ledger at height 0.</returns>
    public static Ledger FromGenesis(GenesisDocument genesis, IProtocolRules? rules = null)
    {
        ArgumentNullException.ThrowIfNull(genesis);
        var (state, header) = genesis.Build();
        return new Ledger(state, header, rules);
    }

    /// <summary>The state after the head.</summary>
    public ChainState State { get; private set; }

    /// <summary>The head header.</summary>
    public BlockHeader Head { get; private set; }

    /// <summary>The head header's hash.</summary>
    public byte[] HeadHash { get; private set; }

    /// <summary>The chain parameters.</summary>
    public ChainParameters Parameters { get; }

    /// <summary>The chain id.</summary>
    public string ChainId => Head.ChainId;

    /// <summary>The executor (state-transition function).</summary>
    public ChainExecutor Executor => _executor;

    /// <summary>The validator set that must certify the next block.</summary>
    public ValidatorSet Validators => StateAccess.Validators(State);

    /// <summary>Checks a single transaction against the head state as if it were the next block's first.</summary>
    /// <param name="tx">The transaction.</param>
    /// <returns>Null when it would apply, else the rejection.</returns>
    public Rejection? CheckTransaction(Transaction tx) => CheckTransaction(tx, new StateOverlay(State));

    /// <summary>Checks a transaction on top of an overlay (mempool: the sender's earlier pending transactions applied).</summary>
    /// <param name="tx">The transaction.</param>
    /// <param name="overlay">Overlay over the head state; the transaction's effects are merged into it on success.</param>
    /// <returns>Null when it applies, else the rejection.</returns>
    public Rejection? CheckTransaction(Transaction tx, StateOverlay overlay)
    {
        ArgumentNullException.ThrowIfNull(overlay);
        var ctx = NextContext(Head.TimeMs + 1, new byte[AccountAddress.Size]);
        // The next block opens the challenges of the head's submissions first; an attestation is checked as it will run.
        _executor.OpenChallenges(overlay, ctx);
        return _executor.ApplyTransaction(overlay, tx, ctx);
    }

    private BlockContext NextContext(ulong timeMs, byte[] proposer) => new(ChainId, Head.Height + 1, timeMs, proposer, Parameters, HeadHash);

    /// <summary>Decodes and validates a proposed block (the consensus block-validity callback).</summary>
    /// <param name="blockBytes">The encoded block.</param>
    /// <param name="nowMs">The local clock, to refuse blocks from the future; null skips that check.</param>
    /// <returns>The verdict.</returns>
    public BlockValidation ValidateProposal(ReadOnlySpan<byte> blockBytes, ulong? nowMs = null)
    {
        Block block;
        try
        {
            block = Block.Decode(blockBytes);
        }
        catch (PotFormatException ex)
        {
            return new BlockValidation(new Rejection(blockBytes.Length > ChainLimits.MaxBlockBytes ? RejectionCode.Oversize : RejectionCode.Malformed, ex.Message), null);
        }
        return ValidateProposal(block, nowMs);
    }

    /// <summary>Largest accepted lead of a block's time over the local clock.</summary>
    public const ulong MaxClockDriftMs = 10_000;

    /// <summary>Validates a proposed block against the head.</summary>
    /// <param name="block">The block.</param>
    /// <param name="nowMs">The local clock (null skips the future check).</param>
    /// <returns>The verdict.</returns>
    public BlockValidation ValidateProposal(Block block, ulong? nowMs = null)
    {
        ArgumentNullException.ThrowIfNull(block);
        if (_lastValidated is not null && _lastValidated.Block.Hash.AsSpan().SequenceEqual(block.Hash) && nowMs is null)
        {
            return new BlockValidation(null, _lastValidated);
        }
        try
        {
            var exec = Execute(block, nowMs);
            _lastValidated = exec;
            return new BlockValidation(null, exec);
        }
        catch (RejectedException ex)
        {
            return new BlockValidation(ex.Rejection, null);
        }
    }

    private static RejectedException Invalid(string message) => new(RejectionCode.InvalidBlock, message);

    private BlockExecution Execute(Block block, ulong? nowMs)
    {
        var h = block.Header;
        string at = $"block {h.Height} ({Hex.Encode(block.Hash.AsSpan(0, 8))})";
        if (h.ChainId != ChainId)
        {
            throw new RejectedException(RejectionCode.WrongChainId, $"{at}: chain id '{h.ChainId}'; expected '{ChainId}'");
        }
        if (h.Height != Head.Height + 1)
        {
            throw Invalid($"{at}: height {h.Height}; expected {Head.Height + 1}");
        }
        if (!h.PreviousHash.AsSpan().SequenceEqual(HeadHash))
        {
            throw Invalid($"{at}: previous hash {Hex.Encode(h.PreviousHash)}; expected the head {Hex.Encode(HeadHash)}");
        }
        if (h.TimeMs <= Head.TimeMs)
        {
            throw Invalid($"{at}: time {h.TimeMs} ms is not after the parent's {Head.TimeMs} ms");
        }
        if (nowMs is ulong now && h.TimeMs > now + MaxClockDriftMs)
        {
            throw Invalid($"{at}: time {h.TimeMs} ms is more than {MaxClockDriftMs} ms ahead of the local clock {now} ms");
        }
        if (!Validators.Contains(h.Proposer))
        {
            throw Invalid($"{at}: proposer {AddressText.Of(h.Proposer)} is not in the validator set");
        }
        if (block.Transactions.Count > Parameters.MaxBlockTransactions)
        {
            throw new RejectedException(RejectionCode.Oversize, $"{at}: {block.Transactions.Count} transactions; the limit is {Parameters.MaxBlockTransactions}");
        }
        long bytes = 0;
        foreach (var t in block.Transactions)
        {
            bytes += t.Size;
        }
        if (bytes > Parameters.MaxBlockBytes)
        {
            throw new RejectedException(RejectionCode.Oversize, $"{at}: {bytes} transaction bytes; the limit is {Parameters.MaxBlockBytes}");
        }
        byte[] txRoot = Block.ComputeTransactionsRoot(block.Transactions);
        if (!txRoot.AsSpan().SequenceEqual(h.TransactionsRoot))
        {
            throw Invalid($"{at}: transactions root {Hex.Encode(h.TransactionsRoot)}; the transactions hash to {Hex.Encode(txRoot)}");
        }
        var seen = new HashSet<byte[]>(ByteOrder.Equality);
        foreach (var t in block.Transactions)
        {
            if (!seen.Add(t.Hash))
            {
                throw Invalid($"{at}: {t} appears twice");
            }
        }

        // Signatures are independent of each other, so they are checked in parallel; the results are
        // per transaction, so the outcome does not depend on scheduling.
        var sigOk = new bool[block.Transactions.Count];
        if (block.Transactions.Count >= 64)
        {
            Parallel.For(0, sigOk.Length, i => sigOk[i] = block.Transactions[i].VerifySignature());
        }
        else
        {
            for (int i = 0; i < sigOk.Length; i++)
            {
                sigOk[i] = block.Transactions[i].VerifySignature();
            }
        }

        var ctx = NextContext(h.TimeMs, h.Proposer);
        var o = new StateOverlay(State);
        ChainExecutor.BeginBlock(o, ctx);
        _executor.OpenChallenges(o, ctx);
        var roots = new SortedDictionary<ulong, byte[]>();
        for (int i = 0; i < block.Transactions.Count; i++)
        {
            var t = block.Transactions[i];
            if (!sigOk[i])
            {
                throw new RejectedException(RejectionCode.BadSignature, $"{at}: transaction {i}: {t}: the signature does not verify");
            }
            if (_executor.ApplyTransaction(o, t, ctx, roots, signatureVerified: true) is Rejection r)
            {
                throw new RejectedException(r.Code, $"{at}: transaction {i}: {r.Message}");
            }
        }
        ChainExecutor.EndBlock(o, ctx);
        var expectedRoots = roots.Select(kv => new TaskModelRoot(kv.Key, kv.Value)).ToArray();
        if (!SameRoots(expectedRoots, h.ModelRoots))
        {
            throw Invalid($"{at}: the header lists {h.ModelRoots.Count} model roots that differ from the {expectedRoots.Length} the block sets");
        }
        var changes = o.SortedChanges();
        byte[] stateRoot = State.ComputeRootWith(changes);
        if (!stateRoot.AsSpan().SequenceEqual(h.StateRoot))
        {
            throw Invalid($"{at}: state root {Hex.Encode(h.StateRoot)}; executing the block gives {Hex.Encode(stateRoot)}");
        }
        return new BlockExecution(block, changes, stateRoot);
    }

    private static bool SameRoots(IReadOnlyList<TaskModelRoot> a, IReadOnlyList<TaskModelRoot> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }
        for (int i = 0; i < a.Count; i++)
        {
            if (a[i].TaskId != b[i].TaskId || !a[i].ModelRoot.AsSpan().SequenceEqual(b[i].ModelRoot))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Validates a block and its commit certificate (2f + 1 signatures of the current validator set
    /// over the header hash) without changing anything. Storage writes the result durably, then calls
    /// <see cref="ApplyCommitted"/>.
    /// </summary>
    /// <param name="block">The block.</param>
    /// <param name="certificate">Its commit certificate.</param>
    /// <returns>The execution to persist and apply.</returns>
    /// <exception cref="BlockRejectedException">The block or certificate is invalid.</exception>
    public BlockExecution PrepareCommit(Block block, CommitCertificate certificate)
    {
        ArgumentNullException.ThrowIfNull(block);
        ArgumentNullException.ThrowIfNull(certificate);
        var v = ValidateProposal(block);
        if (v.Rejection is Rejection r)
        {
            throw new BlockRejectedException(r);
        }
        if (certificate.Check(block.Hash, Validators, a => StateAccess.Account(State, a).PublicKey) is string error)
        {
            throw new BlockRejectedException(new Rejection(RejectionCode.InvalidBlock, $"block {block.Header.Height}: {error}"));
        }
        return v.Execution!;
    }

    /// <summary>Makes a prepared execution the new head.</summary>
    /// <param name="execution">The result of <see cref="PrepareCommit"/> on the current head.</param>
    public void ApplyCommitted(BlockExecution execution)
    {
        ArgumentNullException.ThrowIfNull(execution);
        if (!execution.Block.Header.PreviousHash.AsSpan().SequenceEqual(HeadHash))
        {
            throw new InvalidOperationException($"block {execution.Block.Header.Height} does not extend the head {Hex.Encode(HeadHash)}; prepare it again");
        }
        State.Apply(execution.Changes, execution.StateRoot);
        Head = execution.Block.Header;
        HeadHash = execution.Block.Hash;
        _lastValidated = null;
    }

    /// <summary>Validates and applies a certified block in memory (the commit callback without storage).</summary>
    /// <param name="block">The block.</param>
    /// <param name="certificate">Its certificate.</param>
    /// <returns>The execution.</returns>
    /// <exception cref="BlockRejectedException">Invalid block or certificate.</exception>
    public BlockExecution Commit(Block block, CommitCertificate certificate)
    {
        var exec = PrepareCommit(block, certificate);
        ApplyCommitted(exec);
        return exec;
    }

    /// <summary>
    /// Builds the next block from candidate transactions (the proposer's job): candidates that do not
    /// apply are skipped and reported; limits on count and bytes are respected.
    /// </summary>
    /// <param name="candidates">Candidate transactions in priority order.</param>
    /// <param name="proposer">20-byte proposer address.</param>
    /// <param name="view">PBFT view.</param>
    /// <param name="timeMs">Block time (must exceed the head's).</param>
    /// <param name="skipped">Receives the skipped candidates and why.</param>
    /// <returns>The block (without certificate).</returns>
    public Block BuildBlock(IEnumerable<Transaction> candidates, byte[] proposer, ulong view, ulong timeMs, out IReadOnlyList<(Transaction Transaction, Rejection Rejection)> skipped)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(proposer);
        if (timeMs <= Head.TimeMs)
        {
            throw new ArgumentException($"block time {timeMs} ms must be after the head's {Head.TimeMs} ms", nameof(timeMs));
        }
        var ctx = NextContext(timeMs, proposer);
        var o = new StateOverlay(State);
        ChainExecutor.BeginBlock(o, ctx);
        _executor.OpenChallenges(o, ctx);
        var roots = new SortedDictionary<ulong, byte[]>();
        var included = new List<Transaction>();
        var skippedList = new List<(Transaction, Rejection)>();
        long bytes = 0;
        var seen = new HashSet<byte[]>(ByteOrder.Equality);
        foreach (var t in candidates)
        {
            if (included.Count >= Parameters.MaxBlockTransactions || bytes + t.Size > Parameters.MaxBlockBytes)
            {
                skippedList.Add((t, new Rejection(RejectionCode.Oversize, $"{t}: the block is full")));
                continue;
            }
            if (!seen.Add(t.Hash))
            {
                skippedList.Add((t, new Rejection(RejectionCode.Malformed, $"{t}: duplicate in the candidate list")));
                continue;
            }
            if (_executor.ApplyTransaction(o, t, ctx, roots) is Rejection r)
            {
                skippedList.Add((t, r));
                continue;
            }
            included.Add(t);
            bytes += t.Size;
        }
        ChainExecutor.EndBlock(o, ctx);
        var changes = o.SortedChanges();
        byte[] stateRoot = State.ComputeRootWith(changes);
        var header = new BlockHeader(ChainId, Head.Height + 1, (byte[])HeadHash.Clone(), timeMs, proposer, view, stateRoot,
            Block.ComputeTransactionsRoot(included), roots.Select(kv => new TaskModelRoot(kv.Key, kv.Value)).ToArray());
        var block = new Block(header, included);
        _lastValidated = new BlockExecution(block, changes, stateRoot);
        skipped = skippedList;
        return block;
    }
}
