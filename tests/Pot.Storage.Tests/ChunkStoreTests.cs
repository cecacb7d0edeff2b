using System.Security.Cryptography;
using Pot.Commitments;

namespace Pot.Storage.Tests;

public sealed class ChunkStoreTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "pot-chunkstore-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private static byte[] Data(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    [Fact]
    public void NamedChunksSurviveReopenRebindReleasesTheOldChunkAndNamesMustBe32Bytes()
    {
        // Proves: a chunk stored under a name (a protocol commitment) is read back by that name after a reopen; an
        // unknown name reads as null; re-binding a name to other bytes drops the old chunk's reference so garbage
        // collection removes it, while the new bytes stay readable; names of another length are refused.
        byte[] name = SHA256.HashData("a commitment"u8);
        byte[] first = Data(5_000, 7), second = Data(6_000, 8);
        using (var store = ChunkStore.Open(_directory))
        {
            byte[] hash = store.PutNamed(name, first);
            Assert.Equal(SHA256.HashData(first), hash);
            Assert.Equal(1UL, store.ReferenceCount(hash));
            store.PutNamed(name, first);
            Assert.Equal(1UL, store.ReferenceCount(hash));
            Assert.Null(store.TryGetNamed(SHA256.HashData("other"u8)));
            Assert.Throws<ArgumentException>(() => store.PutNamed(new byte[31], first));
        }
        using (var store = ChunkStore.Open(_directory))
        {
            Assert.Equal(first, store.TryGetNamed(name));
            store.PutNamed(name, second);
            Assert.Equal(0UL, store.ReferenceCount(SHA256.HashData(first)));
            Assert.Equal(1, store.CollectGarbage().ChunksDeleted);
            Assert.Equal(second, store.TryGetNamed(name));
        }
    }

    [Fact]
    public void PutReturnsTheSha256AndGetReturnsTheSameBytes()
    {
        // Proves chunks are addressed by SHA-256 of their bytes and read back unchanged, including ranges.
        using var store = ChunkStore.Open(_directory);
        byte[] data = Data(10_000, 1);
        byte[] hash = store.Put(data);
        Assert.Equal(SHA256.HashData(data), hash);
        Assert.True(store.Contains(hash));
        Assert.Equal(data, store.Get(hash));
        Assert.Equal(data[100..164], store.GetRange(hash, 100, 64));
        Assert.Empty(store.GetRange(hash, 10_000, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => store.GetRange(hash, 9_990, 11));
        byte[] empty = store.Put([]);
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Hex.Encode(empty));
        Assert.Empty(store.Get(empty));
    }

    [Fact]
    public void MissingChunkIsReportedByAddress()
    {
        // Proves a missing chunk is a clear not-found error naming the address, and TryGet returns false.
        using var store = ChunkStore.Open(_directory);
        byte[] unknown = SHA256.HashData("nothing"u8);
        Assert.False(store.TryGet(unknown, out byte[]? data));
        Assert.Null(data);
        Assert.Contains(Hex.Encode(unknown), Assert.Throws<KeyNotFoundException>(() => store.Get(unknown)).Message);
        Assert.Throws<ArgumentException>(() => store.Get(new byte[31]));
    }

    [Fact]
    public void ReferenceCountingKeepsChunksUntilTheLastReferenceAndGarbageCollectionFreesThem()
    {
        // Proves duplicate puts share storage, a chunk survives GC while referenced, and is removed after
        // its last reference is released and GC runs; GC reports what it freed.
        using var store = ChunkStore.Open(_directory);
        byte[] a = Data(1000, 2);
        byte[] b = Data(500, 3);
        byte[] ha = store.Put(a);
        Assert.Equal(ha, store.Put(a));
        byte[] hb = store.Put(b);
        store.AddReference(hb);
        Assert.Equal(2UL, store.ReferenceCount(ha));
        Assert.Equal(2UL, store.ReferenceCount(hb));
        Assert.Equal(1UL, store.Release(ha));
        Assert.Equal(new GarbageCollectionResult(0, 0), store.CollectGarbage());
        Assert.Equal(0UL, store.Release(ha));
        Assert.Equal(new GarbageCollectionResult(1, 1000), store.CollectGarbage());
        Assert.False(store.Contains(ha));
        Assert.True(store.Contains(hb));
        Assert.Equal(b, store.Get(hb));
        Assert.Throws<InvalidOperationException>(() => store.Release(ha));
        Assert.Throws<KeyNotFoundException>(() => store.AddReference(ha));
    }

    [Fact]
    public void ChunksAndReferencesSurviveReopening()
    {
        // Proves the store is durable: data and counts are there after closing and reopening the database.
        byte[] data = Data(4096, 4);
        byte[] hash;
        using (var store = ChunkStore.Open(_directory))
        {
            hash = store.Put(data);
            store.AddReference(hash);
        }
        using (var reopened = ChunkStore.Open(_directory))
        {
            Assert.Equal(data, reopened.Get(hash));
            Assert.Equal(2UL, reopened.ReferenceCount(hash));
        }
    }

    [Fact]
    public void ChunkCorruptedOnDiskIsDetectedAndNeverServed()
    {
        // Proves that damaging the stored value behind the store's back (through the raw RocksDB handle)
        // makes every read fail with a corruption error naming the chunk, and that a fresh put repairs it.
        using var store = ChunkStore.Open(_directory);
        byte[] data = Data(2048, 5);
        byte[] hash = store.Put(data);
        byte[] damaged = (byte[])data.Clone();
        damaged[1000] ^= 0x01;
        store.Database.Put(hash, damaged, store.Database.GetColumnFamily("chunks"));
        var ex = Assert.Throws<ChunkCorruptedException>(() => store.Get(hash));
        Assert.Contains(Hex.Encode(hash), ex.Message);
        Assert.Contains("corrupted on disk", ex.Message);
        Assert.Throws<ChunkCorruptedException>(() => store.GetRange(hash, 0, 10));
        Assert.Throws<ChunkCorruptedException>(() => store.TryGet(hash, out _));
        store.Put(data);
        Assert.Equal(data, store.Get(hash));
    }
}
