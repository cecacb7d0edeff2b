using System.Buffers.Binary;
using System.Security.Cryptography;
using Pot.Chain.Blocks;
using Pot.Chain.Genesis;
using Pot.Chain.Protocol;
using Pot.Chain.State;
using Pot.Commitments;
using Pot.Commitments.Canonical;
using RocksDbSharp;

namespace Pot.Chain.Storage;

/// <summary>Thrown when the database is damaged: a checksum mismatch, a RocksDB corruption report, or a state that does not match the head's state root.</summary>
public sealed class ChainStoreCorruptedException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is damaged and what was expected.</param>
    public ChainStoreCorruptedException(string message) : base(message) { }

    /// <summary>Creates the exception around a RocksDB error.</summary>
    /// <param name="message">What is damaged.</param>
    /// <param name="inner">The underlying error.</param>
    public ChainStoreCorruptedException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// The chain on RocksDB. Each committed block is written in ONE synced <see cref="WriteBatch"/>: the
/// block and certificate by height, the hash → height index, every state change, and the new head
/// record. RocksDB applies a batch atomically and a synced write is on disk when Write returns, so
/// after a crash the store holds exactly the blocks whose commit returned (plus possibly the one in
/// flight, complete or not at all) and a state equal to their replay.
/// </summary>
/// <remarks>
/// Key layout (one column family): "g" → genesis header hash; "m" → head record (header); "s" ‖ state
/// key → state value; "b" ‖ height (8, BE) → block ‖ certificate; "h" ‖ header hash → height. Every
/// value is stored as 8 checksum bytes ‖ value, the checksum being the first 8 bytes of
/// SHA-256(key ‖ value), so a flipped bit or a value under the wrong key is caught on read. At open
/// the whole state is read (checking every checksum) and its root recomputed and compared with the
/// head header's state root.
/// </remarks>
public sealed class ChainStore : IDisposable
{
    private const int ChecksumBytes = 8;
    private static readonly byte[] GenesisKey = "g"u8.ToArray();
    private static readonly byte[] HeadKey = "m"u8.ToArray();
    private const byte StatePrefix = (byte)'s';
    private const byte BlockPrefix = (byte)'b';
    private const byte HashPrefix = (byte)'h';

    private readonly RocksDb _db;
    private readonly WriteOptions _syncWrite = new WriteOptions().SetSync(true);
    private readonly string _path;

    private ChainStore(RocksDb db, string path, Ledger ledger)
    {
        _db = db;
        _path = path;
        Ledger = ledger;
    }

    /// <summary>The in-memory ledger at the store's head.</summary>
    public Ledger Ledger { get; }

    /// <summary>Height of the head.</summary>
    public ulong Height => Ledger.Head.Height;

    /// <summary>
    /// Opens (or creates from the genesis) the store at <paramref name="path"/>, verifying every state
    /// value's checksum and the state root against the head header.
    /// </summary>
    /// <param name="path">Database directory.</param>
    /// <param name="genesis">The chain's genesis (a store of another chain is refused).</param>
    /// <param name="rules">Protocol rules.</param>
    /// <returns>The open store.</returns>
    /// <exception cref="ChainStoreCorruptedException">The database is damaged.</exception>
    /// <exception cref="InvalidOperationException">The database belongs to another chain.</exception>
    public static ChainStore Open(string path, GenesisDocument genesis, IProtocolRules? rules = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(genesis);
        var (genesisState, genesisHeader) = genesis.Build();
        byte[] genesisHash = genesisHeader.Hash();
        RocksDb db = OpenDb(path);
        try
        {
            byte[]? storedGenesis = ReadChecked(db, GenesisKey);
            if (storedGenesis is null)
            {
                var store = new ChainStore(db, path, new Ledger(genesisState, genesisHeader, rules));
                store.WriteInitial(genesisHeader, genesisState.Entries, null, writeBlockIndex: true);
                return store;
            }
            if (!storedGenesis.AsSpan().SequenceEqual(genesisHash))
            {
                throw new InvalidOperationException($"database {path} belongs to the chain with genesis {Hex.Encode(storedGenesis)}; the given genesis is {Hex.Encode(genesisHash)}");
            }
            return new ChainStore(db, path, LoadLedger(db, path, rules));
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    private static RocksDb OpenDb(string path)
    {
        Directory.CreateDirectory(path);
        var options = new DbOptions().SetCreateIfMissing(true).SetParanoidChecks(true);
        try
        {
            return RocksDb.Open(options, path);
        }
        catch (RocksDbException ex)
        {
            throw new ChainStoreCorruptedException($"database {path} cannot be opened: {ex.Message}", ex);
        }
    }

    private static Ledger LoadLedger(RocksDb db, string path, IProtocolRules? rules)
    {
        byte[] headRecord = ReadChecked(db, HeadKey) ?? throw new ChainStoreCorruptedException($"database {path}: the head record is missing; expected one after the genesis record");
        BlockHeader head;
        try
        {
            head = BlockHeader.Decode(headRecord);
        }
        catch (PotFormatException ex)
        {
            throw new ChainStoreCorruptedException($"database {path}: the head record does not decode: {ex.Message}", ex);
        }

        // Integrity scan: every value of the database is read once, so RocksDB's block checksums and
        // this store's value checksums cover blocks and indexes as well as the state.
        var entries = new List<KeyValuePair<byte[], byte[]>>();
        byte[]? headBlock = null;
        byte[] headBlockKey = BlockKey(head.Height);
        try
        {
            using var it = db.NewIterator(null, new ReadOptions().SetVerifyChecksums(true));
            for (it.SeekToFirst(); it.Valid(); it.Next())
            {
                byte[] key = it.Key();
                byte[] value = Unwrap(key, it.Value());
                if (key.Length > 0 && key[0] == StatePrefix)
                {
                    entries.Add(new(key[1..], value));
                }
                else if (key.AsSpan().SequenceEqual(headBlockKey))
                {
                    headBlock = value;
                }
            }
        }
        catch (RocksDbException ex)
        {
            throw new ChainStoreCorruptedException($"database {path}: reading the database failed: {ex.Message}", ex);
        }
        if (headBlock is not null)
        {
            Block block;
            try
            {
                var r = new CanonicalReader(headBlock, "stored block");
                block = Block.Decode(r.ReadBytes(ChainLimits.MaxBlockBytes, "block"));
            }
            catch (PotFormatException ex)
            {
                throw new ChainStoreCorruptedException($"database {path}: head block {head.Height} does not decode: {ex.Message}", ex);
            }
            if (!block.Hash.AsSpan().SequenceEqual(head.Hash()))
            {
                throw new ChainStoreCorruptedException($"database {path}: the stored block at head height {head.Height} hashes to {Hex.Encode(block.Hash)}; the head record says {Hex.Encode(head.Hash())}");
            }
        }
        var state = ChainState.FromEntries(entries);
        byte[] root = state.Root;
        if (!root.AsSpan().SequenceEqual(head.StateRoot))
        {
            throw new ChainStoreCorruptedException($"database {path}: the stored state has state root {Hex.Encode(root)}, but the head block {head.Height} commits to state root {Hex.Encode(head.StateRoot)}");
        }
        return new Ledger(state, head, rules);
    }

    private void WriteInitial(BlockHeader header, IEnumerable<KeyValuePair<byte[], byte[]>> entries, CommitCertificate? certificate, bool writeBlockIndex)
    {
        using var batch = new WriteBatch();
        byte[] hash = header.Hash();
        if (writeBlockIndex)
        {
            Put(batch, BlockKey(header.Height), EncodeStoredBlock(new Block(header, []), certificate ?? CommitCertificate.Empty));
            Put(batch, HashKey(hash), BigEndian(header.Height));
        }
        foreach (var kv in entries)
        {
            Put(batch, StateKey(kv.Key), kv.Value);
        }
        Put(batch, HeadKey, header.Encode());
        if (header.Height == 0)
        {
            Put(batch, GenesisKey, hash);
        }
        _db.Write(batch, _syncWrite);
    }

    /// <summary>Validates a proposed block against the head (the consensus block-validity callback).</summary>
    /// <param name="blockBytes">The encoded block.</param>
    /// <param name="nowMs">Local clock for the future-time check, or null.</param>
    /// <returns>The verdict.</returns>
    public BlockValidation ValidateProposal(ReadOnlySpan<byte> blockBytes, ulong? nowMs = null) => Ledger.ValidateProposal(blockBytes, nowMs);

    /// <summary>
    /// Commits a certified block (the consensus commit callback): validates block and certificate,
    /// writes block, indexes, state changes and head in one synced batch, then advances the ledger.
    /// </summary>
    /// <param name="block">The block.</param>
    /// <param name="certificate">Its commit certificate.</param>
    /// <returns>The execution.</returns>
    /// <exception cref="BlockRejectedException">The block or certificate is invalid (nothing is written).</exception>
    public BlockExecution Commit(Block block, CommitCertificate certificate)
    {
        var exec = Ledger.PrepareCommit(block, certificate);
        using (var batch = new WriteBatch())
        {
            foreach (var c in exec.Changes)
            {
                if (c.Value is null)
                {
                    batch.Delete(StateKey(c.Key));
                }
                else
                {
                    Put(batch, StateKey(c.Key), c.Value);
                }
            }
            Put(batch, BlockKey(block.Header.Height), EncodeStoredBlock(block, certificate));
            Put(batch, HashKey(block.Hash), BigEndian(block.Header.Height));
            Put(batch, HeadKey, block.Header.Encode());
            _db.Write(batch, _syncWrite);
        }
        Ledger.ApplyCommitted(exec);
        return exec;
    }

    /// <summary>Reads the block and certificate at a height (checksum verified), or null when absent.</summary>
    /// <param name="height">Height.</param>
    /// <returns>The block and certificate, or null.</returns>
    /// <exception cref="ChainStoreCorruptedException">The stored value is damaged.</exception>
    public (Block Block, CommitCertificate Certificate)? GetBlock(ulong height)
    {
        byte[]? stored = ReadChecked(_db, BlockKey(height));
        if (stored is null)
        {
            return null;
        }
        try
        {
            var r = new CanonicalReader(stored, "stored block");
            var block = Block.Decode(r.ReadBytes(ChainLimits.MaxBlockBytes, "block"));
            var cert = CommitCertificate.Decode(r.ReadBytes(ChainLimits.MaxValidators * 100 + 8, "certificate"));
            r.EnsureEnd();
            if (block.Header.Height != height)
            {
                throw new ChainStoreCorruptedException($"database {_path}: block stored at height {height} says height {block.Header.Height}");
            }
            return (block, cert);
        }
        catch (PotFormatException ex)
        {
            throw new ChainStoreCorruptedException($"database {_path}: block {height} does not decode: {ex.Message}", ex);
        }
    }

    /// <summary>The height of the block with this header hash, or null.</summary>
    /// <param name="hash">32-byte header hash.</param>
    /// <returns>Height or null.</returns>
    public ulong? GetHeight(ReadOnlySpan<byte> hash) => ReadChecked(_db, HashKey(hash)) is byte[] v ? BinaryPrimitives.ReadUInt64BigEndian(v) : null;

    /// <summary>A full snapshot of the head state for a new node (state sync).</summary>
    /// <returns>The snapshot.</returns>
    public StateSnapshot ExportSnapshot()
    {
        var cert = GetBlock(Height)?.Certificate ?? CommitCertificate.Empty;
        return new StateSnapshot(Ledger.Head, cert, Ledger.State.Entries.ToArray());
    }

    /// <summary>
    /// Creates a new store from a snapshot. The snapshot's header must hash to
    /// <paramref name="trustedHeaderHash"/> (a checkpoint the operator trusts, e.g. from a quorum
    /// certificate it verified) and its entries must produce the header's state root.
    /// </summary>
    /// <param name="path">Directory of the new database (must not hold a chain yet).</param>
    /// <param name="genesis">The chain's genesis.</param>
    /// <param name="snapshot">The snapshot.</param>
    /// <param name="trustedHeaderHash">Hash of the checkpoint header.</param>
    /// <param name="rules">Protocol rules.</param>
    /// <returns>The store at the snapshot's height.</returns>
    /// <exception cref="PotFormatException">The snapshot does not match the checkpoint or its root.</exception>
    public static ChainStore ImportSnapshot(string path, GenesisDocument genesis, StateSnapshot snapshot, ReadOnlySpan<byte> trustedHeaderHash, IProtocolRules? rules = null)
    {
        ArgumentNullException.ThrowIfNull(genesis);
        ArgumentNullException.ThrowIfNull(snapshot);
        var state = snapshot.Verify(genesis.ChainId, trustedHeaderHash);
        RocksDb db = OpenDb(path);
        try
        {
            if (ReadChecked(db, GenesisKey) is not null)
            {
                throw new InvalidOperationException($"database {path} already holds a chain; state sync needs an empty directory");
            }
            var store = new ChainStore(db, path, new Ledger(state, snapshot.Header, rules));
            using var batch = new WriteBatch();
            store.Put(batch, GenesisKey, genesis.Build().Header.Hash());
            store._db.Write(batch, store._syncWrite);
            store.WriteInitial(snapshot.Header, state.Entries, snapshot.Certificate, writeBlockIndex: false);
            return store;
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    /// <summary>Flushes memtables to SST files and compacts (maintenance; the data is durable without it).</summary>
    public void Compact()
    {
        _db.Flush(new FlushOptions().SetWaitForFlush(true));
        _db.CompactRange((byte[]?)null, null);
    }

    /// <summary>Closes the database.</summary>
    public void Dispose() => _db.Dispose();

    private static byte[] StateKey(ReadOnlySpan<byte> key) => [StatePrefix, .. key];

    private static byte[] BlockKey(ulong height) => [BlockPrefix, .. BigEndian(height)];

    private static byte[] HashKey(ReadOnlySpan<byte> hash) => [HashPrefix, .. hash];

    private static byte[] BigEndian(ulong v)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, v);
        return b;
    }

    private static byte[] EncodeStoredBlock(Block block, CommitCertificate certificate)
    {
        var w = new CanonicalWriter(1024);
        w.WriteBytes(block.Encode());
        w.WriteBytes(certificate.Encode());
        return w.ToArray();
    }

    private static void Checksum(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, Span<byte> destination)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(key);
        h.AppendData(value);
        Span<byte> digest = stackalloc byte[32];
        h.GetHashAndReset(digest);
        digest[..ChecksumBytes].CopyTo(destination);
    }

    private void Put(WriteBatch batch, byte[] key, ReadOnlySpan<byte> value)
    {
        var stored = new byte[ChecksumBytes + value.Length];
        Checksum(key, value, stored);
        value.CopyTo(stored.AsSpan(ChecksumBytes));
        batch.Put(key, stored);
    }

    private static byte[] Unwrap(byte[] key, byte[] stored)
    {
        if (stored.Length < ChecksumBytes)
        {
            throw new ChainStoreCorruptedException($"database value under key {Hex.Encode(key)} is {stored.Length} bytes; expected at least the {ChecksumBytes} checksum bytes");
        }
        Span<byte> expected = stackalloc byte[ChecksumBytes];
        Checksum(key, stored.AsSpan(ChecksumBytes), expected);
        if (!expected.SequenceEqual(stored.AsSpan(0, ChecksumBytes)))
        {
            throw new ChainStoreCorruptedException($"database value under key {Hex.Encode(key)} is corrupted: checksum {Hex.Encode(stored.AsSpan(0, ChecksumBytes))}, expected {Hex.Encode(expected)} for its contents");
        }
        return stored[ChecksumBytes..];
    }

    private static byte[]? ReadChecked(RocksDb db, byte[] key)
    {
        byte[]? stored;
        try
        {
            stored = db.Get(key);
        }
        catch (RocksDbException ex)
        {
            throw new ChainStoreCorruptedException($"database read of key {Hex.Encode(key)} failed: {ex.Message}", ex);
        }
        return stored is null ? null : Unwrap(key, stored);
    }
}

/// <summary>
/// A full state snapshot for state sync: the checkpoint header, its certificate, and every state
/// entry. Encoding: header (bytes) ‖ certificate (bytes) ‖ count ‖ (key (bytes) ‖ value (bytes))*.
/// </summary>
/// <param name="Header">The checkpoint header.</param>
/// <param name="Certificate">Its commit certificate (empty for the genesis).</param>
/// <param name="Entries">State entries in ascending key order.</param>
public sealed record StateSnapshot(BlockHeader Header, CommitCertificate Certificate, IReadOnlyList<KeyValuePair<byte[], byte[]>> Entries)
{
    /// <summary>Most entries a snapshot may hold.</summary>
    public const int MaxEntries = 16 * 1024 * 1024;

    /// <summary>Checks the snapshot against a trusted checkpoint and rebuilds the state.</summary>
    /// <param name="chainId">Expected chain id.</param>
    /// <param name="trustedHeaderHash">Hash of the trusted checkpoint header.</param>
    /// <returns>The verified state.</returns>
    /// <exception cref="PotFormatException">Wrong chain, wrong header, unsorted entries, or a root mismatch.</exception>
    public ChainState Verify(string chainId, ReadOnlySpan<byte> trustedHeaderHash)
    {
        if (Header.ChainId != chainId)
        {
            throw new PotFormatException($"snapshot is for chain '{Header.ChainId}'; expected '{chainId}'");
        }
        byte[] hash = Header.Hash();
        if (!hash.AsSpan().SequenceEqual(trustedHeaderHash))
        {
            throw new PotFormatException($"snapshot header {Header.Height} hashes to {Hex.Encode(hash)}; the trusted checkpoint is {Hex.Encode(trustedHeaderHash)}");
        }
        for (int i = 1; i < Entries.Count; i++)
        {
            if (ByteOrder.Compare(Entries[i].Key, Entries[i - 1].Key) <= 0)
            {
                throw new PotFormatException($"snapshot entry {i} is not above entry {i - 1}; expected strictly ascending keys");
            }
        }
        var state = ChainState.FromEntries(Entries);
        byte[] root = state.Root;
        if (!root.AsSpan().SequenceEqual(Header.StateRoot))
        {
            throw new PotFormatException($"snapshot entries have state root {Hex.Encode(root)}; the checkpoint header {Header.Height} commits to {Hex.Encode(Header.StateRoot)}");
        }
        return state;
    }

    /// <summary>Canonical encoding.</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode()
    {
        var w = new CanonicalWriter(1 << 16);
        w.WriteBytes(Header.Encode());
        w.WriteBytes(Certificate.Encode());
        w.WriteVarUInt64((ulong)Entries.Count);
        foreach (var kv in Entries)
        {
            w.WriteBytes(kv.Key);
            w.WriteBytes(kv.Value);
        }
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="Encode"/>'s output (the contents are checked by <see cref="Verify"/>).</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The snapshot.</returns>
    /// <exception cref="PotFormatException">Malformed bytes.</exception>
    public static StateSnapshot Decode(ReadOnlySpan<byte> data)
    {
        var r = new CanonicalReader(data, "state snapshot");
        var header = BlockHeader.Decode(r.ReadBytes(64 * 1024, "header"));
        var cert = CommitCertificate.Decode(r.ReadBytes(ChainLimits.MaxValidators * 100 + 8, "certificate"));
        int count = r.ReadVarInt32(MaxEntries, "entry count");
        var entries = new KeyValuePair<byte[], byte[]>[count];
        for (int i = 0; i < count; i++)
        {
            entries[i] = new(r.ReadBytes(256, "key").ToArray(), r.ReadBytes(ChainLimits.MaxTransactionBytes * 2, "value").ToArray());
        }
        r.EnsureEnd();
        return new StateSnapshot(header, cert, entries);
    }
}
