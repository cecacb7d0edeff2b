using Pot.Consensus;
using static Pot.Consensus.Tests.TestKit;

namespace Pot.Consensus.Tests;

public sealed class ReplicaTests
{
    [Fact]
    public void CommitsAfterPrepareAndCommitQuorums()
    {
        // Proves PBFT 4.2 at the core level: a backup prepares a valid pre-prepare, commits after 2f
        // prepares, and executes only after 2f+1 commits, emitting persist records before its votes.
        var r = NewReplica(1);
        var pp = Proposal(0, 0, 1, Tx(1));
        var outs = r.Deliver(pp);
        int persistAt = outs.ToList().FindIndex(o => o is PersistOutput { Record: VoteRecord { Phase: VotePhase.Prepare } });
        int sendAt = outs.ToList().FindIndex(o => o is SendOutput { Message: Prepare });
        Assert.True(persistAt >= 0 && persistAt < sendAt, "the prepare vote must be persisted before it is sent");
        // Its own prepare plus one more makes 2f = 2 prepares from distinct backups: prepared.
        Assert.Single(r.Deliver(PrepareFor(2, pp)).Sent<Commit>());
        Assert.Empty(r.Deliver(PrepareFor(3, pp)).Sent<Commit>());
        Assert.Equal(0, r.ExecutedHeight);
        r.Deliver(CommitFor(1, pp));
        r.Deliver(CommitFor(2, pp));
        Assert.Equal(0, r.ExecutedHeight);
        var final = r.Deliver(CommitFor(3, pp));
        Assert.Equal(1, r.ExecutedHeight);
        Assert.Single(final.OfType<CommittedOutput>());
    }

    [Fact]
    public void BadMessagesAreDroppedAndCountedPerReason()
    {
        // Proves every kind of bad message is dropped, counted under its reason, and not acted on.
        var r = NewReplica(1);
        var pp = Proposal(0, 0, 1, Tx(1));
        Assert.Empty(r.Deliver(pp with { Signature = new byte[16] }).Sent<Prepare>());
        Assert.Equal(1, r.Dropped(DropReason.BadSignature));
        r.Deliver(new Prepare { Sender = 9, View = 0, Height = 1, Digest = pp.Digest }.SignWith(Signer(9)));
        Assert.Equal(1, r.Dropped(DropReason.NotValidator));
        r.Deliver(Proposal(0, 0, 100, Tx(1)));
        Assert.Equal(1, r.Dropped(DropReason.OutsideWatermarks));
        r.Deliver(Proposal(2, 0, 1, Tx(1)));
        Assert.Equal(1, r.Dropped(DropReason.WrongRole));
        r.Deliver(pp);
        r.Deliver(pp);
        Assert.Equal(1, r.Dropped(DropReason.Duplicate));
        Assert.Empty(r.Deliver(Proposal(0, 0, 1, Tx(2))).Sent<Prepare>());
        Assert.Equal(1, r.Dropped(DropReason.Equivocation));
        r.Step(new RawMessageInput([1, 2, 3]));
        Assert.Equal(1, r.Dropped(DropReason.Malformed));
        r.Deliver(new Checkpoint { Sender = 2, Height = 3, StateDigest = Digests.Genesis }.SignWith(Signer(2)));
        Assert.Equal(1, r.Dropped(DropReason.InvalidCheckpoint));
        byte[] bad = TransactionBatch.Encode([Tx(1)])[..^1];
        r.Deliver(new PrePrepare { Sender = 0, View = 0, Height = 2, Digest = Digests.Block(2, bad), Payload = bad }.SignWith(Signer(0)));
        Assert.Equal(1, r.Dropped(DropReason.InvalidBlock));

        // A replica that entered view 1 drops view-0 votes.
        var later = NewReplica(2, [new ViewRecord(1, Entered: true)]);
        later.Deliver(PrepareFor(3, pp));
        Assert.Equal(1, later.Dropped(DropReason.WrongView));
    }

    [Fact]
    public void ForgedCheckpointsAreRejected()
    {
        // Proves a checkpoint cannot be forged: checkpoints with bad signatures never make a checkpoint
        // stable, and a state transfer or view change carrying a forged proof is rejected and counted.
        var replicas = CommitBlocks(4);
        Assert.All(replicas, r => Assert.Equal(4, r.StableHeight));
        var r = NewReplica(3);
        var fake = Digests.NextState(Digests.Genesis, Digests.Genesis);
        foreach (int id in new[] { 0, 1, 2 })
        {
            r.Deliver(new Checkpoint { Sender = id, Height = 4, StateDigest = fake, Signature = Signer(3).Sign([1]) });
        }
        Assert.Equal(0, r.StableHeight);
        Assert.Equal(3, r.Dropped(DropReason.BadSignature));

        // Two genuine signatures plus one forged one are not a quorum.
        var proof = new[]
        {
            new Checkpoint { Sender = 0, Height = 4, StateDigest = fake }.SignWith(Signer(0)),
            new Checkpoint { Sender = 1, Height = 4, StateDigest = fake }.SignWith(Signer(1)),
            new Checkpoint { Sender = 2, Height = 4, StateDigest = fake, Signature = new byte[16] },
        };
        var vc = new ViewChange { Sender = 1, NewView = 1, StableHeight = 4, StableDigest = fake, CheckpointProof = proof, Prepared = [] }.SignWith(Signer(1));
        r.Deliver(vc);
        Assert.Equal(1, r.Dropped(DropReason.InvalidCertificate));

        // A lagging replica asks for state; a response whose proof is forged is refused.
        var lagging = NewReplica(3);
        foreach (var c in proof.Take(2)) lagging.Deliver(c);
        lagging.Deliver(new Checkpoint { Sender = 2, Height = 4, StateDigest = fake }.SignWith(Signer(2)));
        Assert.Equal(4, lagging.StableHeight);
        Assert.True(lagging.IsTransferringState);
        var response = new StateResponse { Sender = 1, FromHeight = 0, CheckpointHeight = 4, StateDigest = fake, Proof = proof, Payloads = [[], [], [], []] }.SignWith(Signer(1));
        lagging.Deliver(response);
        Assert.Equal(1, lagging.Dropped(DropReason.BadStateTransfer));
        Assert.Equal(0, lagging.ExecutedHeight);
    }

    [Fact]
    public void StateTransferVerifiesBlocksAgainstTheCheckpointProof()
    {
        // Proves a replica behind a stable checkpoint fetches the blocks, checks them against the
        // quorum-signed state digest, rejects tampered blocks and accepts the genuine ones.
        var replicas = CommitBlocks(4, m => m is not Checkpoint || m.Sender != 3);
        var source = replicas[0];
        Assert.Equal(4, source.StableHeight);
        var lagging = NewReplica(3);
        var proofSigners = new[] { 0, 1, 2 };
        IReadOnlyList<ConsensusOutput> outs = [];
        foreach (int id in proofSigners)
        {
            outs = lagging.Deliver(new Checkpoint { Sender = id, Height = 4, StateDigest = source.StateDigest }.SignWith(Signer(id)));
        }
        var request = Assert.Single(outs.Sent<StateRequest>());
        Assert.Equal(0, request.FromHeight);
        var served = source.Deliver(request).Sent<StateResponse>().Single();
        var tampered = (served with { Payloads = [.. served.Payloads[..3], TransactionBatch.Encode([Tx(77)])] }).SignWith(Signer(0));
        lagging.Deliver(tampered);
        Assert.Equal(0, lagging.ExecutedHeight);
        Assert.Equal(1, lagging.Dropped(DropReason.BadStateTransfer));
        var accepted = lagging.Deliver(served);
        Assert.Equal(4, lagging.ExecutedHeight);
        Assert.Equal(4, accepted.OfType<CommittedOutput>().Count());
        Assert.Equal(source.StateDigest, lagging.StateDigest);
    }

    [Fact]
    public void RestartedReplicaNeverSignsASecondDigestForOneSlot()
    {
        // Proves "persist before send": after a restart from its records, a replica that prepared one
        // block at (view 0, height 1) refuses to prepare a conflicting block there, but may resend the same vote.
        var r = NewReplica(1);
        var disk = new List<PersistRecord>();
        var pp = Proposal(0, 0, 1, Tx(1));
        foreach (var o in r.Deliver(pp)) if (o is PersistOutput p) disk.Add(p.Record);
        var restarted = NewReplica(1, disk);
        restarted.Step(new StartInput());
        Assert.Empty(restarted.Deliver(Proposal(0, 0, 1, Tx(2))).Sent<Prepare>());
        var again = NewReplica(1, disk);
        Assert.Single(again.Deliver(pp).Sent<Prepare>());
    }

    [Fact]
    public void CheckpointsTruncateTheLogAndMoveTheWatermarks()
    {
        // Proves PBFT 4.3: after K blocks the checkpoint becomes stable with 2f+1 matching messages,
        // the low watermark moves to K, and messages at or below it are then dropped as outside the watermarks.
        var replicas = CommitBlocks(9);
        var r = replicas[1];
        Assert.Equal(9, r.ExecutedHeight);
        Assert.Equal(8, r.StableHeight);
        long before = r.Dropped(DropReason.OutsideWatermarks);
        r.Deliver(PrepareFor(2, Proposal(0, 0, 8, Tx(1))));
        Assert.Equal(before + 1, r.Dropped(DropReason.OutsideWatermarks));
        r.Deliver(PrepareFor(2, Proposal(0, 0, 8 + Options.WatermarkWindow + 1, Tx(1))));
        Assert.Equal(before + 2, r.Dropped(DropReason.OutsideWatermarks));
    }

    [Fact]
    public void PrimaryStopsAtTheHighWatermarkWithoutStableCheckpoints()
    {
        // Proves the high watermark: with every checkpoint message lost, no checkpoint becomes stable and
        // the primary proposes nothing beyond low + L, however many requests wait.
        var replicas = CommitBlocks(30, m => m is not Checkpoint);
        Assert.All(replicas, r => Assert.Equal(Options.WatermarkWindow, r.ExecutedHeight));
        Assert.All(replicas, r => Assert.Equal(0, r.StableHeight));
        Assert.True(replicas[0].PendingTransactions > 0);
    }
}
