using Pot.Commitments;
using Pot.Commitments.Canonical;
using Pot.Commitments.Merkle;

namespace Pot.Chain.State;

/// <summary>Read access to a state map.</summary>
public interface IStateReader
{
    /// <summary>The value stored under <paramref name="key"/>, or null when absent.</summary>
    /// <param name="key">The key.</param>
    /// <returns>The value (callers must not modify it) or null.</returns>
    byte[]? Get(byte[] key);
}

/// <summary>One change to the state map: a put, or a delete when <paramref name="Value"/> is null.</summary>
/// <param name="Key">The key.</param>
/// <param name="Value">The new value, or null to delete.</param>
public readonly record struct StateChange(byte[] Key, byte[]? Value);

/// <summary>
/// The whole chain state: a key-value map whose root is an RFC 6962 Merkle tree over the entries in
/// ascending byte order of their keys, each entry a leaf SHA-256(0x00 ‖ varint(len key) ‖ key ‖ value).
/// </summary>
/// <remarks>
/// Sorting is explicit (a <see cref="SortedDictionary{TKey, TValue}"/> with <see cref="ByteOrder.Comparer"/>),
/// so no hash-table enumeration order can reach the root. Leaf hashes are cached per entry: computing
/// the root after a block re-hashes only the changed leaves plus the n − 1 interior nodes. The empty
/// state's root is SHA-256 of nothing, as for any empty RFC 6962 tree.
/// </remarks>
public sealed class ChainState : IStateReader
{
    private readonly SortedDictionary<byte[], Entry> _map = new(ByteOrder.Comparer);
    private byte[]? _root;

    private sealed class Entry(byte[] value)
    {
        public byte[] Value = value;
        public byte[]? LeafHash;
    }

    /// <summary>Number of entries.</summary>
    public int Count => _map.Count;

    /// <inheritdoc/>
    public byte[]? Get(byte[] key) => _map.TryGetValue(key, out var e) ? e.Value : null;

    /// <summary>All entries in ascending key order.</summary>
    public IEnumerable<KeyValuePair<byte[], byte[]>> Entries
    {
        get
        {
            foreach (var kv in _map)
            {
                yield return new(kv.Key, kv.Value.Value);
            }
        }
    }

    /// <summary>Builds a state from entries (any order; duplicates are an error).</summary>
    /// <param name="entries">Key-value pairs.</param>
    /// <returns>The state.</returns>
    public static ChainState FromEntries(IEnumerable<KeyValuePair<byte[], byte[]>> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var s = new ChainState();
        foreach (var kv in entries)
        {
            if (!s._map.TryAdd((byte[])kv.Key.Clone(), new Entry((byte[])kv.Value.Clone())))
            {
                throw new PotFormatException($"state entry {Hex.Encode(kv.Key)} appears twice; expected unique keys");
            }
        }
        return s;
    }

    /// <summary>A deep copy.</summary>
    /// <returns>The copy.</returns>
    public ChainState Clone()
    {
        var s = new ChainState { _root = _root };
        foreach (var kv in _map)
        {
            s._map.Add(kv.Key, new Entry(kv.Value.Value) { LeafHash = kv.Value.LeafHash });
        }
        return s;
    }

    /// <summary>Applies changes in place.</summary>
    /// <param name="changes">The changes (any order; later changes to a key win).</param>
    /// <param name="rootAfter">The root after the changes when the caller computed it with <see cref="ComputeRootWith"/>; null to recompute lazily.</param>
    public void Apply(IEnumerable<StateChange> changes, byte[]? rootAfter = null)
    {
        ArgumentNullException.ThrowIfNull(changes);
        foreach (var c in changes)
        {
            if (c.Value is null)
            {
                _map.Remove(c.Key);
            }
            else if (_map.TryGetValue(c.Key, out var e))
            {
                e.Value = c.Value;
                e.LeafHash = null;
            }
            else
            {
                _map.Add(c.Key, new Entry(c.Value));
            }
        }
        _root = rootAfter;
    }

    /// <summary>The state root (cached until the next change).</summary>
    public byte[] Root => (byte[])(_root ??= ComputeRootWith([])).Clone();

    /// <summary>The root the state would have after <paramref name="sortedChanges"/>, without changing this state.</summary>
    /// <param name="sortedChanges">Changes sorted strictly ascending by key.</param>
    /// <returns>The 32-byte root.</returns>
    public byte[] ComputeRootWith(IReadOnlyList<StateChange> sortedChanges)
    {
        ArgumentNullException.ThrowIfNull(sortedChanges);
        var hashes = new byte[(_map.Count + sortedChanges.Count) * MerkleHash.Size];
        int n = 0;
        int ci = 0;
        void Add(ReadOnlySpan<byte> hash)
        {
            hash.CopyTo(hashes.AsSpan(n * MerkleHash.Size));
            n++;
        }
        void AddChange(StateChange c)
        {
            if (c.Value is not null)
            {
                Add(LeafHash(c.Key, c.Value));
            }
        }
        foreach (var kv in _map)
        {
            while (ci < sortedChanges.Count && ByteOrder.Compare(sortedChanges[ci].Key, kv.Key) < 0)
            {
                AddChange(sortedChanges[ci++]);
            }
            if (ci < sortedChanges.Count && ByteOrder.Compare(sortedChanges[ci].Key, kv.Key) == 0)
            {
                AddChange(sortedChanges[ci++]);
                continue;
            }
            Add(kv.Value.LeafHash ??= LeafHash(kv.Key, kv.Value.Value));
        }
        while (ci < sortedChanges.Count)
        {
            AddChange(sortedChanges[ci++]);
        }
        return MerkleTree.ComputeRootFromLeafHashes(hashes.AsSpan(0, n * MerkleHash.Size));
    }

    /// <summary>An inclusion proof of the entry under <paramref name="key"/> against <see cref="Root"/>.</summary>
    /// <param name="key">The key.</param>
    /// <returns>The proof.</returns>
    /// <exception cref="KeyNotFoundException">The key is absent.</exception>
    public StateProof Prove(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var hashes = new byte[_map.Count * MerkleHash.Size];
        int n = 0;
        int index = -1;
        byte[]? value = null;
        foreach (var kv in _map)
        {
            (kv.Value.LeafHash ??= LeafHash(kv.Key, kv.Value.Value)).CopyTo(hashes, n * MerkleHash.Size);
            if (index < 0 && ByteOrder.Compare(kv.Key, key) == 0)
            {
                index = n;
                value = kv.Value.Value;
            }
            n++;
        }
        if (index < 0)
        {
            throw new KeyNotFoundException($"state key {Hex.Encode(key)} is absent; an inclusion proof needs a present key");
        }
        var tree = MerkleTree.FromLeafHashes(hashes);
        return new StateProof(key, value!, tree.ProveInclusion(index));
    }

    /// <summary>The leaf bytes of an entry: varint(len key) ‖ key ‖ value.</summary>
    /// <param name="key">Key.</param>
    /// <param name="value">Value.</param>
    /// <returns>The leaf data.</returns>
    public static byte[] LeafData(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var w = new CanonicalWriter(key.Length + value.Length + 4);
        w.WriteBytes(key);
        w.WriteFixed(value);
        return w.ToArray();
    }

    /// <summary>The RFC 6962 leaf hash of an entry.</summary>
    /// <param name="key">Key.</param>
    /// <param name="value">Value.</param>
    /// <returns>32 bytes.</returns>
    public static byte[] LeafHash(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => MerkleHash.HashLeaf(LeafData(key, value));
}

/// <summary>
/// Proof that a key has a value in the state with a given root: the entry plus its RFC 6962 audit
/// path. A light client holding a trusted block header checks <see cref="Verify"/> against the
/// header's state root.
/// </summary>
/// <param name="Key">The key.</param>
/// <param name="Value">The value.</param>
/// <param name="Inclusion">The audit path of the entry's leaf.</param>
public sealed record StateProof(byte[] Key, byte[] Value, MerkleProof Inclusion)
{
    /// <summary>True when the entry is leaf <c>Inclusion.LeafIndex</c> of the state tree with <paramref name="stateRoot"/>.</summary>
    /// <param name="stateRoot">Trusted 32-byte state root.</param>
    /// <returns>Whether the proof verifies.</returns>
    public bool Verify(ReadOnlySpan<byte> stateRoot) => Inclusion.Verify(ChainState.LeafHash(Key, Value), stateRoot);

    /// <summary>Canonical encoding: key (bytes), value (bytes), encoded Merkle proof (bytes).</summary>
    /// <returns>The bytes.</returns>
    public byte[] Encode()
    {
        var w = new CanonicalWriter(Key.Length + Value.Length + 64 * 32);
        w.WriteBytes(Key);
        w.WriteBytes(Value);
        w.WriteBytes(Inclusion.Encode());
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="Encode"/>'s output.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The proof (not yet verified).</returns>
    /// <exception cref="PotFormatException">Malformed bytes.</exception>
    public static StateProof Decode(ReadOnlySpan<byte> data)
    {
        var r = new CanonicalReader(data, "state proof");
        byte[] key = r.ReadBytes(256, "key").ToArray();
        byte[] value = r.ReadBytes(ChainLimits.MaxTransactionBytes * 2, "value").ToArray();
        var proof = MerkleProof.Decode(r.ReadBytes(4 + 20 + MerkleProof.MaxPathLength * 32, "merkle proof"));
        r.EnsureEnd();
        return new StateProof(key, value, proof);
    }
}

/// <summary>
/// A write layer over a state reader: reads fall through to the parent, writes stay here until
/// <see cref="CommitToParent"/>. Executing a transaction in its own overlay makes a rejected
/// transaction change nothing.
/// </summary>
public sealed class StateOverlay : IStateReader
{
    private readonly IStateReader _parent;
    private readonly Dictionary<byte[], byte[]?> _writes = new(ByteOrder.Equality);

    /// <summary>Creates an empty overlay.</summary>
    /// <param name="parent">The state underneath.</param>
    public StateOverlay(IStateReader parent) => _parent = parent ?? throw new ArgumentNullException(nameof(parent));

    /// <inheritdoc/>
    public byte[]? Get(byte[] key) => _writes.TryGetValue(key, out byte[]? v) ? v : _parent.Get(key);

    /// <summary>Writes a value.</summary>
    /// <param name="key">Key.</param>
    /// <param name="value">Value.</param>
    public void Set(byte[] key, byte[] value) => _writes[key] = value;

    /// <summary>Deletes a key.</summary>
    /// <param name="key">Key.</param>
    public void Delete(byte[] key) => _writes[key] = null;

    /// <summary>Number of keys written.</summary>
    public int WriteCount => _writes.Count;

    /// <summary>Moves every write into the parent overlay.</summary>
    /// <exception cref="InvalidOperationException">The parent is not an overlay.</exception>
    public void CommitToParent()
    {
        if (_parent is not StateOverlay parent)
        {
            throw new InvalidOperationException("only an overlay over another overlay can commit to its parent; apply SortedChanges() to a ChainState instead");
        }
        foreach (var kv in _writes)
        {
            parent._writes[kv.Key] = kv.Value;
        }
        _writes.Clear();
    }

    /// <summary>The writes sorted strictly ascending by key (the explicit sort keeps dictionary order out of every hash).</summary>
    /// <returns>The changes.</returns>
    public IReadOnlyList<StateChange> SortedChanges()
    {
        var list = new List<StateChange>(_writes.Count);
        foreach (var kv in _writes)
        {
            list.Add(new StateChange(kv.Key, kv.Value));
        }
        list.Sort((a, b) => ByteOrder.Compare(a.Key, b.Key));
        return list;
    }
}
