namespace Pot.Consensus;

/// <summary>The type tag of a consensus message; it is the first byte of its encoding.</summary>
public enum MessageKind : byte
{
    /// <summary>Primary's proposal of a block at a height (PBFT 4.2).</summary>
    PrePrepare = 1,
    /// <summary>Backup's agreement with a pre-prepare (PBFT 4.2).</summary>
    Prepare = 2,
    /// <summary>Vote that a block is prepared (PBFT 4.2).</summary>
    Commit = 3,
    /// <summary>State digest after executing a checkpoint height (PBFT 4.3).</summary>
    Checkpoint = 4,
    /// <summary>Request to move to a new view, carrying prepared certificates (PBFT 4.4).</summary>
    ViewChange = 5,
    /// <summary>New primary's proof of a view change and its re-proposals (PBFT 4.4).</summary>
    NewView = 6,
    /// <summary>Request for the blocks up to a stable checkpoint (state transfer).</summary>
    StateRequest = 7,
    /// <summary>Blocks plus the checkpoint proof that certifies them (state transfer).</summary>
    StateResponse = 8,
}

/// <summary>Hard limits of the canonical encoding; decoding rejects anything larger.</summary>
public static class ConsensusLimits
{
    /// <summary>Length of every digest (SHA-256).</summary>
    public const int DigestBytes = 32;
    /// <summary>Largest signature accepted (Ed25519 signatures are 64 bytes).</summary>
    public const int MaxSignatureBytes = 64;
    /// <summary>Largest block payload.</summary>
    public const int MaxPayloadBytes = 1 << 20;
    /// <summary>Largest validator set, and the largest list of votes in one certificate.</summary>
    public const int MaxValidators = 256;
    /// <summary>Largest number of prepared certificates or re-proposals in one view change or new view.</summary>
    public const int MaxCertificates = 1024;
    /// <summary>Largest number of blocks in one state-transfer response.</summary>
    public const int MaxTransferBlocks = 1024;
    /// <summary>Largest encoded message.</summary>
    public const int MaxMessageBytes = 64 << 20;
}

/// <summary>A signed consensus message. The signature covers <see cref="MessageCodec.SignedBytes"/>.</summary>
public abstract record ConsensusMessage
{
    /// <summary>Node id of the signer.</summary>
    public required int Sender { get; init; }

    /// <summary>Signature by <see cref="Sender"/> over the domain-tagged canonical bytes.</summary>
    public byte[] Signature { get; init; } = [];

    /// <summary>The message's type tag.</summary>
    public abstract MessageKind Kind { get; }
}

/// <summary>PBFT pre-prepare ⟨PRE-PREPARE, v, n, d⟩ with the block payload piggybacked (4.2).</summary>
public sealed record PrePrepare : ConsensusMessage
{
    /// <summary>View in which the block is proposed.</summary>
    public required long View { get; init; }
    /// <summary>Block height, the PBFT sequence number.</summary>
    public required long Height { get; init; }
    /// <summary>Block digest, <see cref="Digests.Block"/> of height and payload.</summary>
    public required byte[] Digest { get; init; }
    /// <summary>Opaque block payload; empty for the null block that fills a hole.</summary>
    public required byte[] Payload { get; init; }
    /// <inheritdoc />
    public override MessageKind Kind => MessageKind.PrePrepare;
}

/// <summary>PBFT prepare ⟨PREPARE, v, n, d, i⟩ (4.2).</summary>
public sealed record Prepare : ConsensusMessage
{
    /// <summary>View of the vote.</summary>
    public required long View { get; init; }
    /// <summary>Height of the vote.</summary>
    public required long Height { get; init; }
    /// <summary>Digest voted for.</summary>
    public required byte[] Digest { get; init; }
    /// <inheritdoc />
    public override MessageKind Kind => MessageKind.Prepare;
}

/// <summary>PBFT commit ⟨COMMIT, v, n, D(m), i⟩ (4.2).</summary>
public sealed record Commit : ConsensusMessage
{
    /// <summary>View of the vote.</summary>
    public required long View { get; init; }
    /// <summary>Height of the vote.</summary>
    public required long Height { get; init; }
    /// <summary>Digest voted for.</summary>
    public required byte[] Digest { get; init; }
    /// <inheritdoc />
    public override MessageKind Kind => MessageKind.Commit;
}

/// <summary>PBFT checkpoint ⟨CHECKPOINT, n, d, i⟩ over the state digest after height n (4.3).</summary>
public sealed record Checkpoint : ConsensusMessage
{
    /// <summary>Checkpoint height, a multiple of the checkpoint interval.</summary>
    public required long Height { get; init; }
    /// <summary>State digest (hash chain of block digests) after executing <see cref="Height"/>.</summary>
    public required byte[] StateDigest { get; init; }
    /// <inheritdoc />
    public override MessageKind Kind => MessageKind.Checkpoint;
}

/// <summary>A prepared certificate: a pre-prepare plus 2f matching prepares from distinct backups (4.2, 4.4).</summary>
public sealed record PreparedCertificate
{
    /// <summary>The pre-prepare that was prepared.</summary>
    public required PrePrepare PrePrepare { get; init; }
    /// <summary>Matching prepares from distinct backups, sorted by sender.</summary>
    public required Prepare[] Prepares { get; init; }
}

/// <summary>PBFT view change ⟨VIEW-CHANGE, v+1, n, C, P, i⟩ (4.4).</summary>
public sealed record ViewChange : ConsensusMessage
{
    /// <summary>The view the sender wants to move to.</summary>
    public required long NewView { get; init; }
    /// <summary>Sender's last stable checkpoint height (0 for genesis).</summary>
    public required long StableHeight { get; init; }
    /// <summary>State digest of the stable checkpoint.</summary>
    public required byte[] StableDigest { get; init; }
    /// <summary>Quorum of signed checkpoints proving the stable checkpoint (empty for genesis).</summary>
    public required Checkpoint[] CheckpointProof { get; init; }
    /// <summary>Highest-view prepared certificate for each height above the stable checkpoint.</summary>
    public required PreparedCertificate[] Prepared { get; init; }
    /// <inheritdoc />
    public override MessageKind Kind => MessageKind.ViewChange;
}

/// <summary>PBFT new view ⟨NEW-VIEW, v+1, V, O⟩ (4.4).</summary>
public sealed record NewView : ConsensusMessage
{
    /// <summary>The view being started.</summary>
    public required long View { get; init; }
    /// <summary>A quorum of view-change messages for <see cref="View"/> (the set V).</summary>
    public required ViewChange[] ViewChanges { get; init; }
    /// <summary>Re-proposals for every height between min-s and max-s (the set O).</summary>
    public required PrePrepare[] PrePrepares { get; init; }
    /// <inheritdoc />
    public override MessageKind Kind => MessageKind.NewView;
}

/// <summary>Asks a replica for the blocks after <see cref="FromHeight"/> up to its stable checkpoint.</summary>
public sealed record StateRequest : ConsensusMessage
{
    /// <summary>Height the requester trusts its state at (0 to fetch from genesis).</summary>
    public required long FromHeight { get; init; }
    /// <inheritdoc />
    public override MessageKind Kind => MessageKind.StateRequest;
}

/// <summary>Blocks FromHeight+1..CheckpointHeight and the checkpoint proof over the resulting state digest.</summary>
public sealed record StateResponse : ConsensusMessage
{
    /// <summary>Height the blocks start after.</summary>
    public required long FromHeight { get; init; }
    /// <summary>Stable checkpoint height the blocks end at.</summary>
    public required long CheckpointHeight { get; init; }
    /// <summary>State digest at <see cref="CheckpointHeight"/>.</summary>
    public required byte[] StateDigest { get; init; }
    /// <summary>Quorum of signed checkpoints over the state digest.</summary>
    public required Checkpoint[] Proof { get; init; }
    /// <summary>Payloads of the blocks, in height order.</summary>
    public required byte[][] Payloads { get; init; }
    /// <inheritdoc />
    public override MessageKind Kind => MessageKind.StateResponse;
}

/// <summary>Canonical binary encoding of consensus messages and the bytes each signature covers.</summary>
public static class MessageCodec
{
    /// <summary>Domain tag prefixed to the signed bytes so a consensus signature can never be replayed elsewhere.</summary>
    public static ReadOnlySpan<byte> DomainTag => "pot/consensus/v1\0"u8;

    /// <summary>The bytes a signature covers: domain tag, kind, and every field except the signature.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The signed bytes.</returns>
    public static byte[] SignedBytes(ConsensusMessage message)
    {
        var writer = new CanonicalWriter();
        writer.Raw(DomainTag);
        WriteBody(writer, message);
        return writer.ToArray();
    }

    /// <summary>Encodes a message with its signature.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The canonical encoding.</returns>
    public static byte[] Encode(ConsensusMessage message)
    {
        var writer = new CanonicalWriter();
        Write(writer, message);
        return writer.ToArray();
    }

    /// <summary>Decodes exactly one message; throws <see cref="ConsensusEncodingException"/> on any malformation.</summary>
    /// <param name="data">The encoded message.</param>
    /// <returns>The message.</returns>
    public static ConsensusMessage Decode(ReadOnlySpan<byte> data)
    {
        if (data.Length > ConsensusLimits.MaxMessageBytes)
        {
            throw new ConsensusEncodingException($"message of {data.Length} bytes exceeds the limit of {ConsensusLimits.MaxMessageBytes}");
        }
        var reader = new CanonicalReader(data);
        var message = Read(ref reader, depth: 0);
        reader.End();
        return message;
    }

    private static void Write(CanonicalWriter w, ConsensusMessage m)
    {
        WriteBody(w, m);
        w.Bytes(m.Signature, ConsensusLimits.MaxSignatureBytes);
    }

    private static void WriteBody(CanonicalWriter w, ConsensusMessage m)
    {
        w.U8((byte)m.Kind);
        w.I32(m.Sender);
        switch (m)
        {
            case PrePrepare p:
                w.I64(p.View); w.I64(p.Height); WriteDigest(w, p.Digest); w.Bytes(p.Payload, ConsensusLimits.MaxPayloadBytes);
                break;
            case Prepare p:
                w.I64(p.View); w.I64(p.Height); WriteDigest(w, p.Digest);
                break;
            case Commit c:
                w.I64(c.View); w.I64(c.Height); WriteDigest(w, c.Digest);
                break;
            case Checkpoint c:
                w.I64(c.Height); WriteDigest(w, c.StateDigest);
                break;
            case ViewChange v:
                w.I64(v.NewView); w.I64(v.StableHeight); WriteDigest(w, v.StableDigest);
                w.Count(v.CheckpointProof.Length, ConsensusLimits.MaxValidators);
                foreach (var c in v.CheckpointProof) Write(w, c);
                w.Count(v.Prepared.Length, ConsensusLimits.MaxCertificates);
                foreach (var cert in v.Prepared)
                {
                    Write(w, cert.PrePrepare);
                    w.Count(cert.Prepares.Length, ConsensusLimits.MaxValidators);
                    foreach (var p in cert.Prepares) Write(w, p);
                }
                break;
            case NewView n:
                w.I64(n.View);
                w.Count(n.ViewChanges.Length, ConsensusLimits.MaxValidators);
                foreach (var v in n.ViewChanges) Write(w, v);
                w.Count(n.PrePrepares.Length, ConsensusLimits.MaxCertificates);
                foreach (var p in n.PrePrepares) Write(w, p);
                break;
            case StateRequest r:
                w.I64(r.FromHeight);
                break;
            case StateResponse r:
                w.I64(r.FromHeight); w.I64(r.CheckpointHeight); WriteDigest(w, r.StateDigest);
                w.Count(r.Proof.Length, ConsensusLimits.MaxValidators);
                foreach (var c in r.Proof) Write(w, c);
                w.Count(r.Payloads.Length, ConsensusLimits.MaxTransferBlocks);
                foreach (var p in r.Payloads) w.Bytes(p, ConsensusLimits.MaxPayloadBytes);
                break;
            default:
                throw new ConsensusEncodingException($"cannot encode message type {m.GetType().Name}, expected one of the {nameof(MessageKind)} values");
        }
    }

    private static void WriteDigest(CanonicalWriter w, byte[] digest)
    {
        if (digest.Length != ConsensusLimits.DigestBytes)
        {
            throw new ConsensusEncodingException($"digest of {digest.Length} bytes, expected {ConsensusLimits.DigestBytes}");
        }
        w.Raw(digest);
    }

    private static T ReadAs<T>(ref CanonicalReader r, int depth, string what) where T : ConsensusMessage
    {
        var m = Read(ref r, depth + 1);
        return m as T ?? throw new ConsensusEncodingException($"{what} holds a {m.Kind} message, expected {typeof(T).Name}");
    }

    private static ConsensusMessage Read(ref CanonicalReader r, int depth)
    {
        if (depth > 3)
        {
            throw new ConsensusEncodingException($"messages nested {depth} deep, expected at most 3");
        }
        byte kind = r.U8("message kind");
        int sender = r.I32("sender");
        if (sender < 0)
        {
            throw new ConsensusEncodingException($"sender {sender} is negative, expected a node id >= 0");
        }
        ConsensusMessage m;
        switch ((MessageKind)kind)
        {
            case MessageKind.PrePrepare:
                m = new PrePrepare { Sender = sender, View = r.NonNegative("view"), Height = r.NonNegative("height"), Digest = r.Fixed("digest", ConsensusLimits.DigestBytes), Payload = r.Bytes("payload", ConsensusLimits.MaxPayloadBytes) };
                break;
            case MessageKind.Prepare:
                m = new Prepare { Sender = sender, View = r.NonNegative("view"), Height = r.NonNegative("height"), Digest = r.Fixed("digest", ConsensusLimits.DigestBytes) };
                break;
            case MessageKind.Commit:
                m = new Commit { Sender = sender, View = r.NonNegative("view"), Height = r.NonNegative("height"), Digest = r.Fixed("digest", ConsensusLimits.DigestBytes) };
                break;
            case MessageKind.Checkpoint:
                m = new Checkpoint { Sender = sender, Height = r.NonNegative("height"), StateDigest = r.Fixed("state digest", ConsensusLimits.DigestBytes) };
                break;
            case MessageKind.ViewChange:
                {
                    long newView = r.NonNegative("new view");
                    long stableHeight = r.NonNegative("stable height");
                    byte[] stableDigest = r.Fixed("stable digest", ConsensusLimits.DigestBytes);
                    var proof = new Checkpoint[r.Count("checkpoint proof", ConsensusLimits.MaxValidators)];
                    for (int i = 0; i < proof.Length; i++) proof[i] = ReadAs<Checkpoint>(ref r, depth, "checkpoint proof");
                    var prepared = new PreparedCertificate[r.Count("prepared certificates", ConsensusLimits.MaxCertificates)];
                    for (int i = 0; i < prepared.Length; i++)
                    {
                        var pp = ReadAs<PrePrepare>(ref r, depth, "prepared certificate");
                        var prepares = new Prepare[r.Count("certificate prepares", ConsensusLimits.MaxValidators)];
                        for (int j = 0; j < prepares.Length; j++) prepares[j] = ReadAs<Prepare>(ref r, depth, "prepared certificate");
                        prepared[i] = new PreparedCertificate { PrePrepare = pp, Prepares = prepares };
                    }
                    m = new ViewChange { Sender = sender, NewView = newView, StableHeight = stableHeight, StableDigest = stableDigest, CheckpointProof = proof, Prepared = prepared };
                    break;
                }
            case MessageKind.NewView:
                {
                    long view = r.NonNegative("view");
                    var vcs = new ViewChange[r.Count("view changes", ConsensusLimits.MaxValidators)];
                    for (int i = 0; i < vcs.Length; i++) vcs[i] = ReadAs<ViewChange>(ref r, depth, "new view");
                    var pps = new PrePrepare[r.Count("re-proposals", ConsensusLimits.MaxCertificates)];
                    for (int i = 0; i < pps.Length; i++) pps[i] = ReadAs<PrePrepare>(ref r, depth, "new view");
                    m = new NewView { Sender = sender, View = view, ViewChanges = vcs, PrePrepares = pps };
                    break;
                }
            case MessageKind.StateRequest:
                m = new StateRequest { Sender = sender, FromHeight = r.NonNegative("from height") };
                break;
            case MessageKind.StateResponse:
                {
                    long from = r.NonNegative("from height");
                    long to = r.NonNegative("checkpoint height");
                    byte[] digest = r.Fixed("state digest", ConsensusLimits.DigestBytes);
                    var proof = new Checkpoint[r.Count("checkpoint proof", ConsensusLimits.MaxValidators)];
                    for (int i = 0; i < proof.Length; i++) proof[i] = ReadAs<Checkpoint>(ref r, depth, "state response proof");
                    var payloads = new byte[r.Count("payloads", ConsensusLimits.MaxTransferBlocks)][];
                    for (int i = 0; i < payloads.Length; i++) payloads[i] = r.Bytes("payload", ConsensusLimits.MaxPayloadBytes);
                    m = new StateResponse { Sender = sender, FromHeight = from, CheckpointHeight = to, StateDigest = digest, Proof = proof, Payloads = payloads };
                    break;
                }
            default:
                throw new ConsensusEncodingException($"unknown message kind {kind}, expected 1..8");
        }
        return m with { Signature = r.Bytes("signature", ConsensusLimits.MaxSignatureBytes) };
    }
}
