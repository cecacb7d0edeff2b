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
        public readonly ProtocolTask Task = ProtocolTask.Tiny();
        public readonly Ed25519Keys[] Validators = Enumerable.Range(0, 4).Select(i => ProtocolSimulation.KeyFor(77, "validator", i)).ToArray();
        public readonly Ed25519Keys MinerKey = ProtocolSimulation.KeyFor(77, "miner", 0);
        public readonly InMemoryChunkStore Store = new();
        public readonly ChunkNetwork Network = new();
        public readonly Ledger Ledger;
        public readonly MinerRole Miner;

        public Net(VerificationParameters? verification = null)
        {
            Network.Add(Store);
            Miner = new MinerRole(MinerKey, new InMemoryChunkStore());
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
}
