using Pot.Chain.CrashChild;
using Pot.Chain.State;
using Pot.Chain.Storage;
using Pot.Commitments;
using RocksDbSharp;

namespace Pot.Chain.Tests;

public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "pot-chain-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, true);
        }
    }
}

public class StorageTests
{
    private static void Grow(ChainStore store, Workload w, int blocks)
    {
        for (int i = 0; i < blocks; i++)
        {
            var (b, c) = w.NextBlock(store.Ledger, 2, 10);
            store.Commit(b, c);
        }
    }

    [Fact]
    public void ANodeRestartsFromItsStoreWithTheSameHeadStateAndBlocks()
    {
        // Proves: after closing and reopening, the head, the state root and every stored block are
        // those that were committed, and the hash index points at the right heights.
        using var dir = new TempDir();
        var w = new Workload(11);
        byte[] head;
        byte[] root;
        using (var store = ChainStore.Open(dir.Path, w.Genesis))
        {
            Grow(store, w, 15);
            head = store.Ledger.HeadHash;
            root = store.Ledger.State.Root;
        }
        using (var store = ChainStore.Open(dir.Path, w.Genesis))
        {
            Assert.Equal(15UL, store.Height);
            Assert.Equal(Hex.Encode(head), Hex.Encode(store.Ledger.HeadHash));
            Assert.Equal(Hex.Encode(root), Hex.Encode(store.Ledger.State.Root));
            var replay = Ledger.FromGenesis(w.Genesis);
            for (ulong h = 1; h <= 15; h++)
            {
                var (block, cert) = store.GetBlock(h)!.Value;
                replay.Commit(block, cert);
                Assert.Equal(h, store.GetHeight(block.Hash));
            }
            Assert.Equal(Hex.Encode(root), Hex.Encode(replay.State.Root));
            Grow(store, w, 3);
            Assert.Equal(18UL, store.Height);
        }
    }

    [Fact]
    public void AStoreOfAnotherChainIsRefused()
    {
        // Proves: opening a database with a different genesis fails with a message naming both genesis hashes.
        using var dir = new TempDir();
        using (ChainStore.Open(dir.Path, new Workload(1).Genesis))
        {
        }
        var other = new Workload(1).Genesis with { GenesisTimeMs = 5 };
        var ex = Assert.Throws<InvalidOperationException>(() => ChainStore.Open(dir.Path, other));
        Assert.Contains("belongs to the chain with genesis", ex.Message);
    }

    [Fact]
    public void ACorruptedDatabaseValueIsDetectedAtStartUp()
    {
        // Proves: a state value altered behind the store's back (checksum left stale) and a value
        // replaced consistently with a valid checksum but a different content are both detected when
        // the node starts: the first by its checksum, the second by the head's state root.
        using var dir = new TempDir();
        var w = new Workload(12);
        using (var store = ChainStore.Open(dir.Path, w.Genesis))
        {
            Grow(store, w, 5);
        }
        byte[] key = [(byte)'s', .. StateKeys.Account(Workload.Addr(w.Miners[0]))];
        using (var db = RocksDb.Open(new DbOptions(), dir.Path))
        {
            byte[] v = db.Get(key);
            v[^3] ^= 0x01;
            db.Put(key, v);
        }
        var ex = Assert.Throws<ChainStoreCorruptedException>(() => ChainStore.Open(dir.Path, w.Genesis));
        Assert.Contains("checksum", ex.Message);
        Assert.Contains(Hex.Encode(key), ex.Message);

        // Re-seal the altered value with a fresh checksum: only the state root can catch it now.
        using (var db = RocksDb.Open(new DbOptions(), dir.Path))
        {
            byte[] v = db.Get(key);
            byte[] content = v[8..];
            using var h = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            h.AppendData(key);
            h.AppendData(content);
            byte[] resealed = [.. h.GetHashAndReset()[..8], .. content];
            db.Put(key, resealed);
        }
        ex = Assert.Throws<ChainStoreCorruptedException>(() => ChainStore.Open(dir.Path, w.Genesis));
        Assert.Contains("state root", ex.Message);
    }

    [Fact]
    public void ACorruptedDatabaseFileIsDetectedAtStartUp()
    {
        // Proves: flipping bytes inside the SST files on disk makes start-up fail with a
        // ChainStoreCorruptedException naming the database (RocksDB block checksums or ours).
        using var dir = new TempDir();
        var w = new Workload(13);
        using (var store = ChainStore.Open(dir.Path, w.Genesis))
        {
            Grow(store, w, 10);
            store.Compact();
        }
        var ssts = Directory.GetFiles(dir.Path, "*.sst");
        Assert.NotEmpty(ssts);
        foreach (string sst in ssts)
        {
            byte[] bytes = File.ReadAllBytes(sst);
            for (int i = 64; i < bytes.Length / 2; i += 97)
            {
                bytes[i] ^= 0x5A;
            }
            File.WriteAllBytes(sst, bytes);
        }
        var ex = Assert.Throws<ChainStoreCorruptedException>(() => ChainStore.Open(dir.Path, w.Genesis));
        Assert.Contains("database", ex.Message);
    }

    [Fact]
    public void ANewNodeSyncsFromAVerifiedSnapshotAndContinues()
    {
        // Proves: a snapshot exported by one node, checked against the trusted checkpoint hash and its
        // state root, starts a new node at that height that then accepts the next blocks; a snapshot
        // with one altered entry, or checked against another checkpoint, is refused.
        using var a = new TempDir();
        using var b = new TempDir();
        using var c = new TempDir();
        var w = new Workload(14);
        using var source = ChainStore.Open(a.Path, w.Genesis);
        Grow(source, w, 8);
        var snapshot = StateSnapshot.Decode(source.ExportSnapshot().Encode());
        byte[] checkpoint = source.Ledger.HeadHash;

        var tampered = snapshot with { Entries = snapshot.Entries.Select((kv, i) => i == 3 ? new KeyValuePair<byte[], byte[]>(kv.Key, [.. kv.Value, 0]) : kv).ToArray() };
        var ex = Assert.Throws<PotFormatException>(() => ChainStore.ImportSnapshot(c.Path, w.Genesis, tampered, checkpoint));
        Assert.Contains("state root", ex.Message);
        Assert.Throws<PotFormatException>(() => ChainStore.ImportSnapshot(c.Path, w.Genesis, snapshot, new byte[32]));

        using (var synced = ChainStore.ImportSnapshot(b.Path, w.Genesis, snapshot, checkpoint))
        {
            Assert.Equal(8UL, synced.Height);
            for (int i = 0; i < 3; i++)
            {
                var (blk, cert) = w.NextBlock(source.Ledger, 2, 8);
                source.Commit(blk, cert);
                synced.Commit(blk, cert);
            }
            Assert.Equal(Hex.Encode(source.Ledger.State.Root), Hex.Encode(synced.Ledger.State.Root));
        }
        using var reopened = ChainStore.Open(b.Path, w.Genesis);
        Assert.Equal(11UL, reopened.Height);
        Assert.Equal(Hex.Encode(source.Ledger.State.Root), Hex.Encode(reopened.Ledger.State.Root));
    }
}
