using Pot.Chain.Blocks;
using Pot.Chain.State;
using Pot.Commitments;
using Pot.Commitments.Merkle;

namespace Pot.Chain.Tests;

public class StateProofTests
{
    private static TestNet ChainWithHistory()
    {
        var net = new TestNet(7);
        for (int i = 0; i < 6; i++)
        {
            var (b, c) = net.Workload.NextBlock(net.Ledger, 3, 10);
            net.Ledger.Commit(b, c);
        }
        return net;
    }

    [Fact]
    public void ABalanceAndATaskModelRootAreProvenAgainstTheHeaderStateRoot()
    {
        // Proves: a light client holding only a block header can check an account's balance and a
        // task's current model root with an inclusion proof against the header's state root, also
        // after the proof went through its byte encoding.
        var net = ChainWithHistory();
        BlockHeader header = net.Ledger.Head;
        var address = TestNet.Addr(net.Miner);
        var proof = StateProof.Decode(net.Ledger.State.Prove(StateKeys.Account(address)).Encode());
        Assert.True(proof.Verify(header.StateRoot));
        Assert.Equal(net.AccountOf(net.Miner).Balance, Account.Decode(proof.Value).Balance);
        Assert.Equal(Hex.Encode(StateKeys.Account(address)), Hex.Encode(proof.Key));

        var taskProof = net.Ledger.State.Prove(StateKeys.TaskRound(0));
        Assert.True(taskProof.Verify(header.StateRoot));
        Assert.Equal(Hex.Encode(StateAccess.TaskRound(net.Ledger.State, 0)!.ModelRoot), Hex.Encode(TaskRound.Decode(taskProof.Value).ModelRoot));

        // Every entry of the state is provable.
        foreach (var kv in net.Ledger.State.Entries.Take(200))
        {
            Assert.True(net.Ledger.State.Prove(kv.Key).Verify(header.StateRoot));
        }
    }

    [Fact]
    public void ForgedProofsAreRejected()
    {
        // Proves: changing the value (a higher balance), the key, one bit of any path hash, the leaf
        // index, or checking against another root makes verification fail.
        var net = ChainWithHistory();
        byte[] root = net.Ledger.Head.StateRoot;
        var proof = net.Ledger.State.Prove(StateKeys.Account(TestNet.Addr(net.Miner)));
        var acct = Account.Decode(proof.Value);
        Assert.False((proof with { Value = (acct with { Balance = acct.Balance + 1 }).Encode() }).Verify(root));
        Assert.False((proof with { Key = StateKeys.Account(TestNet.Addr(net.Verifier)) }).Verify(root));
        for (int i = 0; i < proof.Inclusion.Path.Count; i++)
        {
            var path = proof.Inclusion.Path.Select(p => (byte[])p.Clone()).ToArray();
            path[i][i % 32] ^= 0x04;
            Assert.False((proof with { Inclusion = new MerkleProof(proof.Inclusion.LeafIndex, proof.Inclusion.TreeSize, path) }).Verify(root));
        }
        long other = (proof.Inclusion.LeafIndex + 1) % proof.Inclusion.TreeSize;
        if (MerkleProof.ExpectedPathLength(other, proof.Inclusion.TreeSize) == proof.Inclusion.Path.Count)
        {
            Assert.False((proof with { Inclusion = new MerkleProof(other, proof.Inclusion.TreeSize, proof.Inclusion.Path) }).Verify(root));
        }
        byte[] otherRoot = (byte[])root.Clone();
        otherRoot[0] ^= 1;
        Assert.False(proof.Verify(otherRoot));
        // A proof from an older state does not verify against the new header after the account changed.
        var old = net.Ledger.State.Prove(StateKeys.Account(TestNet.Addr(net.User)));
        net.Commit(net.Tx(net.User, new Transactions.TransferPayload(TestNet.Addr(net.Miner), 1)));
        Assert.False(old.Verify(net.Ledger.Head.StateRoot));
        Assert.Throws<PotFormatException>(() => StateProof.Decode([.. proof.Encode(), 0]));
        Assert.Throws<KeyNotFoundException>(() => net.Ledger.State.Prove([0xEE]));
    }

    // Proves the last-accepted record (state key 0A, written at finalization for the carried optimiser state) round-trips
    // canonically, its key orders by task then miner, and truncated or padded bytes are refused with the field named.
    [Fact]
    public void LastAcceptedRecordRoundTripsAndRefusesMalformedBytes()
    {
        var record = new LastAccepted(300, Enumerable.Range(0, 32).Select(i => (byte)i).ToArray(), Enumerable.Range(100, 32).Select(i => (byte)i).ToArray());
        byte[] bytes = record.Encode();
        Assert.Equal(2 + 32 + 32, bytes.Length); // varint 300 is two bytes
        var back = LastAccepted.Decode(bytes);
        Assert.Equal(300UL, back.Round);
        Assert.Equal(record.SubmissionId, back.SubmissionId);
        Assert.Equal(record.TraceRoot, back.TraceRoot);
        Assert.Contains("trace root", Assert.Throws<PotFormatException>(() => LastAccepted.Decode(bytes[..^1])).Message, StringComparison.Ordinal);
        Assert.Throws<PotFormatException>(() => LastAccepted.Decode([.. bytes, 0]));
        byte[] miner = new byte[20];
        byte[] key = StateKeys.LastAccepted(5, miner);
        Assert.Equal(new byte[] { 0x0A, 0, 0, 0, 0, 0, 0, 0, 5 }.Concat(miner), key);
        Assert.True(ByteOrder.Compare(key, StateKeys.LastAccepted(6, miner)) < 0);
    }
}
