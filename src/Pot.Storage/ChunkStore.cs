using System.Buffers.Binary;
using System.Security.Cryptography;
using Pot.Commitments;
using RocksDbSharp;

namespace Pot.Storage;

/// <summary>Result of a garbage collection pass.</summary>
/// <param name="ChunksDeleted">Number of unreferenced chunks removed.</param>
/// <param name="BytesFreed">Total size of their data.</param>
public readonly record struct GarbageCollectionResult(int ChunksDeleted, long BytesFreed);

/// <summary>
/// Content-addressed blob store on RocksDB: chunks are stored under their SHA-256, reference-counted,
/// garbage-collected when no reference remains, and re-hashed on every read so that a chunk damaged
/// on disk is reported and never served.
/// </summary>
/// <remarks>
/// Three column families: "chunks" maps a 32-byte hash to the chunk bytes, "refs" maps it to the
/// reference count (uint64 little-endian), "names" maps a caller's name to a chunk hash (named chunks). Each put or release is one atomic, synced write batch, so a
/// crash leaves both families consistent. Reference-count updates are serialised by a lock because
/// they are read-modify-write.
/// </remarks>
public sealed class ChunkStore : IDisposable
{
    /// <summary>Largest chunk accepted (64 MiB): model leaves, update blobs and shards are far smaller.</summary>
    public const int MaxChunkBytes = 64 * 1024 * 1024;

    private const string ChunksFamily = "chunks";
    private const string RefsFamily = "refs";
    private const string NamesFamily = "names";

    private readonly RocksDb _db;
    private readonly ColumnFamilyHandle _chunks;
    private readonly ColumnFamilyHandle _refs;
    private readonly ColumnFamilyHandle _names;
    private readonly WriteOptions _syncWrites = new WriteOptions().SetSync(true);
    private readonly object _gate = new();
    private bool _disposed;

    private ChunkStore(RocksDb db)
    {
        _db = db;
        _chunks = db.GetColumnFamily(ChunksFamily);
        _refs = db.GetColumnFamily(RefsFamily);
        _names = db.GetColumnFamily(NamesFamily);
    }

    /// <summary>The underlying database (tests use it to damage data behind the store's back).</summary>
    internal RocksDb Database => _db;

    /// <summary>Opens (creating if needed) a chunk store in a directory.</summary>
    /// <param name="directory">Directory of the RocksDB database.</param>
    /// <returns>The store.</returns>
    public static ChunkStore Open(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory.CreateDirectory(directory);
        var options = new DbOptions().SetCreateIfMissing(true).SetCreateMissingColumnFamilies(true);
        var families = new ColumnFamilies
        {
            { ChunksFamily, new ColumnFamilyOptions() },
            { RefsFamily, new ColumnFamilyOptions() },
            { NamesFamily, new ColumnFamilyOptions() },
        };
        return new ChunkStore(RocksDb.Open(options, directory, families));
    }

    /// <summary>Stores a chunk (or adds a reference if it is already stored) and returns its SHA-256.</summary>
    /// <param name="data">The chunk bytes.</param>
    /// <returns>The 32-byte address.</returns>
    public byte[] Put(ReadOnlySpan<byte> data)
    {
        if (data.Length > MaxChunkBytes)
        {
            throw new ArgumentException($"chunk is {data.Length} bytes; at most {MaxChunkBytes}", nameof(data));
        }
        byte[] hash = SHA256.HashData(data);
        byte[] value = data.ToArray();
        lock (_gate)
        {
            ThrowIfDisposed();
            ulong references = ReadReferenceCount(hash);
            using var batch = new WriteBatch();
            // Rewriting identical bytes is harmless for a content-addressed key, and it repairs a copy
            // that was damaged on disk when the same chunk arrives again.
            batch.Put(hash, value, _chunks);
            batch.Put(hash, EncodeCount(references + 1), _refs);
            _db.Write(batch, _syncWrites);
        }
        return hash;
    }

    /// <summary>
    /// Stores a chunk under a 32-byte name as well as its SHA-256 (one atomic, synced batch). Protocol blobs are
    /// named by their own commitments (a Merkle root, a trace-leaf hash), which are not the SHA-256 of the bytes.
    /// The name holds one reference; re-binding a name to other bytes releases the old chunk's reference.
    /// The caller is responsible for the name matching the bytes (readers re-check commitments).
    /// </summary>
    /// <param name="name">32-byte name.</param>
    /// <param name="data">The chunk bytes.</param>
    /// <returns>The chunk's SHA-256 address.</returns>
    public byte[] PutNamed(ReadOnlySpan<byte> name, ReadOnlySpan<byte> data)
    {
        byte[] nameKey = CheckHash(name);
        if (data.Length > MaxChunkBytes)
        {
            throw new ArgumentException($"chunk is {data.Length} bytes; at most {MaxChunkBytes}", nameof(data));
        }
        byte[] hash = SHA256.HashData(data);
        byte[] value = data.ToArray();
        lock (_gate)
        {
            ThrowIfDisposed();
            byte[]? previous = _db.Get(nameKey, _names);
            if (previous is not null && previous.AsSpan().SequenceEqual(hash) && _db.Get(hash, _chunks) is not null)
            {
                return hash;
            }
            using var batch = new WriteBatch();
            if (previous is not null && !previous.AsSpan().SequenceEqual(hash))
            {
                ulong old = ReadReferenceCount(previous);
                batch.Put(previous, EncodeCount(old == 0 ? 0 : old - 1), _refs);
            }
            ulong references = ReadReferenceCount(hash);
            batch.Put(hash, value, _chunks);
            batch.Put(hash, EncodeCount(previous is not null && previous.AsSpan().SequenceEqual(hash) ? Math.Max(1, references) : references + 1), _refs);
            batch.Put(nameKey, hash, _names);
            _db.Write(batch, _syncWrites);
        }
        return hash;
    }

    /// <summary>Reads the chunk bound to a name (verified against its SHA-256 like <see cref="TryGet"/>).</summary>
    /// <param name="name">32-byte name.</param>
    /// <returns>The bytes, or null when the name is unbound or its chunk was collected.</returns>
    /// <exception cref="ChunkCorruptedException">The stored bytes are damaged.</exception>
    public byte[]? TryGetNamed(ReadOnlySpan<byte> name)
    {
        byte[] nameKey = CheckHash(name);
        ThrowIfDisposed();
        byte[]? hash = _db.Get(nameKey, _names);
        return hash is not null && TryGet(hash, out byte[]? data) ? data : null;
    }

    /// <summary>Adds a reference to a chunk that is already stored.</summary>
    /// <param name="hash">The chunk's address.</param>
    /// <exception cref="KeyNotFoundException">The chunk is not stored.</exception>
    public void AddReference(ReadOnlySpan<byte> hash)
    {
        byte[] key = CheckHash(hash);
        lock (_gate)
        {
            ThrowIfDisposed();
            if (_db.Get(key, _chunks) is null)
            {
                throw new KeyNotFoundException($"chunk {Hex.Encode(key)} is not stored; cannot add a reference");
            }
            _db.Put(key, EncodeCount(ReadReferenceCount(key) + 1), _refs, _syncWrites);
        }
    }

    /// <summary>Drops one reference; a chunk with none left is deleted by the next <see cref="CollectGarbage"/>.</summary>
    /// <param name="hash">The chunk's address.</param>
    /// <returns>The references remaining.</returns>
    /// <exception cref="InvalidOperationException">The chunk has no reference to release.</exception>
    public ulong Release(ReadOnlySpan<byte> hash)
    {
        byte[] key = CheckHash(hash);
        lock (_gate)
        {
            ThrowIfDisposed();
            ulong references = ReadReferenceCount(key);
            if (references == 0)
            {
                throw new InvalidOperationException($"chunk {Hex.Encode(key)} has no reference to release");
            }
            _db.Put(key, EncodeCount(references - 1), _refs, _syncWrites);
            return references - 1;
        }
    }

    /// <summary>Current reference count (0 for unknown or unreferenced chunks).</summary>
    /// <param name="hash">The chunk's address.</param>
    /// <returns>The count.</returns>
    public ulong ReferenceCount(ReadOnlySpan<byte> hash)
    {
        byte[] key = CheckHash(hash);
        lock (_gate)
        {
            ThrowIfDisposed();
            return ReadReferenceCount(key);
        }
    }

    /// <summary>True when a chunk with this address is stored (its integrity is not checked here).</summary>
    /// <param name="hash">The chunk's address.</param>
    /// <returns>Whether it is present.</returns>
    public bool Contains(ReadOnlySpan<byte> hash)
    {
        byte[] key = CheckHash(hash);
        ThrowIfDisposed();
        return _db.Get(key, _chunks) is not null;
    }

    /// <summary>Reads a chunk, verifying that it still hashes to its address.</summary>
    /// <param name="hash">The chunk's address.</param>
    /// <param name="data">The chunk, or null when it is not stored.</param>
    /// <returns>Whether the chunk is stored.</returns>
    /// <exception cref="ChunkCorruptedException">The stored bytes do not hash to the address.</exception>
    public bool TryGet(ReadOnlySpan<byte> hash, out byte[]? data)
    {
        byte[] key = CheckHash(hash);
        ThrowIfDisposed();
        data = _db.Get(key, _chunks);
        if (data is null)
        {
            return false;
        }
        byte[] actual = SHA256.HashData(data);
        if (!CryptographicOperations.FixedTimeEquals(actual, key))
        {
            int storedLength = data.Length;
            data = null;
            throw new ChunkCorruptedException($"chunk {Hex.Encode(key)} is corrupted on disk: its {storedLength} stored bytes hash to {Hex.Encode(actual)}; it was not served and must be fetched again");
        }
        return true;
    }

    /// <summary>Reads a chunk, verifying its integrity.</summary>
    /// <param name="hash">The chunk's address.</param>
    /// <returns>The chunk bytes.</returns>
    /// <exception cref="KeyNotFoundException">The chunk is not stored.</exception>
    /// <exception cref="ChunkCorruptedException">The stored bytes are damaged.</exception>
    public byte[] Get(ReadOnlySpan<byte> hash)
    {
        if (!TryGet(hash, out byte[]? data))
        {
            throw new KeyNotFoundException($"chunk {Hex.Encode(hash)} is not stored");
        }
        return data!;
    }

    /// <summary>Reads a byte range of a chunk; the whole chunk is verified first.</summary>
    /// <param name="hash">The chunk's address.</param>
    /// <param name="offset">First byte.</param>
    /// <param name="length">Number of bytes.</param>
    /// <returns>The bytes.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The range lies outside the chunk.</exception>
    public byte[] GetRange(ReadOnlySpan<byte> hash, long offset, int length)
    {
        byte[] data = Get(hash);
        if (offset < 0 || length < 0 || offset + length > data.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"range [{offset}, {offset + length}) is outside chunk {Hex.Encode(hash)} of {data.Length} bytes");
        }
        return data.AsSpan((int)offset, length).ToArray();
    }

    /// <summary>Deletes every chunk whose reference count is zero.</summary>
    /// <returns>How many chunks and bytes were removed.</returns>
    public GarbageCollectionResult CollectGarbage()
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            var garbage = new List<byte[]>();
            using (Iterator it = _db.NewIterator(_refs))
            {
                for (it.SeekToFirst(); it.Valid(); it.Next())
                {
                    if (BinaryPrimitives.ReadUInt64LittleEndian(it.Value()) == 0)
                    {
                        garbage.Add(it.Key());
                    }
                }
            }
            long bytes = 0;
            using var batch = new WriteBatch();
            foreach (byte[] key in garbage)
            {
                bytes += _db.Get(key, _chunks)?.LongLength ?? 0;
                batch.Delete(key, _chunks);
                batch.Delete(key, _refs);
            }
            _db.Write(batch, _syncWrites);
            return new GarbageCollectionResult(garbage.Count, bytes);
        }
    }

    /// <summary>Closes the database.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                _disposed = true;
                _db.Dispose();
            }
        }
    }

    private ulong ReadReferenceCount(byte[] key)
    {
        byte[]? value = _db.Get(key, _refs);
        return value is null ? 0 : BinaryPrimitives.ReadUInt64LittleEndian(value);
    }

    private static byte[] EncodeCount(ulong count)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, count);
        return bytes;
    }

    private static byte[] CheckHash(ReadOnlySpan<byte> hash)
    {
        if (hash.Length != 32)
        {
            throw new ArgumentException($"a chunk address is a 32-byte SHA-256, got {hash.Length} bytes", nameof(hash));
        }
        return hash.ToArray();
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
