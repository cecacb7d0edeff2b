using System.Security.Cryptography;
using Pot.Chain.Blocks;
using Pot.Chain.CrashChild;
using Pot.Chain.Execution;
using Pot.Chain.Protocol;
using Pot.Chain.State;
using Pot.Chain.Transactions;
using Pot.Commitments;

namespace Pot.Chain.Tests;

public class StateTransitionTests
{
    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void RandomBlocksConserveSupplyAndReplayToTheSameRoots(ulong seed)
    {
        // Proves: over random valid block sequences of every transaction type, holdings + burned stay
        // equal to the genesis supply after every block, and two independent replays (a fresh
        // generator and a fresh ledger fed the same block bytes) agree on every state root.
        var net = new TestNet(seed);
        var replay = Ledger.FromGenesis(new Workload(seed).Genesis);
        var typesSeen = new HashSet<TransactionType>();
        for (int h = 0; h < 40; h++)
        {
            var (block, cert) = net.Workload.NextBlock(net.Ledger, 5, 25, protocolShare: 0.5);
            foreach (var t in block.Transactions)
            {
                typesSeen.Add(t.Type);
            }
            net.Ledger.Commit(block, cert);
            var totals = SupplyAudit.Compute(net.Ledger.State);
            Assert.True(totals.Conserved, $"height {block.Header.Height}: accounted {totals.Accounted} != supply {totals.TotalSupply}");

            replay.Commit(Block.Decode(block.Encode()), CommitCertificate.Decode(cert.Encode()));
            Assert.Equal(Hex.Encode(net.Ledger.State.Root), Hex.Encode(replay.State.Root));
            Assert.Equal(Hex.Encode(block.Header.StateRoot), Hex.Encode(replay.State.Root));
        }
        Assert.True(SupplyAudit.Compute(net.Ledger.State).Burned > 0, "fees must have burned something");
        Assert.True(typesSeen.Count >= 8, $"only {string.Join(",", typesSeen)} were generated; expected nearly every transaction type");

        // A second generator run from scratch produces the identical chain (determinism of the generator itself).
        var again = new TestNet(seed);
        for (int h = 0; h < 40; h++)
        {
            var (block, cert) = again.Workload.NextBlock(again.Ledger, 5, 25, protocolShare: 0.5);
            again.Ledger.Commit(block, cert);
        }
        Assert.Equal(Hex.Encode(net.Ledger.HeadHash), Hex.Encode(again.Ledger.HeadHash));
    }

    [Fact]
    public void StateRootDoesNotDependOnInsertionOrder()
    {
        // Proves: the state root is a function of the key/value set only (explicit sort), not of the
        // order entries were inserted in.
        var net = new TestNet();
        var entries = net.Ledger.State.Entries.ToList();
        var shuffled = entries.OrderBy(_ => Random.Shared.Next()).ToList();
        Assert.Equal(Hex.Encode(net.Ledger.State.Root), Hex.Encode(ChainState.FromEntries(shuffled).Root));
        var reversed = Enumerable.Reverse(entries).ToList();
        Assert.Equal(Hex.Encode(net.Ledger.State.Root), Hex.Encode(ChainState.FromEntries(reversed).Root));
    }

    private static void AssertRejected(TestNet net, Transaction tx, RejectionCode code)
    {
        byte[] rootBefore = net.Ledger.State.Root;
        var r = net.TryOne(tx);
        Assert.NotNull(r);
        Assert.Equal(code, r!.Code);
        Assert.False(string.IsNullOrWhiteSpace(r.Message));
        Assert.Equal(Hex.Encode(rootBefore), Hex.Encode(net.Ledger.State.Root));
        Assert.NotNull(net.Ledger.CheckTransaction(tx));

        // A block that carries it anyway is invalid as a whole.
        var good = net.Build();
        var forged = new Block(good.Header with { TransactionsRoot = Block.ComputeTransactionsRoot([tx]) }, [tx]);
        var v = net.Ledger.ValidateProposal(forged.Encode());
        Assert.False(v.IsValid);
        Assert.Equal(code, v.Rejection!.Code);
        Assert.Equal(Hex.Encode(rootBefore), Hex.Encode(net.Ledger.State.Root));
    }

    [Fact]
    public void EveryInvalidTransactionIsRejectedWithItsReasonAndChangesNothing()
    {
        // Proves: bad signature, replayed nonce, nonce gap, insufficient balance, low fee, wrong chain
        // id and invalid amounts are each rejected with their specific code, leave the state root
        // unchanged, and make any block containing them invalid.
        var net = new TestNet();
        var to = TestNet.Addr(net.Miner);
        var good = net.Tx(net.User, new TransferPayload(to, 10));

        byte[] bytes = good.Encode();
        bytes[^1] ^= 0x01;
        AssertRejected(net, Transaction.Decode(bytes), RejectionCode.BadSignature);

        AssertRejected(net, net.Tx(net.User, new TransferPayload(to, 10), nonce: 5), RejectionCode.NonceGap);
        net.Commit(good);
        AssertRejected(net, good, RejectionCode.NonceTooLow);
        AssertRejected(net, net.Tx(net.User, new TransferPayload(to, 10), nonce: 0), RejectionCode.NonceTooLow);

        ulong balance = net.AccountOf(net.User).Balance;
        AssertRejected(net, net.Tx(net.User, new TransferPayload(to, balance)), RejectionCode.InsufficientBalance);
        AssertRejected(net, net.Tx(net.User, new TransferPayload(to, 1), fee: balance + 1), RejectionCode.InsufficientBalance);
        AssertRejected(net, net.Tx(net.User, new TransferPayload(to, 1), fee: 10), RejectionCode.FeeTooLow);
        AssertRejected(net, net.Tx(net.User, new TransferPayload(to, 1), chainId: "other-chain"), RejectionCode.WrongChainId);
        AssertRejected(net, net.Tx(net.User, new TransferPayload(to, 0)), RejectionCode.InvalidParameter);
        AssertRejected(net, net.Tx(net.User, new UnbondPayload(1)), RejectionCode.InsufficientStake);
        AssertRejected(net, net.Tx(net.User, new RegisterRolePayload(Roles.Validator)), RejectionCode.InsufficientStake);
        AssertRejected(net, net.Tx(net.Validator, new RegisterRolePayload(Roles.Validator)), RejectionCode.DuplicateRole);
        AssertRejected(net, net.Tx(net.Miner, new UnbondPayload(net.AccountOf(net.Miner).Stake)), RejectionCode.InsufficientStake);
        // An unfunded account: its first transaction cannot pay a fee.
        var stranger = Workload.Key("stranger", 0);
        AssertRejected(net, net.Tx(stranger, new TransferPayload(to, 1)), RejectionCode.InsufficientBalance);
    }

    [Fact]
    public void OversizeAndMalformedBytesAreRejectedByTheDecoderAndTheMempool()
    {
        // Proves: oversize bytes, truncations, trailing bytes and unknown types never decode, and the
        // mempool reports them as Oversize / Malformed without touching the state.
        var net = new TestNet();
        var pool = new Mempool.TransactionPool(net.Ledger);
        byte[] root = net.Ledger.State.Root;
        var r = pool.Add(new byte[ChainLimits.MaxTransactionBytes + 1]);
        Assert.Equal(RejectionCode.Oversize, r!.Code);
        byte[] good = net.Tx(net.User, new TransferPayload(TestNet.Addr(net.Miner), 10)).Encode();
        for (int cut = 0; cut < good.Length; cut++)
        {
            Assert.Throws<PotFormatException>(() => Transaction.Decode(good.AsSpan(0, cut)));
            Assert.Equal(RejectionCode.Malformed, pool.Add(good.AsSpan(0, cut))!.Code);
        }
        Assert.Throws<PotFormatException>(() => Transaction.Decode([.. good, 0]));
        byte[] unknownType = (byte[])good.Clone();
        unknownType[1 + 1 + Workload.ChainId.Length] = 42;
        var ex = Assert.Throws<PotFormatException>(() => Transaction.Decode(unknownType));
        Assert.Contains("type 42", ex.Message);
        // A spec just over the limit: the payload decoder refuses it by size.
        var big = Workload.TaskDefinition(1) with { ModelSpec = new byte[ChainLimits.MaxModelSpecBytes + 1] };
        var oversizeTx = net.Tx(net.User, big, fee: 1_000_000);
        Assert.Throws<PotFormatException>(() => Transaction.Decode(oversizeTx.Encode()));
        Assert.Equal(0, pool.Count);
        Assert.Equal(Hex.Encode(root), Hex.Encode(net.Ledger.State.Root));
    }

    [Fact]
    public void FeesAreSplitBetweenBurnAndProposerExactly()
    {
        // Proves: a transaction's fee leaves the sender, feeBurnPpm of it is burned and the rest is
        // credited to the proposer, to the unit.
        var net = new TestNet();
        var proposer = TestNet.Addr(net.Validator);
        ulong proposerBefore = StateAccess.Account(net.Ledger.State, proposer).Balance;
        ulong userBefore = net.AccountOf(net.User).Balance;
        ulong burnedBefore = StateAccess.Meta(net.Ledger.State).Burned;
        net.Commit(net.Tx(net.User, new TransferPayload(TestNet.Addr(net.Miner), 7), fee: 10_001));
        ulong burned = 10_001UL * net.Ledger.Parameters.FeeBurnPpm / 1_000_000;
        Assert.Equal(userBefore - 10_001 - 7, net.AccountOf(net.User).Balance);
        Assert.Equal(burnedBefore + burned, StateAccess.Meta(net.Ledger.State).Burned);
        Assert.Equal(proposerBefore + (10_001 - burned), StateAccess.Account(net.Ledger.State, proposer).Balance);
    }

    [Fact]
    public void UnbondedStakeIsReleasedExactlyAfterTheDelay()
    {
        // Proves: unbonded stake leaves the stake at once, sits in the queue for unbondingDelayBlocks,
        // and returns to the balance in the block at height (unbond height + delay), not before.
        var net = new TestNet();
        var miner = net.Miner;
        ulong stake = net.AccountOf(miner).Stake;
        net.Commit(net.Tx(miner, new UnbondPayload(500), fee: 4_000));
        ulong unbondHeight = net.Ledger.Head.Height;
        ulong balanceAfter = net.AccountOf(miner).Balance;
        Assert.Equal(stake - 500, net.AccountOf(miner).Stake);
        ulong delay = net.Ledger.Parameters.UnbondingDelayBlocks;
        while (net.Ledger.Head.Height < unbondHeight + delay - 1)
        {
            net.Commit();
            Assert.Equal(balanceAfter, net.AccountOf(miner).Balance);
        }
        net.Commit();
        Assert.Equal(unbondHeight + delay, net.Ledger.Head.Height);
        Assert.Equal(balanceAfter + 500, net.AccountOf(miner).Balance);
        Assert.True(SupplyAudit.Compute(net.Ledger.State).Conserved);
    }

    [Fact]
    public void ARoundWithAFraudProofRewardsSlashesAndPaysTheProverExactly()
    {
        // Proves the protocol bookkeeping of one round: two submissions, one accepted by attestations
        // and one rejected by an upheld fraud proof; rewards come from escrow, the cheating miner and
        // the verifier that accepted it are slashed, the prover receives (1 - slashBurnPpm) of each
        // slash, the rest is burned, the round advances with the new model root in the header and
        // the pending data leaves the state; supply is conserved throughout.
        var net = new TestNet();
        var w = net.Workload;
        var round = StateAccess.TaskRound(net.Ledger.State, 0)!;
        var honest = w.Miners[0];
        var cheat = w.Miners[1];
        var sub1 = net.Tx(honest, new SubmitPayload(0, 0, round.ModelRoot, Hash("u1"), Hash("t1"), [BitConverter.SingleToUInt32Bits(1.5f)], 64));
        var sub2 = net.Tx(cheat, new SubmitPayload(0, 0, round.ModelRoot, Hash("u2"), Hash("t2"), [BitConverter.SingleToUInt32Bits(0.1f)], 64));
        net.Commit(sub1, sub2);

        byte[] evidence = Workload.Evidence(sub2.Hash, TestNet.Addr(w.Verifiers[1]));
        net.Commit(
            net.Tx(w.Verifiers[0], new AttestPayload(sub1.Hash, true, [0], [3], new byte[32])),
            net.Tx(w.Verifiers[1], new AttestPayload(sub1.Hash, true, [1], [4], new byte[32])),
            net.Tx(w.Verifiers[2], new AttestPayload(sub2.Hash, true, [0], [5], new byte[32])),
            net.Tx(w.Verifiers[1], new AttestPayload(sub2.Hash, false, [2], [7], SHA256.HashData(evidence)), nonce: net.NonceOf(w.Verifiers[1]) + 1));

        // A fraud proof whose evidence was not committed by a reject is refused by the default rules.
        var prover = w.Users[2];
        Assert.Equal(RejectionCode.FraudProofRejected, net.TryOne(net.Tx(prover, new FraudProofPayload(sub2.Hash, Hash("ref"), [1, 2, 3])))!.Code);
        net.Commit(net.Tx(prover, new FraudProofPayload(sub2.Hash, Hash("ref"), evidence)));
        Assert.Equal(RejectionCode.DuplicateFraudProof, net.TryOne(net.Tx(prover, new FraudProofPayload(sub2.Hash, Hash("ref"), evidence)))!.Code);

        while (net.Ledger.Head.Height < round.RoundStartHeight + 2)
        {
            net.Commit();
        }
        var p = net.Ledger.Parameters;
        byte[] newRoot = Hash("model-1");
        var fin = net.Ledger.Executor.ProposeFinalization(net.Ledger.State, 0, newRoot, net.Ledger.Head.Height + 1)!;
        Assert.Equal([Hex.Encode(sub1.Hash)], fin.Accepted.Select(a => Hex.Encode(a)));
        Assert.Equal([Hex.Encode(sub2.Hash)], fin.Rejected.Select(a => Hex.Encode(a)));

        // A tampered outcome (an extra reward) is refused.
        var greedy = fin with { Rewards = [.. fin.Rewards.Select(r => r.Address.AsSpan().SequenceEqual(TestNet.Addr(honest)) ? r with { Amount = r.Amount + 1 } : r)] };
        Assert.Equal(RejectionCode.OutcomeMismatch, net.TryOne(net.Tx(net.Validator, greedy))!.Code);

        ulong cheatStake = net.AccountOf(cheat).Stake;
        ulong falseVerifierStake = net.AccountOf(w.Verifiers[2]).Stake;
        ulong proverBefore = net.AccountOf(prover).Balance;
        ulong honestBefore = net.AccountOf(honest).Balance;
        ulong burnedBefore = StateAccess.Meta(net.Ledger.State).Burned;
        var exec = net.Commit(net.Tx(net.Validator, fin, fee: 20_000));

        ulong minerSlash = cheatStake * p.MinerSlashPpm / 1_000_000;
        ulong verifierSlash = falseVerifierStake * p.FalseAttestationSlashPpm / 1_000_000;
        ulong ProverShare(ulong s) => s - s * p.SlashBurnPpm / 1_000_000;
        Assert.Equal(cheatStake - minerSlash, net.AccountOf(cheat).Stake);
        Assert.Equal(falseVerifierStake - verifierSlash, net.AccountOf(w.Verifiers[2]).Stake);
        Assert.Equal(proverBefore + ProverShare(minerSlash) + ProverShare(verifierSlash), net.AccountOf(prover).Balance);
        ulong feeBurn = 20_000UL * p.FeeBurnPpm / 1_000_000;
        Assert.Equal(burnedBefore + (minerSlash - ProverShare(minerSlash)) + (verifierSlash - ProverShare(verifierSlash)) + feeBurn, StateAccess.Meta(net.Ledger.State).Burned);
        ulong minerPool = 1_000 - 1_000UL * p.VerifierRewardPpm / 1_000_000;
        Assert.Equal(honestBefore + minerPool, net.AccountOf(honest).Balance);

        var after = StateAccess.TaskRound(net.Ledger.State, 0)!;
        Assert.Equal(1UL, after.Round);
        Assert.Equal(Hex.Encode(newRoot), Hex.Encode(after.ModelRoot));
        Assert.Equal(0u, after.PendingCount);
        Assert.Equal(round.Escrow - fin.Rewards.Aggregate(0UL, (s, r) => s + r.Amount), after.Escrow);
        Assert.Null(StateAccess.Submission(net.Ledger.State, sub1.Hash));
        Assert.Null(StateAccess.FraudProof(net.Ledger.State, sub2.Hash));
        Assert.Equal(Hex.Encode(newRoot), Hex.Encode(exec.Block.Header.ModelRoots.Single(m => m.TaskId == 0).ModelRoot));
        Assert.True(SupplyAudit.Compute(net.Ledger.State).Conserved);

        // Round 1: a submission on the old base root is refused.
        Assert.Equal(RejectionCode.WrongBaseRoot, net.TryOne(net.Tx(honest, new SubmitPayload(0, 1, round.ModelRoot, Hash("u"), Hash("t"), [], 1)))!.Code);
        Assert.Equal(RejectionCode.WrongRound, net.TryOne(net.Tx(honest, new SubmitPayload(0, 0, newRoot, Hash("u"), Hash("t"), [], 1)))!.Code);
    }

    [Fact]
    public void ProtocolTransactionsEnforceRolesWindowsAndUniqueness()
    {
        // Proves: submit needs the miner role, attest the verifier role, finalize the validator role;
        // a miner submits once per round and cannot attest itself; a verifier attests once; finalize
        // waits for the window and submissions must arrive inside it; unknown tasks and submissions are refused.
        var net = new TestNet();
        var w = net.Workload;
        var round = StateAccess.TaskRound(net.Ledger.State, 0)!;
        var submit = new SubmitPayload(0, 0, round.ModelRoot, Hash("u"), Hash("t"), [], 10);
        var fin = net.Ledger.Executor.ProposeFinalization(net.Ledger.State, 0, Hash("m"), net.Ledger.Head.Height + 1)!;
        Assert.Equal(RejectionCode.WindowNotElapsed, net.TryOne(net.Tx(net.Validator, fin))!.Code);
        Assert.Equal(RejectionCode.MissingRole, net.TryOne(net.Tx(w.Users[1], fin))!.Code);
        Assert.Equal(RejectionCode.MissingRole, net.TryOne(net.Tx(w.Users[1], submit))!.Code);
        Assert.Equal(RejectionCode.UnknownTask, net.TryOne(net.Tx(net.Miner, submit with { TaskId = 9 }))!.Code);
        var sub = net.Tx(net.Miner, submit);
        net.Commit(sub);
        Assert.Equal(RejectionCode.DuplicateSubmission, net.TryOne(net.Tx(net.Miner, submit with { UpdateRoot = Hash("other") }))!.Code);
        // The window is W = 2 blocks from the round start (height 0): a second miner at height 2 is too late.
        Assert.Equal(RejectionCode.WindowClosed, net.TryOne(net.Tx(w.Miners[1], submit))!.Code);

        var accept = new AttestPayload(sub.Hash, true, [], [], new byte[32]);
        Assert.Equal(RejectionCode.MissingRole, net.TryOne(net.Tx(w.Miners[1], accept))!.Code);
        Assert.Equal(RejectionCode.UnknownSubmission, net.TryOne(net.Tx(net.Verifier, accept with { SubmissionId = Hash("nope") }))!.Code);
        Assert.Equal(RejectionCode.InvalidParameter, net.TryOne(net.Tx(net.Verifier, accept with { Accept = false }))!.Code);
        net.Commit(net.Tx(net.Verifier, accept));
        Assert.Equal(RejectionCode.DuplicateAttestation, net.TryOne(net.Tx(net.Verifier, accept))!.Code);

    }

    [Fact]
    public void NextBlockRecordsTheBeaconAndOpensChallengesWithTheIncludingBlocksHash()
    {
        // Proves: the block after a round's start records β = that block's hash in the round record; a submission's
        // challenge is opened by the block after the one that included it, with γ derived from the including block's
        // hash (default rules: SHA-256(hash ‖ id), no assignment), so nobody could know γ when signing; with the
        // default rules an attestation may still come in the including block itself; an accept naming a failed
        // check is refused.
        var net = new TestNet();
        var w = net.Workload;
        Assert.Null(StateAccess.TaskRound(net.Ledger.State, 0)!.Beacon);
        byte[] genesisHash = net.Ledger.HeadHash;
        var round = StateAccess.TaskRound(net.Ledger.State, 0)!;
        var sub = net.Tx(net.Miner, new SubmitPayload(0, 0, round.ModelRoot, Hash("u"), Hash("t"), [], 10));
        var accept = new AttestPayload(sub.Hash, true, [0], [1], new byte[32]);
        net.Commit(sub, net.Tx(net.Verifier, accept));
        Assert.Equal(genesisHash, StateAccess.TaskRound(net.Ledger.State, 0)!.Beacon);
        byte[] including = net.Ledger.HeadHash;
        Assert.Null(StateAccess.Submission(net.Ledger.State, sub.Hash)!.Challenge);
        net.Commit();
        var challenge = StateAccess.Submission(net.Ledger.State, sub.Hash)!.Challenge!;
        Assert.Equal(SHA256.HashData([.. including, .. sub.Hash]), challenge.Gamma);
        Assert.Empty(challenge.AssignedVerifiers);
        Assert.Null(net.Ledger.State.Get(StateKeys.AwaitingChallenge));
        Assert.Equal(sub.Hash, net.Ledger.State.Get(StateKeys.UpdateRoot(Hash("u"))));
        Assert.Equal(RejectionCode.InvalidParameter, net.TryOne(net.Tx(w.Verifiers[1], new AttestPayload(sub.Hash, true, [], [], new byte[32], FailedCheck: 2)))!.Code);
    }

    [Fact]
    public void CustomProtocolRulesDecideButCannotBreakBookkeeping()
    {
        // Proves: the ledger takes accept/reject and payouts from IProtocolRules, yet refuses an
        // outcome that pays more than the escrow, so a faulty rule cannot mint tokens.
        var net = new TestNet();
        var rules = new GreedyRules();
        var ledger = new Ledger(net.Ledger.State.Clone(), net.Ledger.Head, rules);
        var owner = TestNet.Addr(net.User);
        ulong escrow = StateAccess.TaskRound(ledger.State, 0)!.Escrow;
        rules.Pay = escrow + 1;
        for (int i = 0; i < 3; i++)
        {
            var b = ledger.BuildBlock([], TestNet.Addr(net.Validator), 0, ledger.Head.TimeMs + 1000, out _);
            ledger.Commit(b, CommitCertificate.Sign(b.Hash, net.Workload.Validators));
        }
        var fin = ledger.Executor.ProposeFinalization(ledger.State, 0, Hash("m"), ledger.Head.Height + 1)!;
        var tx = Transaction.Create(ledger.ChainId, net.Validator, StateAccess.Account(ledger.State, TestNet.Addr(net.Validator)).Nonce, 10_000, fin);
        Assert.Equal(RejectionCode.BookkeepingViolation, ledger.CheckTransaction(tx)!.Code);
        rules.Pay = escrow;
        fin = ledger.Executor.ProposeFinalization(ledger.State, 0, Hash("m"), ledger.Head.Height + 1)!;
        tx = Transaction.Create(ledger.ChainId, net.Validator, StateAccess.Account(ledger.State, TestNet.Addr(net.Validator)).Nonce, 10_000, fin);
        var block = ledger.BuildBlock([tx], TestNet.Addr(net.Validator), 0, ledger.Head.TimeMs + 1000, out var skipped);
        Assert.Empty(skipped);
        ledger.Commit(block, CommitCertificate.Sign(block.Hash, net.Workload.Validators));
        Assert.True(StateAccess.TaskRound(ledger.State, 0)!.Finished);
        Assert.Equal(RejectionCode.TaskFinished, ledger.CheckTransaction(Transaction.Create(ledger.ChainId, net.Miner, 0, 10_000,
            new SubmitPayload(0, 1, StateAccess.TaskRound(ledger.State, 0)!.ModelRoot, Hash("u"), Hash("t"), [], 1)))!.Code);
        Assert.True(SupplyAudit.Compute(ledger.State).Conserved);
        _ = owner;
    }

    private sealed class GreedyRules : IProtocolRules
    {
        public ulong Pay { get; set; }

        public string? JudgeFraudProof(FraudProofContext context) => null;

        public FinalizationOutcome ComputeFinalization(FinalizationContext context) =>
            new([], context.Submissions.Select(s => s.Id).ToArray(), [new Payout(context.Task.Owner, Pay)], []);
    }

    internal static byte[] Hash(string s) => SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(s));
}
