using Pot.Chain;
using Pot.Chain.Blocks;
using Pot.Chain.Execution;
using Pot.Chain.Genesis;
using Pot.Chain.State;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Keys;
using Pot.Protocol;

namespace Pot.Protocol.Tests;

/// <summary>The protocol rules on a real (in-memory) ledger: hostile attestations and proofs are refused or charged, and change nothing else.</summary>
public sealed class ChainIntegrationTests
{
    private sealed class Net
    {
        public readonly ProtocolTask Task;
        public readonly Ed25519Keys[] Validators = Enumerable.Range(0, 4).Select(i => ProtocolSimulation.KeyFor(77, "validator", i)).ToArray();
        public readonly Ed25519Keys MinerKey = ProtocolSimulation.KeyFor(77, "miner", 0);
        public readonly InMemoryChunkStore Store = new();
        public readonly ChunkNetwork Network = new();
        public readonly Ledger Ledger;
        public readonly MinerRole Miner;
        public readonly InMemoryChunkStore MinerStore = new();

        public Net(VerificationParameters? verification = null, ProtocolTask? task = null)
        {
            Task = task ?? ProtocolTask.Tiny();
            Network.Add(Store);
            Miner = new MinerRole(MinerKey, MinerStore);
            Network.Add(new Endpoint(Miner));
            var genesis = new GenesisDocument("pot-test", 1_000, new ChainParameters { SlashBurnPpm = 1_000_000 - Task.ProverSharePpm },
                Validators.Select(k => new GenesisValidator(k.PublicKey, 1_000_000, 1_000_000_000)).ToArray(),
                [new GenesisAccount(AccountAddress.BytesFromPublicKey(MinerKey.PublicKey), MinerKey.PublicKey, 1_000_000_000, 1_000_000, Roles.Miner)], []);
            Ledger = Ledger.FromGenesis(genesis, new PotProtocolRules(new Dictionary<ulong, ProtocolTask> { [0] = Task }, Network));
            byte[] root = ModelBlobs.Put(Store, new StepEngine(Task).InitialModel());
            var setup = Validators.Select(k => Sign(k, new RegisterRolePayload(Roles.Verifier))).ToList();
            setup.Add(Sign(Validators[0], new CreateTaskPayload([1], new byte[32], root, 7, [], verification ?? PotProtocolRules.VerificationOf(Task), 1000, 10_000), 1));
            Assert.Empty(Commit(setup));
            Assert.Empty(Commit([]));
        }

        public Transaction Sign(Ed25519Keys k, TransactionPayload p, ulong offset = 0) => ChainView.Sign("pot-test", k, Ledger.State, p, offset);

        public IReadOnlyList<(Transaction Transaction, Rejection Rejection)> Commit(IEnumerable<Transaction> txs)
        {
            var block = Ledger.BuildBlock(txs, AccountAddress.BytesFromPublicKey(Validators[0].PublicKey), 0, Ledger.Head.TimeMs + 1000, out var skipped);
            Ledger.Commit(block, CommitCertificate.Sign(block.Hash, Validators));
            return skipped;
        }

        public Rejection? Try(Transaction tx)
        {
            Ledger.BuildBlock([tx], AccountAddress.BytesFromPublicKey(Validators[0].PublicKey), 0, Ledger.Head.TimeMs + 1000, out var skipped);
            return skipped.Count == 0 ? null : skipped[0].Rejection;
        }
    }

    private sealed class Endpoint(MinerRole role) : IChunkSource
    {
        public byte[]? TryGet(ReadOnlySpan<byte> commitment) => role.Server?.TryGet(commitment);
    }

    [Fact]
    public void AttestationsAreTakenOnlyFromAssignedVerifiersWithTheMandatedChecksAfterTheChallengeOpens()
    {
        // Proves: before the block after its inclusion nobody can attest (γ is unknown); afterwards only the c
        // verifiers γ assigned may attest, each declaring exactly its mandated steps and leaves; an honest
        // assigned verifier's attestation is recorded with its measured losses; refused attestations change nothing.
        var net = new Net();
        var mined = net.Miner.Mine(net.Task, "pot-test", net.Ledger.State, 0, net.Network, new StepEngine(net.Task))!;
        // An attestation in the very block that includes the submission comes before γ exists.
        byte[] id = mined.Transaction.Hash;
        var early = net.Sign(net.Validators[0], new AttestPayload(id, true, [0], [0], new byte[32]));
        var submitBlock = net.Ledger.BuildBlock([mined.Transaction, early], AccountAddress.BytesFromPublicKey(net.Validators[0].PublicKey), 0, net.Ledger.Head.TimeMs + 1000, out var skipped);
        Assert.Equal(RejectionCode.ChallengeNotOpen, Assert.Single(skipped).Rejection.Code);
        net.Ledger.Commit(submitBlock, CommitCertificate.Sign(submitBlock.Hash, net.Validators));
        var record = StateAccess.Submission(net.Ledger.State, id)!;
        Assert.Null(record.Challenge);

        Assert.Empty(net.Commit([]));
        record = StateAccess.Submission(net.Ledger.State, mined.Transaction.Hash)!;
        Assert.NotNull(record.Challenge);
        Assert.Equal(Challenge.Seed(submitBlock.Hash, record.Id), record.Challenge!.Gamma);
        Assert.Equal(net.Task.VerifiersPerSubmission, record.Challenge.AssignedVerifiers.Count);
        var assigned = net.Validators.Where(k => record.Challenge.AssignedVerifiers.Any(a => a.AsSpan().SequenceEqual(AccountAddress.BytesFromPublicKey(k.PublicKey)))).ToArray();
        var outsider = net.Validators.Single(k => !assigned.Contains(k));
        var verifier = new VerifierRole(assigned[0], new InMemoryChunkStore());
        Assert.Equal([record.Id], verifier.AssignedPending(net.Ledger.State, 0));
        var result = verifier.Verify(net.Task, net.Ledger.State, record.Id, net.Network);
        Assert.True(result.Attestation.Accept, result.Attestation.FailedCheck.ToString());

        byte[] stateRoot = net.Ledger.State.Root.ToArray();
        Assert.Equal(RejectionCode.NotAssignedVerifier, net.Try(net.Sign(outsider, result.AttestPayload))!.Code);
        var wrongSteps = result.AttestPayload with { ReplayedSteps = [(result.AttestPayload.ReplayedSteps[0] + 1) % (uint)net.Task.InnerSteps] };
        Assert.Equal(RejectionCode.AttestationRejected, net.Try(net.Sign(assigned[0], wrongSteps))!.Code);
        Assert.Equal(RejectionCode.AttestationRejected, net.Try(net.Sign(assigned[0], result.AttestPayload with { Accept = false, EvidenceHash = new byte[32].Select(_ => (byte)1).ToArray() }))!.Code);
        Assert.Equal(stateRoot, net.Ledger.State.Root.ToArray());

        Assert.Empty(net.Commit([net.Sign(assigned[0], result.AttestPayload)]));
        var a = StateAccess.Submission(net.Ledger.State, record.Id)!.Attestations.Single();
        Assert.Equal(result.AttestPayload.LossBeforeBits, a.LossBeforeBits);
        Assert.Equal(result.AttestPayload.ReplayedSteps, a.ReplayedSteps);
    }

    [Fact]
    public void GarbageAndFalseFraudProofsAreRecordedAndChargedAtFinalization()
    {
        // Proves: a fraud proof whose evidence does not decode, or that accuses an honest step, is not upheld: it is
        // recorded against its sender (a second one from the same sender is refused), and finalization slashes the
        // sender FalseProofSlashPpm of its stake (burned) while the honest miner is accepted and not slashed.
        var net = new Net();
        var mined = net.Miner.Mine(net.Task, "pot-test", net.Ledger.State, 0, net.Network, new StepEngine(net.Task))!;
        Assert.Empty(net.Commit([mined.Transaction]));
        Assert.Empty(net.Commit([]));
        var record = StateAccess.Submission(net.Ledger.State, mined.Transaction.Hash)!;
        var liar = net.Validators[0];
        Assert.Empty(net.Commit([net.Sign(liar, new FraudProofPayload(record.Id, new byte[32], [1, 2, 3]))]));
        Assert.Single(StateAccess.Submission(net.Ledger.State, record.Id)!.RejectedProofSenders!);
        var malicious = new VerifierRole(liar, new InMemoryChunkStore(), VerifierStrategy.Malicious);
        var fake = malicious.Verify(net.Task, net.Ledger.State, record.Id, net.Network).FraudProofPayload!;
        Assert.Equal(RejectionCode.DuplicateFraudProof, net.Try(net.Sign(liar, fake))!.Code);
        Assert.Null(StateAccess.FraudProof(net.Ledger.State, record.Id));

        var attests = new List<Transaction>();
        foreach (var k in net.Validators)
        {
            if (record.Challenge!.AssignedVerifiers.Any(a => a.AsSpan().SequenceEqual(AccountAddress.BytesFromPublicKey(k.PublicKey))))
            {
                attests.Add(net.Sign(k, new VerifierRole(k, new InMemoryChunkStore()).Verify(net.Task, net.Ledger.State, record.Id, net.Network).AttestPayload));
            }
        }
        Assert.Empty(net.Commit(attests));
        while (net.Ledger.Head.Height + 1 < ChainView.Round(net.Ledger.State, 0)!.SubmissionsCloseHeight)
        {
            net.Commit([]);
        }
        ulong stakeBefore = StateAccess.Account(net.Ledger.State, AccountAddress.BytesFromPublicKey(liar.PublicKey)).Stake;
        var proposal = new AggregatorRole(net.Store).Propose(net.Task, net.Ledger, 0, net.Network, null)!;
        Assert.Equal(0, AggregatorRole.CheckProposal(net.Task, proposal, net.Network, net.Validators[1].PublicKey));
        Assert.Empty(net.Commit([net.Sign(net.Validators[1], proposal.Payload)]));
        Assert.Equal([record.Id], proposal.Payload.Accepted);
        var slash = Assert.Single(proposal.Payload.Slashes);
        Assert.Equal(AccountAddress.BytesFromPublicKey(liar.PublicKey), slash.Offender);
        Assert.Null(slash.Beneficiary);
        Assert.Equal(stakeBefore / 10, slash.Amount);
        Assert.Equal(proposal.Payload.NewModelRoot, StateAccess.TaskRound(net.Ledger.State, 0)!.ModelRoot);
        Assert.True(SupplyAudit.Compute(net.Ledger.State).Conserved);
    }

    [Fact]
    public void ATaskCreatedWithOtherVerificationParametersIsRefusedNotMisjudged()
    {
        // Proves: when the chain task registered for the protocol task carries other verification parameters
        // (here c = 1 instead of 3), the rules do not run it: submissions are refused with a message naming both
        // parameter sets, and nothing is written.
        var net = new Net(PotProtocolRules.VerificationOf(ProtocolTask.Tiny()) with { VerifiersPerSubmission = 1 });
        var mined = net.Miner.Mine(net.Task, "pot-test", net.Ledger.State, 0, net.Network, new StepEngine(net.Task))!;
        byte[] root = net.Ledger.State.Root;
        var rejection = net.Try(mined.Transaction)!;
        Assert.Equal(RejectionCode.InvalidParameter, rejection.Code);
        Assert.Contains("verification parameters", rejection.Message, StringComparison.Ordinal);
        Assert.Equal(root, net.Ledger.State.Root);
    }

    private static byte[] Address(Ed25519Keys k) => AccountAddress.BytesFromPublicKey(k.PublicKey);

    // Opens the challenge of the round's pending submissions, has every assigned verifier attest, waits for the window to close,
    // commits the aggregator's finalization and the block after it (the next round's beacon); returns the finalize payload.
    private static FinalizeRoundPayload FinishRound(Net net)
    {
        Assert.Empty(net.Commit([]));
        var attests = new List<Transaction>();
        foreach (var record in ChainView.Pending(net.Ledger.State, 0))
        {
            foreach (var k in net.Validators.Where(k => record.Challenge!.AssignedVerifiers.Any(a => a.AsSpan().SequenceEqual(Address(k)))))
            {
                attests.Add(net.Sign(k, new VerifierRole(k, new InMemoryChunkStore()).Verify(net.Task, net.Ledger.State, record.Id, net.Network).AttestPayload));
            }
        }
        Assert.Empty(net.Commit(attests));
        while (net.Ledger.Head.Height + 1 < ChainView.Round(net.Ledger.State, 0)!.SubmissionsCloseHeight)
        {
            net.Commit([]);
        }
        var proposal = new AggregatorRole(net.Store).Propose(net.Task, net.Ledger, 0, net.Network, null)!;
        Assert.Empty(net.Commit([net.Sign(net.Validators[1], proposal.Payload)]));
        Assert.Empty(net.Commit([])); // the next round's beacon is the hash of the finalizing block
        return proposal.Payload;
    }

    private static byte[][] TraceOf(Net net, byte[] traceRoot) =>
        TrainingState.DecodeTrace(net.Network.TryGet(traceRoot)!, net.Task.InnerSteps + 1, traceRoot);

    [Fact]
    public void MinersCarryTheirOptimizerStateFromTheirLastAcceptedSubmissionAndAForgedCarryIsProvenFraud()
    {
        // Proves (ProtocolTask.CarryOptimizer): finalization records each accepted miner's last accepted submission; the
        // miner's next round starts from θ_r with the optimiser buffers and step count of that trace's state H (not fresh),
        // the assigned verifiers accept it, and a trace-start fraud proof against it is not upheld. A submission whose
        // state 0 carries from an older trace than the recorded one is rejected with a trace-start proof that the chain upholds.
        var net = new Net(task: ProtocolTask.Tiny() with { CarryOptimizer = true });
        int h = net.Task.InnerSteps;
        var engine = new StepEngine(net.Task);
        byte[] fresh0 = TrainingState.Fresh(engine.InitialModel(), engine.OptimizerBuffers).OptimizerRoot();

        var round0 = net.Miner.Mine(net.Task, "pot-test", net.Ledger.State, 0, net.Network, engine)!;
        Assert.Null(StateAccess.LastAccepted(net.Ledger.State, 0, Address(net.MinerKey)));
        Assert.Empty(net.Commit([round0.Transaction]));
        var trace0 = TraceOf(net, round0.Submission.TraceRoot);
        Assert.Equal(fresh0, trace0[0][32..64]);
        Assert.Equal(0, TrainingState.OptimizerStepsOf(trace0[0]));
        Assert.Equal([round0.Transaction.Hash], FinishRound(net).Accepted);
        var last = StateAccess.LastAccepted(net.Ledger.State, 0, Address(net.MinerKey))!;
        Assert.Equal(0UL, last.Round);
        Assert.Equal(round0.Transaction.Hash, last.SubmissionId);
        Assert.Equal(round0.Submission.TraceRoot, last.TraceRoot);

        var round1 = net.Miner.Mine(net.Task, "pot-test", net.Ledger.State, 0, net.Network, engine)!;
        Assert.Empty(net.Commit([round1.Transaction]));
        var trace1 = TraceOf(net, round1.Submission.TraceRoot);
        var round1Start = ChainView.Round(net.Ledger.State, 0)!;
        Assert.Equal(TrainingState.CarriedStartLeaf(round1Start.ModelRoot, trace0[h]), trace1[0]);
        Assert.Equal(h, TrainingState.OptimizerStepsOf(trace1[0]));
        Assert.NotEqual(fresh0, trace1[0][32..64]);

        // A trace-start accusation against the honest carried start is recorded against its sender, not upheld.
        Assert.Empty(net.Commit([]));
        var accuser = net.Validators[2];
        var accusation = FraudProof.Sign(FraudProof.Empty(FraudKind.TraceStart, round1.Transaction.Hash, accuser.PublicKey, 0) with { TraceBlob = TrainingState.EncodeTrace(trace1) }, accuser);
        Assert.Empty(net.Commit([net.Sign(accuser, new FraudProofPayload(round1.Transaction.Hash, Reference(FraudKind.TraceStart), accusation.Encode()))]));
        Assert.Null(StateAccess.FraudProof(net.Ledger.State, round1.Transaction.Hash));
        Assert.Equal(Address(accuser), Assert.Single(StateAccess.Submission(net.Ledger.State, round1.Transaction.Hash)!.RejectedProofSenders!));
        var finalize1 = FinishRound(net);
        Assert.Equal([round1.Transaction.Hash], finalize1.Accepted);
        Assert.Equal(round1.Submission.TraceRoot, StateAccess.LastAccepted(net.Ledger.State, 0, Address(net.MinerKey))!.TraceRoot);

        // Round 2: the miner carries from round 0's trace instead of the recorded round 1.
        var round2 = ChainView.Round(net.Ledger.State, 0)!;
        float[] model2 = ModelBlobs.TryGet(net.Network, round2.ModelRoot, engine.ParameterCount)!;
        var stale = net.Miner.Miner.Mine(new RoundStart(net.Task, round2.Round, round2.Beacon, model2, round2.ModelRoot, 0) { CarryFrom = round0.Submission.TraceRoot },
            engine, [], net.MinerStore);
        Assert.Equal(round0.Submission.TraceRoot, stale.Blobs.CarryFrom);
        net.Network.Add(stale.Blobs);
        var staleTx = net.Sign(net.MinerKey, stale.Payload);
        Assert.Empty(net.Commit([staleTx]));
        Assert.Empty(net.Commit([]));
        var record = StateAccess.Submission(net.Ledger.State, staleTx.Hash)!;
        var verifierKey = net.Validators.First(k => record.Challenge!.AssignedVerifiers.Any(a => a.AsSpan().SequenceEqual(Address(k))));
        var result = new VerifierRole(verifierKey, new InMemoryChunkStore()).Verify(net.Task, net.Ledger.State, staleTx.Hash, net.Network);
        Assert.False(result.Attestation.Accept);
        Assert.Equal(CheckKind.TraceStart, result.Attestation.FailedCheck);
        Assert.Contains("neither fresh nor carried", result.Detail, StringComparison.Ordinal);
        Assert.Empty(net.Commit([net.Sign(verifierKey, result.FraudProofPayload!)]));
        var upheld = StateAccess.FraudProof(net.Ledger.State, staleTx.Hash)!;
        Assert.Equal((byte)FraudKind.TraceStart, upheld.Kind);
    }

    [Fact]
    public void WithoutCarryingACarriedStartIsRejectedAndTheMinerStartsFreshWhenItsStoreLostTheState()
    {
        // Proves: in a task that does not carry, RoundStart.CarryFrom is ignored by the miner (state 0 fresh) and a
        // verifier of that task rejects a start carried by a carrying miner (trace start); a carrying miner whose store no
        // longer holds the recorded state starts fresh, which the carrying task's verifiers accept.
        var carrying = new Net(task: ProtocolTask.Tiny() with { CarryOptimizer = true });
        var engine = new StepEngine(carrying.Task);
        var first = carrying.Miner.Mine(carrying.Task, "pot-test", carrying.Ledger.State, 0, carrying.Network, engine)!;
        Assert.Empty(carrying.Commit([first.Transaction]));
        FinishRound(carrying);
        var round = ChainView.Round(carrying.Ledger.State, 0)!;
        float[] model = ModelBlobs.TryGet(carrying.Network, round.ModelRoot, engine.ParameterCount)!;
        var start = new RoundStart(carrying.Task, round.Round, round.Beacon, model, round.ModelRoot, 0) { CarryFrom = first.Submission.TraceRoot };
        byte[] freshLeaf = TrainingState.Fresh(model, engine.OptimizerBuffers).TraceLeaf();

        var carried = new Miner(carrying.MinerKey).Mine(start, engine, [], carrying.MinerStore);
        var plain = new Miner(carrying.MinerKey).Mine(start with { Task = carrying.Task with { CarryOptimizer = false } }, new StepEngine(carrying.Task with { CarryOptimizer = false }), [], carrying.MinerStore);
        var lost = new Miner(carrying.MinerKey).Mine(start, engine, [], new InMemoryChunkStore());
        byte[] Leaf0(MinerOutput o) => TrainingState.DecodeTrace(o.Blobs.TryGet(o.Payload.TraceRoot)!, carrying.Task.InnerSteps + 1, o.Payload.TraceRoot)[0];
        Assert.NotEqual(freshLeaf, Leaf0(carried));
        Assert.Equal(freshLeaf, Leaf0(plain));
        Assert.Equal(freshLeaf, Leaf0(lost));
        Assert.Null(plain.Blobs.CarryFrom);
        Assert.Null(lost.Blobs.CarryFrom);

        var gamma = new byte[32];
        Pot.Protocol.Submission Of(MinerOutput o) => new(new byte[32], 0, round.Round, carrying.MinerKey.PublicKey, o.Payload.BaseRoot, o.Payload.UpdateRoot, o.Payload.TraceRoot,
            o.Payload.ClaimedLossBits.Select(BitConverter.UInt32BitsToSingle).ToArray(), o.Payload.SampleCount);
        var verifier = new Verifier(carrying.Validators[0]);
        var plainTask = carrying.Task with { CarryOptimizer = false };
        var refused = verifier.Verify(new VerificationContext(start with { Task = plainTask }, Of(carried), gamma, carried.Blobs, []));
        Assert.Equal(CheckKind.TraceStart, refused.Attestation.FailedCheck);
        Assert.Equal(FraudKind.TraceStart, refused.FraudProof!.Kind);
        var freshAccepted = verifier.Verify(new VerificationContext(start, Of(lost), gamma, lost.Blobs, []));
        Assert.NotEqual(CheckKind.TraceStart, freshAccepted.Attestation.FailedCheck);
        var carriedAccepted = verifier.Verify(new VerificationContext(start, Of(carried), gamma, carried.Blobs, []));
        Assert.NotEqual(CheckKind.TraceStart, carriedAccepted.Attestation.FailedCheck);
        // The link needs the earlier trace: a server that does not serve it makes the carried start unverifiable (availability, no proof).
        var withheld = verifier.Verify(new VerificationContext(start, Of(carried), gamma, new OnlyRoots(carried.Blobs, first.Submission.TraceRoot), []));
        Assert.Equal(CheckKind.Availability, withheld.Attestation.FailedCheck);
        Assert.Null(withheld.FraudProof);

        // The judge reads the earlier trace by the name the chain records: missing there, it is no verdict either way.
        var accusation = FraudProof.Sign(FraudProof.Empty(FraudKind.TraceStart, new byte[32], carrying.Validators[1].PublicKey, 0) with
        {
            TraceBlob = carried.Blobs.TryGet(carried.Payload.TraceRoot)!,
        }, carrying.Validators[1]);
        Assert.Throws<Pot.Chain.Protocol.ProtocolDataUnavailableException>(() => new FraudProofJudge(engine, new InMemoryChunkStore()).Judge(accusation, Of(carried), start, _ => null));
        Assert.Contains("no fraud", new FraudProofJudge(engine, carrying.MinerStore).Judge(accusation, Of(carried), start, _ => null), StringComparison.Ordinal);
        Assert.Null(new FraudProofJudge(engine, carrying.MinerStore).Judge(accusation, Of(carried), start with { CarryFrom = null }, _ => null));
    }

    private sealed class OnlyRoots(IChunkSource inner, byte[] hidden) : IChunkSource
    {
        public byte[]? TryGet(ReadOnlySpan<byte> commitment) => commitment.SequenceEqual(hidden) ? null : inner.TryGet(commitment);
    }

    private static byte[] Reference(FraudKind kind) => Hashing.Domain("pot/fraud-reference/v1", [(byte)kind], Hashing.U64(0));
}
