using System.Buffers.Binary;
using System.Security.Cryptography;
using Pot.Consensus;
using RocksDbSharp;
using Checkpoint = Pot.Consensus.Checkpoint;

namespace Pot.Node;

/// <summary>
/// Durable, append-only log of the PBFT core's <see cref="PersistRecord"/>s on RocksDB (persist before
/// send: every append is a synced write that returns before the step's later outputs are carried out).
/// Key: sequence number (u64 big-endian). Value: 8-byte checksum (first 8 bytes of SHA-256 of key ‖
/// record) ‖ record. Records: tag (1 Vote, 2 View, 3 Block, 4 Checkpoint) then fields, integers as
/// int64 little-endian, byte strings and messages (canonical consensus encoding) length-prefixed.
/// </summary>
public sealed class ConsensusLog : IDisposable
{
    private readonly RocksDb _db;
    private readonly WriteOptions _sync = new WriteOptions().SetSync(true);
    private ulong _next;

    private ConsensusLog(RocksDb db, ulong next)
    {
        _db = db;
        _next = next;
    }

    /// <summary>Records read at open, in write order.</summary>
    public IReadOnlyList<PersistRecord> Records { get; private init; } = [];

    /// <summary>Opens (creating if missing) the log and reads every record, verifying checksums.</summary>
    /// <param name="path">Database directory.</param>
    /// <returns>The log.</returns>
    public static ConsensusLog Open(string path)
    {
        Directory.CreateDirectory(path);
        var db = RocksDb.Open(new DbOptions().SetCreateIfMissing(true).SetParanoidChecks(true), path);
        var records = new List<PersistRecord>();
        ulong next = 0;
        using (var it = db.NewIterator())
        {
            for (it.SeekToFirst(); it.Valid(); it.Next())
            {
                byte[] key = it.Key();
                byte[] value = it.Value();
                ulong seq = BinaryPrimitives.ReadUInt64BigEndian(key);
                if (seq != next) throw new InvalidDataException($"consensus log {path}: record {next} is missing (found {seq})");
                if (value.Length < 8 || !value.AsSpan(0, 8).SequenceEqual(Checksum(key, value.AsSpan(8))))
                    throw new InvalidDataException($"consensus log {path}: record {seq} fails its checksum");
                records.Add(Decode(value.AsSpan(8)));
                next++;
            }
        }
        return new ConsensusLog(db, next) { Records = records };
    }

    /// <summary>Appends one record durably.</summary>
    /// <param name="record">The record.</param>
    public void Append(PersistRecord record)
    {
        byte[] key = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(key, _next);
        byte[] body = Encode(record);
        byte[] value = [.. Checksum(key, body), .. body];
        _db.Put(key, value, null, _sync);
        _next++;
    }

    private static byte[] Checksum(ReadOnlySpan<byte> key, ReadOnlySpan<byte> body)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(key);
        h.AppendData(body);
        return h.GetHashAndReset().AsSpan(0, 8).ToArray();
    }

    /// <summary>Canonical encoding of a record.</summary>
    /// <param name="record">The record.</param>
    /// <returns>Bytes.</returns>
    public static byte[] Encode(PersistRecord record)
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        void Bytes(byte[] b) { w.Write(b.Length); w.Write(b); }
        switch (record)
        {
            case VoteRecord v:
                w.Write((byte)1); w.Write(v.View); w.Write(v.Height); w.Write((byte)v.Phase); Bytes(v.Digest);
                w.Write(v.Certificate is not null);
                if (v.Certificate is { } cert)
                {
                    Bytes(MessageCodec.Encode(cert.PrePrepare));
                    w.Write(cert.Prepares.Length);
                    foreach (var p in cert.Prepares) Bytes(MessageCodec.Encode(p));
                }
                break;
            case ViewRecord v:
                w.Write((byte)2); w.Write(v.View); w.Write(v.Entered);
                break;
            case BlockRecord b:
                w.Write((byte)3); w.Write(b.Height); Bytes(b.Payload);
                break;
            case CheckpointRecord c:
                w.Write((byte)4); w.Write(c.Height); Bytes(c.StateDigest);
                w.Write(c.Proof.Length);
                foreach (var p in c.Proof) Bytes(MessageCodec.Encode(p));
                break;
            default:
                throw new ArgumentException($"unknown persist record {record.GetType().Name}", nameof(record));
        }
        w.Flush();
        return ms.ToArray();
    }

    /// <summary>Decodes a record written by <see cref="Encode"/>.</summary>
    /// <param name="data">Bytes.</param>
    /// <returns>The record.</returns>
    public static PersistRecord Decode(ReadOnlySpan<byte> data)
    {
        using var r = new BinaryReader(new MemoryStream(data.ToArray()));
        byte[] Bytes()
        {
            int n = r.ReadInt32();
            if (n < 0 || n > ConsensusLimits.MaxMessageBytes) throw new InvalidDataException($"consensus log: byte string of {n} bytes");
            return r.ReadBytes(n);
        }
        PersistRecord rec = r.ReadByte() switch
        {
            1 => ReadVote(r, Bytes),
            2 => new ViewRecord(r.ReadInt64(), r.ReadBoolean()),
            3 => new BlockRecord(r.ReadInt64(), Bytes()),
            4 => ReadCheckpoint(r, Bytes),
            var t => throw new InvalidDataException($"consensus log: unknown record tag {t}"),
        };
        if (r.BaseStream.Position != r.BaseStream.Length) throw new InvalidDataException("consensus log: trailing bytes after a record");
        return rec;
    }

    private static VoteRecord ReadVote(BinaryReader r, Func<byte[]> bytes)
    {
        long view = r.ReadInt64();
        long height = r.ReadInt64();
        var phase = (VotePhase)r.ReadByte();
        byte[] digest = bytes();
        PreparedCertificate? cert = null;
        if (r.ReadBoolean())
        {
            var pp = (PrePrepare)MessageCodec.Decode(bytes());
            int n = r.ReadInt32();
            var prepares = new Prepare[n];
            for (int i = 0; i < n; i++) prepares[i] = (Prepare)MessageCodec.Decode(bytes());
            cert = new PreparedCertificate { PrePrepare = pp, Prepares = prepares };
        }
        return new VoteRecord(view, height, phase, digest, cert);
    }

    private static CheckpointRecord ReadCheckpoint(BinaryReader r, Func<byte[]> bytes)
    {
        long height = r.ReadInt64();
        byte[] digest = bytes();
        int n = r.ReadInt32();
        var proof = new Checkpoint[n];
        for (int i = 0; i < n; i++) proof[i] = (Checkpoint)MessageCodec.Decode(bytes());
        return new CheckpointRecord(height, digest, proof);
    }

    /// <inheritdoc />
    public void Dispose() => _db.Dispose();
}
