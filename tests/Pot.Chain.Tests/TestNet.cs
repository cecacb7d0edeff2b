using Pot.Chain.Blocks;
using Pot.Chain.CrashChild;
using Pot.Chain.Execution;
using Pot.Chain.State;
using Pot.Chain.Transactions;
using Pot.Commitments.Keys;

namespace Pot.Chain.Tests;

/// <summary>Builders for test chains: the crash child's deterministic network plus helpers to sign and commit.</summary>
internal sealed class TestNet
{
    public TestNet(ulong seed = 1)
    {
        Workload = new Workload(seed);
        Ledger = Ledger.FromGenesis(Workload.Genesis);
    }

    public Workload Workload { get; }
    public Ledger Ledger { get; }
    public string ChainId => Ledger.ChainId;
    public Ed25519Keys Validator => Workload.Validators[0];
    public Ed25519Keys Miner => Workload.Miners[0];
    public Ed25519Keys Verifier => Workload.Verifiers[0];
    public Ed25519Keys User => Workload.Users[1];

    public static byte[] Addr(Ed25519Keys k) => Workload.Addr(k);

    public Account AccountOf(Ed25519Keys k) => StateAccess.Account(Ledger.State, Addr(k));

    public ulong NonceOf(Ed25519Keys k) => AccountOf(k).Nonce;

    public Transaction Tx(Ed25519Keys k, TransactionPayload payload, ulong fee = 5_000, ulong? nonce = null, string? chainId = null) =>
        Transaction.Create(chainId ?? ChainId, k, nonce ?? NonceOf(k), fee, payload);

    public ulong NextTime => Ledger.Head.TimeMs + 1000;

    /// <summary>Builds a block from exactly these transactions (failing if any is skipped) without committing.</summary>
    public Block Build(params Transaction[] txs)
    {
        var block = Ledger.BuildBlock(txs, Addr(Validator), 0, NextTime, out var skipped);
        Assert.True(skipped.Count == 0, skipped.Count == 0 ? "" : skipped[0].Rejection.ToString());
        return block;
    }

    public CommitCertificate Certify(Block block) => CommitCertificate.Sign(block.Hash, Workload.Validators);

    /// <summary>Builds, certifies and commits a block with exactly these transactions.</summary>
    public BlockExecution Commit(params Transaction[] txs)
    {
        var block = Build(txs);
        return Ledger.Commit(block, Certify(block));
    }

    /// <summary>Builds a block around one transaction and returns why it was skipped (null if it applied).</summary>
    public Rejection? TryOne(Transaction tx)
    {
        Ledger.BuildBlock([tx], Addr(Validator), 0, NextTime, out var skipped);
        return skipped.Count == 0 ? null : skipped[0].Rejection;
    }
}
