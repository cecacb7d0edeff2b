using Pot.Consensus;
using static Pot.Consensus.Tests.TestKit;

namespace Pot.Consensus.Tests;

public sealed class FaultFixTests
{
    private sealed class BatchBuilder : IProposalBuilder
    {
        public byte[]? Build(long height, IReadOnlyList<byte[]> batch) => TransactionBatch.Encode(batch);
        public IReadOnlyList<byte[]> TransactionsOf(ReadOnlySpan<byte> payload) => TransactionBatch.TryDecode(payload, out var txs) ? txs : [];
        public bool IsStale(byte[] transaction) => false;
    }

    // Proves n = 1 commits: the lone validator's pre-prepare is prepared with 2f = 0 prepares and
    // committed with its own commit (quorum 1). Before the fix it never reached "prepared".
    [Fact]
    public void SingleValidatorCommitsItsOwnProposal()
    {
        var r = new Replica(Options, new ValidatorSet([0]), Signer(0), Verifier, new AnyBatch());
        var outs = r.Step(new StartInput()).ToList();
        outs.AddRange(r.Step(new ClientRequestInput(Tx(1))));
        for (int guard = 0; guard < 10 && !outs.OfType<CommittedOutput>().Any(); guard++)
        {
            var timer = outs.OfType<SetTimerOutput>().LastOrDefault(t => t.Kind == TimerKind.Batch);
            Assert.NotNull(timer);
            outs = r.Step(new TimerInput(timer.Kind, timer.Generation)).ToList();
        }
        Assert.Single(outs.OfType<CommittedOutput>());
        Assert.Equal(1, r.ExecutedHeight);
    }

    // Proves that with a proposal builder the replica keeps no memory of executed transactions: the
    // host may submit one again (the node does when the chain skipped the payload that carried it),
    // and it is pending again. Without a builder the old behaviour stays: a committed one is ignored.
    [Theory]
    [InlineData(true, 1)]
    [InlineData(false, 0)]
    public void ExecutedTransactionCanBeResubmittedOnlyWithABuilder(bool builder, int pendingAfter)
    {
        var r = new Replica(Options, Four, Signer(1), Verifier, new AnyBatch(), null, builder ? new BatchBuilder() : null);
        r.Step(new ClientRequestInput(Tx(7)));
        var pp = Proposal(0, 0, 1, Tx(7));
        r.Deliver(pp);
        r.Deliver(PrepareFor(2, pp));
        foreach (int s in new[] { 0, 2, 3 }) r.Deliver(CommitFor(s, pp));
        Assert.Equal(1, r.ExecutedHeight);
        Assert.Equal(0, r.PendingTransactions);
        r.Step(new ClientRequestInput(Tx(7)));
        Assert.Equal(pendingAfter, r.PendingTransactions);
    }
}
