namespace Pot.Consensus;

/// <summary>An ordered set of validator node ids. f = ⌊(n−1)/3⌋, quorum = n − f (2f+1 when n = 3f+1).</summary>
public sealed class ValidatorSet
{
    /// <summary>Creates a set; ids are sorted and must be distinct and non-negative.</summary>
    /// <param name="members">Validator node ids.</param>
    public ValidatorSet(IEnumerable<int> members)
    {
        Members = members.Order().ToArray();
        if (Members.Length == 0 || Members.Length > ConsensusLimits.MaxValidators)
        {
            throw new ArgumentException($"validator set has {Members.Length} members, expected 1..{ConsensusLimits.MaxValidators}", nameof(members));
        }
        if (Members[0] < 0 || Members.Distinct().Count() != Members.Length)
        {
            throw new ArgumentException($"validator ids [{string.Join(",", Members)}] must be distinct and non-negative", nameof(members));
        }
    }

    /// <summary>Sorted member ids.</summary>
    public int[] Members { get; }

    /// <summary>Number of validators n.</summary>
    public int Count => Members.Length;

    /// <summary>Faults tolerated f = ⌊(n−1)/3⌋.</summary>
    public int F => (Count - 1) / 3;

    /// <summary>Quorum size n − f; any two quorums share f+1 members, so at least one honest one.</summary>
    public int Quorum => Count - F;

    /// <summary>Whether <paramref name="nodeId"/> is a member.</summary>
    /// <param name="nodeId">Node id.</param>
    /// <returns>True for a member.</returns>
    public bool Contains(int nodeId) => Array.BinarySearch(Members, nodeId) >= 0;

    /// <summary>Primary of <paramref name="view"/>: member number view mod n (PBFT 4.1).</summary>
    /// <param name="view">View number.</param>
    /// <returns>Node id of the primary.</returns>
    public int Primary(long view) => Members[(int)(view % Count)];

    /// <inheritdoc />
    public override string ToString() => "{" + string.Join(",", Members) + "}";
}

/// <summary>Block validity and reconfiguration, supplied by the chain.</summary>
public interface IBlockValidator
{
    /// <summary>Whether a proposed payload is a valid block at <paramref name="height"/>; invalid proposals are never prepared.</summary>
    /// <param name="height">Block height.</param>
    /// <param name="payload">Opaque payload (empty for a null block).</param>
    /// <returns>True when valid.</returns>
    bool IsValid(long height, ReadOnlySpan<byte> payload);

    /// <summary>The validator set a committed block installs, or null. It takes effect after the next checkpoint boundary at or above <paramref name="height"/>.</summary>
    /// <param name="height">Block height.</param>
    /// <param name="payload">Committed payload.</param>
    /// <returns>The new set, or null for no change.</returns>
    ValidatorSet? ValidatorSetChange(long height, ReadOnlySpan<byte> payload) => null;
}

/// <summary>
/// Optional proposal hook for hosts whose blocks are not <see cref="TransactionBatch"/>es (the node proposes
/// chain blocks). With a builder the primary proposes height h only once it has executed h - 1 (no
/// pipelining: a chain block names its parent), the builder supplies the payload, and the builder says
/// which pending transactions a committed payload contains and which pending ones went stale.
/// </summary>
public interface IProposalBuilder
{
    /// <summary>The payload to propose at <paramref name="height"/>, or null when there is nothing to propose yet (the primary retries after the batch delay).</summary>
    /// <param name="height">Consensus height; the replica has executed every height below it.</param>
    /// <param name="batch">Pending transactions taken from the replica's pool, oldest first (a hint; the builder may choose others).</param>
    /// <returns>Payload bytes, or null.</returns>
    byte[]? Build(long height, IReadOnlyList<byte[]> batch);

    /// <summary>The transactions a committed payload contains; they leave the pending pool.</summary>
    /// <param name="payload">Committed payload (empty for a null block).</param>
    /// <returns>Transaction bytes as submitted.</returns>
    IReadOnlyList<byte[]> TransactionsOf(ReadOnlySpan<byte> payload);

    /// <summary>Whether a pending transaction can no longer be included (already committed or invalid); stale ones are dropped so they do not keep view timers running.</summary>
    /// <param name="transaction">Transaction bytes.</param>
    /// <returns>True when stale.</returns>
    bool IsStale(byte[] transaction);

    /// <summary>
    /// A payload to propose at <paramref name="height"/> when no transaction is pending (an empty block that lets
    /// height-based deadlines pass), or null for none (the default). The replica asks on every step in which it is
    /// the primary with an empty pool, so the host decides the cadence.
    /// </summary>
    /// <param name="height">Consensus height; the replica has executed every height below it.</param>
    /// <returns>Payload bytes, or null.</returns>
    byte[]? BuildEmpty(long height) => null;
}

/// <summary>Tunables of the protocol. Defaults suit the simulator; all durations are virtual milliseconds.</summary>
public sealed record ConsensusOptions
{
    /// <summary>Checkpoint interval K in heights.</summary>
    public int CheckpointInterval { get; init; } = 8;
    /// <summary>Watermark window L: heights in (low, low+L] are accepted. Must be a multiple of K.</summary>
    public int WatermarkWindow { get; init; } = 16;
    /// <summary>Largest number of transactions in one block.</summary>
    public int MaxBatchTransactions { get; init; } = 32;
    /// <summary>How long a primary waits for a batch to fill before proposing.</summary>
    public long BatchDelayMs { get; init; } = 5;
    /// <summary>View timeout T: a backup waiting this long for progress starts a view change; during a view change the k-th consecutive failed view is abandoned after T·2^k with a quorum of view-changes (PBFT 4.5.2).</summary>
    public long ViewTimeoutMs { get; init; } = 300;
    /// <summary>Cap on k in T·2^k.</summary>
    public int MaxTimeoutDoublings { get; init; } = 4;
    /// <summary>How long to wait for a state-transfer response before asking another replica.</summary>
    public long StateTransferRetryMs { get; init; } = 300;
    /// <summary>How many views ahead a message may be and still be buffered rather than dropped.</summary>
    public int FutureViewWindow { get; init; } = 4;
    /// <summary>Largest number of buffered early messages.</summary>
    public int MaxBufferedMessages { get; init; } = 4096;
    /// <summary>Largest number of pending client transactions kept.</summary>
    public int MaxPendingTransactions { get; init; } = 100_000;

    /// <summary>Throws when the options are inconsistent.</summary>
    public void Validate()
    {
        if (CheckpointInterval < 1 || WatermarkWindow < CheckpointInterval || WatermarkWindow % CheckpointInterval != 0 || WatermarkWindow > ConsensusLimits.MaxCertificates)
        {
            throw new ArgumentException($"checkpoint interval {CheckpointInterval} and watermark window {WatermarkWindow}: expected K >= 1 and L a multiple of K with K <= L <= {ConsensusLimits.MaxCertificates}");
        }
        if (MaxBatchTransactions < 1 || ViewTimeoutMs < 1 || BatchDelayMs < 0 || StateTransferRetryMs < 1 || MaxTimeoutDoublings < 0 || MaxTimeoutDoublings > 30)
        {
            throw new ArgumentException("batch size, timeouts and doublings must be positive (doublings at most 30)");
        }
    }
}

/// <summary>Why a message was dropped. Every drop is counted, never acted on.</summary>
public enum DropReason
{
    /// <summary>Bytes did not decode to one well-formed message.</summary>
    Malformed,
    /// <summary>Signature invalid for the claimed sender.</summary>
    BadSignature,
    /// <summary>Sender is not a validator for the message's height or view.</summary>
    NotValidator,
    /// <summary>Message for an older view, or a normal-case message while changing views.</summary>
    WrongView,
    /// <summary>Message too far in the future (view or configuration) or the early buffer is full.</summary>
    TooFarAhead,
    /// <summary>Height outside the watermarks (low, low+L].</summary>
    OutsideWatermarks,
    /// <summary>Exact duplicate of a message already held.</summary>
    Duplicate,
    /// <summary>Sender sent a different vote for a slot it already voted in (equivocation).</summary>
    Equivocation,
    /// <summary>Pre-prepare or new view not from the primary, or a prepare from the primary.</summary>
    WrongRole,
    /// <summary>Payload digest mismatch or payload rejected by the block validator.</summary>
    InvalidBlock,
    /// <summary>Invalid embedded certificate: checkpoint proof, prepared certificate or new-view set.</summary>
    InvalidCertificate,
    /// <summary>Checkpoint height not a multiple of K or otherwise malformed checkpoint.</summary>
    InvalidCheckpoint,
    /// <summary>State-transfer response that is stale, unrequested or fails verification.</summary>
    BadStateTransfer,
}

/// <summary>Vote phases recorded before signing.</summary>
public enum VotePhase : byte
{
    /// <summary>A pre-prepare sent as primary.</summary>
    PrePrepare = 1,
    /// <summary>A prepare.</summary>
    Prepare = 2,
    /// <summary>A commit.</summary>
    Commit = 3,
}

/// <summary>Timers the core asks the host to run.</summary>
public enum TimerKind
{
    /// <summary>View-change timer (PBFT 4.4, 4.5.2).</summary>
    View,
    /// <summary>Primary's batch timer.</summary>
    Batch,
    /// <summary>State-transfer retry timer.</summary>
    StateTransfer,
}

/// <summary>An input to the core.</summary>
public abstract record ConsensusInput;

/// <summary>Start or restart: arms timers and resends what a restarted replica owes.</summary>
public sealed record StartInput : ConsensusInput;

/// <summary>A decoded message from the network.</summary>
/// <param name="Message">The message.</param>
public sealed record MessageInput(ConsensusMessage Message) : ConsensusInput;

/// <summary>Raw bytes from the network, decoded by the core (malformed bytes are counted).</summary>
/// <param name="Bytes">Encoded message.</param>
public sealed record RawMessageInput(byte[] Bytes) : ConsensusInput;

/// <summary>A timer set earlier expired.</summary>
/// <param name="Kind">Timer kind.</param>
/// <param name="Generation">Generation from the <see cref="SetTimerOutput"/>; stale generations are ignored.</param>
public sealed record TimerInput(TimerKind Kind, long Generation) : ConsensusInput;

/// <summary>A client transaction (opaque bytes) to order.</summary>
/// <param name="Transaction">Transaction bytes.</param>
public sealed record ClientRequestInput(byte[] Transaction) : ConsensusInput;

/// <summary>An output of the core, to be carried out by the host in order.</summary>
public abstract record ConsensusOutput;

/// <summary>Send a message to the listed nodes.</summary>
/// <param name="To">Destination node ids (never the sender itself).</param>
/// <param name="Message">Signed message.</param>
public sealed record SendOutput(int[] To, ConsensusMessage Message) : ConsensusOutput;

/// <summary>Arm (or re-arm) a timer; the host feeds back a <see cref="TimerInput"/> after the delay.</summary>
/// <param name="Kind">Timer kind.</param>
/// <param name="Generation">Opaque generation to echo back.</param>
/// <param name="DelayMs">Delay in milliseconds.</param>
public sealed record SetTimerOutput(TimerKind Kind, long Generation, long DelayMs) : ConsensusOutput;

/// <summary>A block committed and executed, in height order.</summary>
/// <param name="Height">Height.</param>
/// <param name="Digest">Block digest.</param>
/// <param name="Payload">Payload.</param>
public sealed record CommittedOutput(long Height, byte[] Digest, byte[] Payload) : ConsensusOutput;

/// <summary>Write this record durably before carrying out any later output.</summary>
/// <param name="Record">The record.</param>
public sealed record PersistOutput(PersistRecord Record) : ConsensusOutput;

/// <summary>A durable record; a restarted replica is rebuilt from the records it persisted.</summary>
public abstract record PersistRecord;

/// <summary>"Last signed (view, height, phase)": written before the vote is sent, so a restart never signs a different digest for it.</summary>
/// <param name="View">View.</param>
/// <param name="Height">Height.</param>
/// <param name="Phase">Phase.</param>
/// <param name="Digest">Digest signed.</param>
/// <param name="Certificate">For a commit, the prepared certificate it rests on (needed in later view changes).</param>
public sealed record VoteRecord(long View, long Height, VotePhase Phase, byte[] Digest, PreparedCertificate? Certificate) : PersistRecord;

/// <summary>The replica moved to a view (entered it, or started changing to it).</summary>
/// <param name="View">View.</param>
/// <param name="Entered">True when the view was entered through a new-view, false when only a view change was started.</param>
public sealed record ViewRecord(long View, bool Entered) : PersistRecord;

/// <summary>An executed block.</summary>
/// <param name="Height">Height.</param>
/// <param name="Payload">Payload.</param>
public sealed record BlockRecord(long Height, byte[] Payload) : PersistRecord;

/// <summary>A stable checkpoint and its proof.</summary>
/// <param name="Height">Height.</param>
/// <param name="StateDigest">State digest.</param>
/// <param name="Proof">Quorum of signed checkpoints.</param>
public sealed record CheckpointRecord(long Height, byte[] StateDigest, Checkpoint[] Proof) : PersistRecord;

/// <summary>Encoding of a block payload as a batch of client transactions.</summary>
public static class TransactionBatch
{
    /// <summary>Largest transaction accepted.</summary>
    public const int MaxTransactionBytes = 64 << 10;

    /// <summary>Encodes transactions as a count-prefixed list of length-prefixed byte strings.</summary>
    /// <param name="transactions">Transactions.</param>
    /// <returns>Payload bytes.</returns>
    public static byte[] Encode(IReadOnlyList<byte[]> transactions)
    {
        var w = new CanonicalWriter();
        w.Count(transactions.Count, ConsensusLimits.MaxPayloadBytes);
        foreach (var t in transactions) w.Bytes(t, MaxTransactionBytes);
        return w.ToArray();
    }

    /// <summary>Decodes a payload; returns false (and no list) for anything that is not a well-formed batch.</summary>
    /// <param name="payload">Payload bytes; empty is the empty batch.</param>
    /// <param name="transactions">Decoded transactions.</param>
    /// <returns>True on success.</returns>
    public static bool TryDecode(ReadOnlySpan<byte> payload, out List<byte[]> transactions)
    {
        transactions = new List<byte[]>();
        if (payload.IsEmpty) return true;
        try
        {
            var r = new CanonicalReader(payload);
            int count = r.Count("transactions", payload.Length / 4);
            for (int i = 0; i < count; i++) transactions.Add(r.Bytes("transaction", MaxTransactionBytes));
            r.End();
            return true;
        }
        catch (ConsensusEncodingException)
        {
            transactions.Clear();
            return false;
        }
    }
}
