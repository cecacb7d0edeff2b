using Pot.Chain.Blocks;
using Pot.Chain.CrashChild;
using Pot.Chain.Execution;
using Pot.Chain.Transactions;
using Pot.Commitments;

namespace Pot.Chain.Tests;

public class BlockTests
{
    [Fact]
    public void AttestPayloadRoundTripsAndRefusesNonFiniteMeasuredLosses()
    {
        // Proves: an attestation with measured losses and a failed-check code survives encode/decode byte for byte,
        // and an encoding whose loss field is NaN or infinite (even correctly signed) is refused as malformed.
        var net = new TestNet();
        var payload = new AttestPayload(new byte[32], false, [1], [2, 9], Enumerable.Repeat((byte)7, 32).ToArray(), 4,
            BitConverter.SingleToUInt32Bits(1.5f), BitConverter.SingleToUInt32Bits(1.25f), BitConverter.SingleToUInt32Bits(-0.5f));
        var tx = net.Tx(net.Verifier, payload);
        var back = Transaction.Decode(tx.Encode());
        Assert.Equal(tx.Encode(), back.Encode());
        var a = Assert.IsType<AttestPayload>(back.Payload);
        Assert.Equal((byte)4, a.FailedCheck);
        Assert.Equal(1.25f, BitConverter.UInt32BitsToSingle(a.LossAfterBits));
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            var hostile = net.Tx(net.Verifier, payload with { LossBeforeBits = BitConverter.SingleToUInt32Bits(bad) });
            var ex = Assert.Throws<PotFormatException>(() => Transaction.Decode(hostile.Encode()));
            Assert.Contains("loss before", ex.Message, StringComparison.Ordinal);
        }
    }

    private static (TestNet Net, Block Block) Proposal()
    {
        var net = new TestNet();
        var block = net.Build(net.Tx(net.User, new TransferPayload(TestNet.Addr(net.Miner), 10)));
        return (net, block);
    }

    private static Rejection Reject(TestNet net, Block block, ulong? nowMs = null)
    {
        var v = net.Ledger.ValidateProposal(block.Encode(), nowMs);
        Assert.False(v.IsValid);
        return v.Rejection!;
    }

    [Fact]
    public void AValidProposalRoundTripsAndValidates()
    {
        // Proves: a built block survives encode/decode with the same hash and passes ValidateProposal
        // on a second, independent ledger (the consensus validity callback) without changing its state.
        var (net, block) = Proposal();
        var decoded = Block.Decode(block.Encode());
        Assert.Equal(Hex.Encode(block.Hash), Hex.Encode(decoded.Hash));
        var other = Ledger.FromGenesis(new Workload(1).Genesis);
        byte[] root = other.State.Root;
        var v = other.ValidateProposal(block.Encode());
        Assert.True(v.IsValid, v.Rejection?.ToString());
        Assert.Equal(Hex.Encode(root), Hex.Encode(other.State.Root));
        other.Commit(decoded, net.Certify(decoded));
        Assert.Equal(Hex.Encode(block.Header.StateRoot), Hex.Encode(other.State.Root));
    }

    [Fact]
    public void HeaderRulesAreEnforced()
    {
        // Proves: wrong height, parent, chain id, non-increasing or far-future time, an outside
        // proposer, a wrong transactions root, a wrong state root and wrong model roots are rejected,
        // each with a message naming the field.
        var (net, block) = Proposal();
        var h = block.Header;
        Block With(BlockHeader header) => new(header, block.Transactions);
        Assert.Contains("height", Reject(net, With(h with { Height = 5 })).Message);
        Assert.Contains("previous hash", Reject(net, With(h with { PreviousHash = new byte[32] })).Message);
        Assert.Equal(RejectionCode.WrongChainId, Reject(net, With(h with { ChainId = "other" })).Code);
        Assert.Contains("not after the parent", Reject(net, With(h with { TimeMs = net.Ledger.Head.TimeMs })).Message);
        Assert.Contains("ahead of the local clock", Reject(net, block, nowMs: h.TimeMs - Ledger.MaxClockDriftMs - 1).Message);
        Assert.True(net.Ledger.ValidateProposal(block.Encode(), nowMs: h.TimeMs).IsValid);
        Assert.Contains("not in the validator set", Reject(net, With(h with { Proposer = TestNet.Addr(net.User) })).Message);
        Assert.Contains("transactions root", Reject(net, With(h with { TransactionsRoot = new byte[32] })).Message);
        Assert.Contains("state root", Reject(net, With(h with { StateRoot = new byte[32] })).Message);
        Assert.Contains("model roots", Reject(net, With(h with { ModelRoots = [new TaskModelRoot(0, new byte[32])] })).Message);
        Assert.Contains("appears twice", Reject(net, new Block(h with { TransactionsRoot = Block.ComputeTransactionsRoot([.. block.Transactions, .. block.Transactions]) }, [.. block.Transactions, .. block.Transactions])).Message);
        Assert.Equal(RejectionCode.Malformed, net.Ledger.ValidateProposal(block.Encode().AsSpan(0, 40)).Rejection!.Code);
    }

    [Fact]
    public void CommitNeedsAQuorumCertificateFromTheValidatorSet()
    {
        // Proves: a commit certificate needs 2f+1 = 3 of 4 validators' valid signatures over the header
        // hash; fewer signers, an outsider, a signature over another block, and duplicate signers are
        // refused and nothing is committed; 3 of 4 suffice.
        var (net, block) = Proposal();
        var v = net.Workload.Validators;
        Assert.Throws<BlockRejectedException>(() => net.Ledger.Commit(block, CommitCertificate.Sign(block.Hash, v.Take(2))));
        Assert.Throws<BlockRejectedException>(() => net.Ledger.Commit(block, CommitCertificate.Sign(block.Hash, [v[0], v[1], net.User])));
        var wrong = CommitCertificate.Sign(new byte[32], v);
        var ex = Assert.Throws<BlockRejectedException>(() => net.Ledger.Commit(block, wrong));
        Assert.Contains("does not verify", ex.Message);
        var sigs = CommitCertificate.Sign(block.Hash, v.Take(2)).Signatures;
        var dup = new CommitCertificate([sigs[0], sigs[0], sigs[1]]);
        Assert.Throws<BlockRejectedException>(() => net.Ledger.Commit(block, dup));
        Assert.Throws<PotFormatException>(() => CommitCertificate.Decode(dup.Encode()));
        Assert.Equal(0UL, net.Ledger.Head.Height);
        net.Ledger.Commit(block, CommitCertificate.Sign(block.Hash, v.Skip(1)));
        Assert.Equal(1UL, net.Ledger.Head.Height);
    }

    [Fact]
    public void BlockAndHeaderDecodersRejectEveryTruncation()
    {
        // Proves: no prefix of a valid block decodes (length-prefixed fields and EnsureEnd catch it).
        var (_, block) = Proposal();
        byte[] bytes = block.Encode();
        for (int cut = 0; cut < bytes.Length; cut++)
        {
            Assert.Throws<PotFormatException>(() => Block.Decode(bytes.AsSpan(0, cut)));
        }
        Assert.Throws<PotFormatException>(() => Block.Decode([.. bytes, 1]));
    }
}
