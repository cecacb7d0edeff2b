using Pot.Chain.Blocks;
using Pot.Storage;

namespace Pot.Node;

/// <summary>A block the node committed to its chain store, with its certificate.</summary>
/// <param name="Block">The block.</param>
/// <param name="Certificate">Its commit certificate (2f+1 block-commit signatures).</param>
public sealed record CommittedBlock(Block Block, CommitCertificate Certificate);

/// <summary>
/// Role seam: a protocol role (miner, verifier, aggregator) hosted by the node. The node calls
/// <see cref="OnCommittedAsync"/> for every block it commits, strictly in height order, outside the
/// consensus lock; a role submits its transactions back through <see cref="INodeApi.SubmitTransaction"/>.
/// Roles are registered as services of this interface (none are built in yet).
/// </summary>
public interface INodeRole
{
    /// <summary>Short name shown in logs and status.</summary>
    string Name { get; }

    /// <summary>Called once before the first block, with the node's API.</summary>
    /// <param name="node">The node.</param>
    /// <param name="cancellation">Stops with the node.</param>
    /// <returns>Completion.</returns>
    Task StartAsync(INodeApi node, CancellationToken cancellation);

    /// <summary>A block was committed (certified and durable).</summary>
    /// <param name="block">The block.</param>
    /// <param name="cancellation">Stops with the node.</param>
    /// <returns>Completion; the next block waits for it.</returns>
    Task OnCommittedAsync(CommittedBlock block, CancellationToken cancellation);
}

/// <summary>What the node offers its roles.</summary>
public interface INodeApi
{
    /// <summary>Admits a signed transaction to the mempool and gossips it; null when accepted, else why not.</summary>
    /// <param name="transaction">Canonical transaction bytes.</param>
    /// <returns>Null or the error text.</returns>
    string? SubmitTransaction(byte[] transaction);

    /// <summary>The chunk store seam.</summary>
    IChunkService Chunks { get; }

    /// <summary>Chain id.</summary>
    string ChainId { get; }

    /// <summary>Whether this node is a validator (false: a follower).</summary>
    bool IsValidator { get; }

    /// <summary>Signs <paramref name="payload"/> with <paramref name="key"/> (next nonce after the sender's pending transactions, minimum fee) and submits it like <see cref="SubmitTransaction"/>.</summary>
    /// <param name="key">Sender key.</param>
    /// <param name="payload">Payload.</param>
    /// <param name="id">The transaction id when it was built.</param>
    /// <returns>Null when accepted, else why not.</returns>
    string? SubmitPayload(Pot.Commitments.Keys.Ed25519Keys key, Pot.Chain.Transactions.TransactionPayload payload, out byte[]? id);

    /// <summary>Whether the sender has transactions in this node's mempool.</summary>
    /// <param name="sender">20-byte address.</param>
    /// <returns>True when some are pending.</returns>
    bool HasPending(byte[] sender);

    /// <summary>A copy of the head state (safe to read from any thread while the chain moves on).</summary>
    /// <returns>The snapshot.</returns>
    ChainSnapshot Snapshot();
}

/// <summary>A copy of the chain state at a head.</summary>
/// <param name="State">State after the head block (a private copy).</param>
/// <param name="Head">Head header.</param>
/// <param name="HeadHash">Head hash.</param>
public sealed record ChainSnapshot(Pot.Chain.State.ChainState State, BlockHeader Head, byte[] HeadHash);

/// <summary>
/// Chunk seam: content-addressed blobs (model updates, checkpoints). The node only stores them locally
/// (<see cref="LocalChunkService"/>); chunk transfer between nodes (ranged GET, resumable hash-verifying
/// client) comes from the Pot.Network library, which maps its endpoints on the node's peer app and
/// implements <see cref="FetchAsync"/>.
/// </summary>
public interface IChunkService
{
    /// <summary>Stores a blob and returns its SHA-256 hash.</summary>
    /// <param name="data">Blob bytes.</param>
    /// <returns>32-byte hash.</returns>
    byte[] Put(ReadOnlySpan<byte> data);

    /// <summary>Reads a locally stored blob.</summary>
    /// <param name="hash">32-byte hash.</param>
    /// <param name="data">The blob when found.</param>
    /// <returns>True when found.</returns>
    bool TryGet(ReadOnlySpan<byte> hash, out byte[]? data);

    /// <summary>Fetches a blob from peers (not implemented by the local service).</summary>
    /// <param name="hash">32-byte hash.</param>
    /// <param name="cancellation">Cancellation.</param>
    /// <returns>The verified blob, or null when no peer has it.</returns>
    Task<byte[]?> FetchAsync(byte[] hash, CancellationToken cancellation);
}

/// <summary>The local-only chunk service over <see cref="ChunkStore"/> (RocksDB).</summary>
/// <param name="store">The chunk store.</param>
public sealed class LocalChunkService(ChunkStore store) : IChunkService
{
    /// <inheritdoc />
    public byte[] Put(ReadOnlySpan<byte> data) => store.Put(data);

    /// <inheritdoc />
    public bool TryGet(ReadOnlySpan<byte> hash, out byte[]? data) => store.TryGet(hash, out data);

    /// <inheritdoc />
    public Task<byte[]?> FetchAsync(byte[] hash, CancellationToken cancellation) =>
        Task.FromResult(store.TryGet(hash, out var data) ? data : null);
}
