using Pot.Consensus;
using static Pot.Consensus.Tests.TestKit;

namespace Pot.Consensus.Tests;

public sealed class CodecTests
{
    private static IEnumerable<ConsensusMessage> Samples()
    {
        var pp = Proposal(0, 3, 5, Tx(1), Tx(2));
        var prepares = new[] { PrepareFor(1, pp), PrepareFor(2, pp) };
        var cp = new Checkpoint { Sender = 1, Height = 4, StateDigest = Digests.Genesis }.SignWith(Signer(1));
        var vc = new ViewChange { Sender = 2, NewView = 4, StableHeight = 4, StableDigest = Digests.Genesis, CheckpointProof = [cp], Prepared = [new PreparedCertificate { PrePrepare = pp, Prepares = prepares }] }.SignWith(Signer(2));
        yield return pp;
        yield return prepares[0];
        yield return CommitFor(3, pp);
        yield return cp;
        yield return vc;
        yield return new NewView { Sender = 0, View = 4, ViewChanges = [vc], PrePrepares = [pp] }.SignWith(Signer(0));
        yield return new StateRequest { Sender = 3, FromHeight = 7 }.SignWith(Signer(3));
        yield return new StateResponse { Sender = 1, FromHeight = 0, CheckpointHeight = 4, StateDigest = Digests.Genesis, Proof = [cp], Payloads = [[1, 2], []] }.SignWith(Signer(1));
    }

    [Fact]
    public void EveryMessageRoundTripsToIdenticalBytes()
    {
        // Proves the encoding is canonical: decode(encode(m)) re-encodes to the same bytes and keeps a valid signature, for every message kind.
        foreach (var m in Samples())
        {
            byte[] bytes = MessageCodec.Encode(m);
            var back = MessageCodec.Decode(bytes);
            Assert.Equal(m.Kind, back.Kind);
            Assert.Equal(bytes, MessageCodec.Encode(back));
            Assert.True(back.HasValidSignature(Verifier), $"{m.Kind} lost its signature in a round trip");
        }
    }

    [Fact]
    public void TrailingTruncatedAndOversizeInputsAreRejectedClearly()
    {
        // Proves decoding rejects trailing bytes, truncation, unknown kinds and over-limit lengths with an exception naming the problem.
        foreach (var m in Samples())
        {
            byte[] bytes = MessageCodec.Encode(m);
            var trailing = Assert.Throws<ConsensusEncodingException>(() => MessageCodec.Decode([.. bytes, 0]));
            Assert.Contains("trailing", trailing.Message);
            Assert.Throws<ConsensusEncodingException>(() => MessageCodec.Decode(bytes.AsSpan(0, bytes.Length - 1)));
        }
        var unknown = Assert.Throws<ConsensusEncodingException>(() => MessageCodec.Decode(new byte[] { 99, 0, 0, 0, 0 }));
        Assert.Contains("unknown message kind", unknown.Message);
        // A payload length claiming more than the 1 MiB limit.
        byte[] pp = MessageCodec.Encode(Proposal(0, 0, 1, Tx(1)));
        int lengthAt = 1 + 4 + 8 + 8 + 32;
        BitConverter.TryWriteBytes(pp.AsSpan(lengthAt), ConsensusLimits.MaxPayloadBytes + 1);
        var oversize = Assert.Throws<ConsensusEncodingException>(() => MessageCodec.Decode(pp));
        Assert.Contains("outside [0, 1048576]", oversize.Message);
        Assert.Throws<ConsensusEncodingException>(() => MessageCodec.Decode(new byte[ConsensusLimits.MaxMessageBytes + 1]));
    }

    [Fact]
    public void EverySingleBitCorruptionIsRejected()
    {
        // Proves every single-bit flip of an encoded, signed message either fails to decode or fails its signature check.
        foreach (var m in Samples().Take(4))
        {
            byte[] bytes = MessageCodec.Encode(m);
            for (int i = 0; i < bytes.Length; i++)
            {
                for (int bit = 0; bit < 8; bit++)
                {
                    byte[] copy = (byte[])bytes.Clone();
                    copy[i] ^= (byte)(1 << bit);
                    try
                    {
                        var decoded = MessageCodec.Decode(copy);
                        Assert.False(decoded.HasValidSignature(Verifier), $"{m.Kind}: flip of bit {bit} at byte {i} still verifies");
                    }
                    catch (ConsensusEncodingException)
                    {
                    }
                }
            }
        }
    }

    [Fact]
    public void Ed25519SignaturesBindSenderAndBytes()
    {
        // Proves the Ed25519 implementation verifies its own signatures and rejects another sender's key and altered bytes.
        using var a = new Ed25519ConsensusSigner(0, Enumerable.Repeat((byte)1, 32).ToArray());
        using var b = new Ed25519ConsensusSigner(1, Enumerable.Repeat((byte)2, 32).ToArray());
        var verifier = new Ed25519ConsensusVerifier(new Dictionary<int, byte[]> { [0] = a.PublicKey, [1] = b.PublicKey });
        var pp = Proposal(0, 0, 1, Tx(1)).SignWith(a);
        Assert.True(pp.HasValidSignature(verifier));
        Assert.False((pp with { Sender = 1 }).HasValidSignature(verifier));
        Assert.False((pp with { Height = 2 }).HasValidSignature(verifier));
        Assert.False((pp with { Sender = 7 }).HasValidSignature(verifier));
        Assert.Throws<ArgumentException>(() => new Ed25519ConsensusSigner(0, new byte[31]));
    }

    [Fact]
    public void BatchEncodingRejectsMalformedPayloads()
    {
        // Proves the transaction batch decoder round-trips and rejects trailing or truncated payloads instead of guessing.
        byte[] payload = TransactionBatch.Encode([Tx(1), Tx(2)]);
        Assert.True(TransactionBatch.TryDecode(payload, out var txs));
        Assert.Equal(2, txs.Count);
        Assert.False(TransactionBatch.TryDecode([.. payload, 1], out _));
        Assert.False(TransactionBatch.TryDecode(payload.AsSpan(0, payload.Length - 1), out _));
    }
}
