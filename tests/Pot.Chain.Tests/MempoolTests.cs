using Pot.Chain.Execution;
using Pot.Chain.Mempool;
using Pot.Chain.Transactions;

namespace Pot.Chain.Tests;

public class MempoolTests
{
    private static Transaction Transfer(TestNet net, Commitments.Keys.Ed25519Keys k, ulong nonce, ulong fee) =>
        net.Tx(k, new TransferPayload(TestNet.Addr(net.Miner), 1), fee: fee, nonce: nonce);

    [Fact]
    public void ReapOrdersByFeeRateWhileKeepingEachSendersNonceOrder()
    {
        // Proves: the highest fee rate goes first, but a sender's nonce n+1 never precedes its nonce n,
        // even when n+1 pays more; and the reaped list forms a valid block.
        var net = new TestNet();
        var pool = new TransactionPool(net.Ledger);
        var a = net.Workload.Users[0];
        var b = net.Workload.Users[1];
        var a0 = Transfer(net, a, 0, 3_000);
        var a1 = Transfer(net, a, 1, 9_000);
        var b0 = Transfer(net, b, 0, 5_000);
        foreach (var t in new[] { a0, a1, b0 })
        {
            Assert.Null(pool.Add(t));
        }
        var reaped = pool.Reap(10, 1 << 20);
        Assert.Equal([b0.Hash, a0.Hash, a1.Hash], reaped.Select(t => t.Hash));
        net.Commit([.. reaped]);
        pool.Recheck();
        Assert.Equal(0, pool.Count);
    }

    [Fact]
    public void RejectsDuplicatesGapsAndInvalidTransactionsWithReasons()
    {
        // Proves: a duplicate, a nonce gap, a second transaction for a pending nonce, a bad signature,
        // and a transaction the sender's pending ones make unaffordable are each refused with their code.
        var net = new TestNet();
        var pool = new TransactionPool(net.Ledger);
        var u = net.Workload.Users[0];
        var t0 = Transfer(net, u, 0, 3_000);
        Assert.Null(pool.Add(t0));
        Assert.Equal(RejectionCode.Duplicate, pool.Add(t0)!.Code);
        Assert.Equal(RejectionCode.NonceGap, pool.Add(Transfer(net, u, 5, 3_000))!.Code);
        Assert.Equal(RejectionCode.NonceAlreadyPending, pool.Add(Transfer(net, u, 0, 4_000))!.Code);
        byte[] bad = Transfer(net, u, 1, 3_000).Encode();
        bad[^3] ^= 0x10;
        Assert.Equal(RejectionCode.BadSignature, pool.Add(bad)!.Code);
        ulong balance = net.AccountOf(u).Balance;
        var drain = net.Tx(u, new TransferPayload(TestNet.Addr(net.Miner), balance - 6_001 - 1_000), fee: 3_000, nonce: 1);
        Assert.Null(pool.Add(drain));
        Assert.Equal(RejectionCode.InsufficientBalance, pool.Add(Transfer(net, u, 2, 3_000))!.Code);
        Assert.Equal(RejectionCode.WrongChainId, pool.Add(net.Tx(u, new TransferPayload(TestNet.Addr(net.Miner), 1), chainId: "elsewhere", nonce: 2))!.Code);
        Assert.Equal(2, pool.Count);
    }

    [Fact]
    public void AFullPoolEvictsTheLowestFeeRateForABetterOne()
    {
        // Proves: at capacity a better-paying transaction evicts the lowest fee-rate tail of another
        // sender, and a worse-paying one is refused as MempoolFull.
        var net = new TestNet();
        var pool = new TransactionPool(net.Ledger, capacity: 3);
        var users = net.Workload.Users;
        var cheap = Transfer(net, users[0], 0, 2_000);
        Assert.Null(pool.Add(cheap));
        Assert.Null(pool.Add(Transfer(net, users[1], 0, 5_000)));
        Assert.Null(pool.Add(Transfer(net, users[2], 0, 6_000)));
        Assert.Equal(RejectionCode.MempoolFull, pool.Add(Transfer(net, users[3], 0, 1_500))!.Code);
        Assert.Null(pool.Add(Transfer(net, users[3], 0, 7_000)));
        Assert.Equal(3, pool.Count);
        Assert.False(pool.Contains(cheap.Hash));
    }

    [Fact]
    public void RecheckDropsTransactionsInvalidatedByACommittedBlock()
    {
        // Proves: after a block commits another transaction with the same nonce, the pending one (and
        // the sender's later ones that depended on it) leave the pool.
        var net = new TestNet();
        var pool = new TransactionPool(net.Ledger);
        var u = net.Workload.Users[0];
        Assert.Null(pool.Add(Transfer(net, u, 0, 3_000)));
        Assert.Null(pool.Add(Transfer(net, u, 1, 3_000)));
        net.Commit(Transfer(net, u, 0, 9_999));
        pool.Recheck();
        Assert.Equal(1, pool.Count);
        Assert.Equal(1UL, pool.Reap(10, 1 << 20).Single().Nonce);
    }
}
