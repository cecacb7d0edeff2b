using Pot.Commitments;
using Pot.Storage;

namespace Pot.Protocol;

/// <summary>
/// Where a role reads committed blobs: by the commitment the blob must match (an update root, a trace root, the
/// hash of a trace leaf for a training state, a model root for a model). Implementations: a local store
/// (<see cref="RocksChunkStore"/>), a miner's server (<see cref="MinerBlobServer"/>), several sources tried in turn
/// (<see cref="ChunkNetwork"/>); a networked node implements it by fetching from peers. Callers always re-check
/// the bytes against the commitment, so a source may be untrusted.
/// </summary>
public interface IChunkSource
{
    /// <summary>The blob committed to by <paramref name="commitment"/>, or null when it is not available.</summary>
    /// <param name="commitment">32-byte commitment.</param>
    /// <returns>The bytes (unchecked), or null.</returns>
    byte[]? TryGet(ReadOnlySpan<byte> commitment);
}

/// <summary>A source that spends processor time producing what it serves (a miner recomputing states); verifiers subtract it from their own.</summary>
public interface IServingClock
{
    /// <summary>Processor seconds spent serving so far.</summary>
    double ServeSeconds { get; }
}

/// <summary>A chunk source that can also keep blobs (a role's own store).</summary>
public interface IChunkStore : IChunkSource
{
    /// <summary>Stores a blob under its commitment.</summary>
    /// <param name="commitment">32-byte commitment (the caller computed it from the bytes).</param>
    /// <param name="blob">The bytes.</param>
    void Put(ReadOnlySpan<byte> commitment, byte[] blob);
}

/// <summary>
/// An <see cref="IChunkStore"/> on the project's RocksDB <see cref="ChunkStore"/>: each blob is a content-addressed
/// chunk (SHA-256, checked on every read) bound to its protocol commitment by <see cref="ChunkStore.PutNamed"/>.
/// </summary>
public sealed class RocksChunkStore : IChunkStore, IDisposable
{
    private readonly ChunkStore _store;

    /// <summary>Opens (or creates) a store in a directory.</summary>
    /// <param name="directory">RocksDB directory.</param>
    public RocksChunkStore(string directory) => _store = ChunkStore.Open(directory);

    /// <inheritdoc />
    public void Put(ReadOnlySpan<byte> commitment, byte[] blob) => _store.PutNamed(commitment, blob);

    /// <inheritdoc />
    public byte[]? TryGet(ReadOnlySpan<byte> commitment) => commitment.Length == 32 ? _store.TryGetNamed(commitment) : null;

    /// <summary>Closes the database.</summary>
    public void Dispose() => _store.Dispose();
}

/// <summary>An in-memory <see cref="IChunkStore"/>: a test double for unit tests that need no disk.</summary>
public sealed class InMemoryChunkStore : IChunkStore
{
    private readonly Dictionary<string, byte[]> _blobs = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public void Put(ReadOnlySpan<byte> commitment, byte[] blob) => _blobs[Hex.Encode(commitment)] = blob;

    /// <inheritdoc />
    public byte[]? TryGet(ReadOnlySpan<byte> commitment) => _blobs.TryGetValue(Hex.Encode(commitment), out var b) ? b : null;
}

/// <summary>
/// Several sources tried in order (the in-process stand-in for fetching from peers): the first that has the
/// blob answers. Sources can be added while it is in use (a new miner's server).
/// </summary>
public sealed class ChunkNetwork : IChunkSource, IServingClock
{
    /// <inheritdoc />
    public double ServeSeconds => _sources.OfType<IServingClock>().Sum(s => s.ServeSeconds);

    private readonly List<IChunkSource> _sources = [];

    /// <summary>Adds a source.</summary>
    /// <param name="source">The source.</param>
    public void Add(IChunkSource source) => _sources.Add(source);

    /// <summary>Removes a source.</summary>
    /// <param name="source">The source.</param>
    public void Remove(IChunkSource source) => _sources.Remove(source);

    private long _bytesServed;
    private long _requests;

    /// <summary>Bytes returned by <see cref="TryGet"/> so far (what a real network would move; local hits included).</summary>
    public long BytesServed => Interlocked.Read(ref _bytesServed);

    /// <summary>Requests answered with a blob so far.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <inheritdoc />
    public byte[]? TryGet(ReadOnlySpan<byte> commitment)
    {
        foreach (var s in _sources)
        {
            if (s.TryGet(commitment) is byte[] b)
            {
                Interlocked.Add(ref _bytesServed, b.Length);
                Interlocked.Increment(ref _requests);
                return b;
            }
        }
        return null;
    }
}

/// <summary>Models as blobs: fp32 little-endian values, named by their model commitment (docs/commitments.md).</summary>
public static class ModelBlobs
{
    /// <summary>Encodes a model.</summary>
    /// <param name="model">Values in canonical order.</param>
    /// <returns>4·n bytes.</returns>
    public static byte[] Encode(float[] model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var blob = new byte[model.Length * 4];
        ModelCommitment.WriteLittleEndian(model, blob);
        return blob;
    }

    /// <summary>Stores a model under its root.</summary>
    /// <param name="store">The store.</param>
    /// <param name="model">The model.</param>
    /// <returns>Its root.</returns>
    public static byte[] Put(IChunkStore store, float[] model)
    {
        ArgumentNullException.ThrowIfNull(store);
        byte[] root = ModelCommitment.ComputeRoot([model]);
        store.Put(root, Encode(model));
        return root;
    }

    /// <summary>Fetches a model by root and checks it against the root.</summary>
    /// <param name="source">Where to fetch.</param>
    /// <param name="root">The model root.</param>
    /// <param name="parameterCount">Expected values (negative: any count).</param>
    /// <returns>The model, or null when unavailable or not matching the root.</returns>
    public static float[]? TryGet(IChunkSource source, ReadOnlySpan<byte> root, int parameterCount = -1)
    {
        ArgumentNullException.ThrowIfNull(source);
        byte[]? blob = source.TryGet(root);
        if (blob is null || blob.Length % 4 != 0 || (parameterCount >= 0 && blob.Length != parameterCount * 4))
        {
            return null;
        }
        var model = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(blob).ToArray();
        return ModelCommitment.ComputeRoot([model]).AsSpan().SequenceEqual(root) ? model : null;
    }
}
