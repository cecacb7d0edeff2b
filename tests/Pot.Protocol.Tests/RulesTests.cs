using Pot.Commitments.Keys;
using Pot.Protocol;

namespace Pot.Protocol.Tests;

public sealed class RulesTests
{
    private static Attestation Att(byte[] submission, Ed25519Keys key, bool accept, float before, float after) =>
        new(submission, key.PublicKey, accept, accept ? CheckKind.None : CheckKind.Usefulness, [0], [0], before, after, 0, new byte[32], []);

    private static Submission Sub(Ed25519Keys key, ulong samples) =>
        new(System.Security.Cryptography.SHA256.HashData(key.PublicKey), 0, 0, key.PublicKey, new byte[32], new byte[32], new byte[32], [1f], samples);

    [Fact]
    public void RewardsFollowMeasuredImprovementWithClippingAndCap()
    {
        // Proves: the miners' pool is split by the median improvement of accepting verifiers, a negative
        // improvement earns nothing, one miner's share is capped at MaxMinerSharePpm, verifiers agreeing with the
        // outcome share the verifier pool, and a submission with < 2/3 positive assigned stake is rejected.
        var task = ProtocolTask.Tiny() with { RewardPerRound = 1_000_000, VerifierRewardPpm = 100_000, MaxMinerSharePpm = 500_000 };
        var v = Enumerable.Range(0, 3).Select(i => ProtocolSimulation.KeyFor(9, "v", i)).ToArray();
        var m = Enumerable.Range(0, 4).Select(i => ProtocolSimulation.KeyFor(9, "m", i)).ToArray();
        var subs = m.Select(k => Sub(k, 8)).ToArray();
        string[] assigned = v.Select(k => k.Address).ToArray();
        RecordedSubmission Rec(int i, float i0, float i1, float i2, bool thirdAccepts = true) => new(subs[i], assigned,
            [Att(subs[i].Id, v[0], true, 1, 1 - i0), Att(subs[i].Id, v[1], true, 1, 1 - i1), Att(subs[i].Id, v[2], thirdAccepts, 1, 1 - i2)], null, null);
        var records = new[]
        {
            Rec(0, 0.1f, 0.1f, 0.1f),
            Rec(1, 0.3f, 0.3f, 0.9f),
            Rec(2, -0.2f, -0.2f, -0.2f),
            new RecordedSubmission(subs[3], assigned, [Att(subs[3].Id, v[0], true, 1, 0.9f)], null, null),
        };
        var outcome = RoundRules.Finalize(task, records, [], _ => 100, 10_000_000);
        Assert.Equal(3, outcome.Accepted.Count);
        Assert.Single(outcome.Rejected);
        var paid = outcome.Rewards.ToDictionary(r => r.Address, r => r.Amount);
        // Miner pool 900 000: weights 0.1 and 0.3 (median of 0.3, 0.3, 0.9), 0 → 225 000 and 675 000 capped at 450 000.
        Assert.Equal(225_000UL, paid[m[0].Address]);
        Assert.Equal(450_000UL, paid[m[1].Address]);
        Assert.False(paid.ContainsKey(m[2].Address));
        Assert.False(paid.ContainsKey(m[3].Address));
        // 9 agreeing attestations (3 on each accepted submission; the rejected one has only a disagreeing accept).
        Assert.Equal(100_000UL / 9 * 3, paid[v[0].Address]);
        Assert.Empty(outcome.Slashes);
    }

    [Fact]
    public void FineTuningStartsFromTheGivenModel()
    {
        // Proves: a task with an initial model starts its first round from exactly that model (its root is the
        // base root every submission must carry), and the round is accepted as usual.
        var task = ProtocolTask.Tiny();
        var engine = new StepEngine(task);
        float[] start = engine.InitialModel().Select(x => x * 0.5f).ToArray();
        var tuned = task with { Id = "finetune", InitialModel = start };
        Assert.Equal(start, new StepEngine(tuned).InitialModel());
        var report = ProtocolSimulation.Run(new SimulationOptions { Task = tuned, Miners = [MinerStrategy.Honest, MinerStrategy.Honest], Rounds = 1, Evaluate = false });
        Assert.Equal(2, report.Accepted);
        Assert.Throws<ArgumentException>(() => new StepEngine(task with { InitialModel = new float[3] }));
    }

    [Fact]
    public void CheaterSpecParsesAndRejectsUnknownNames()
    {
        // Proves: the CLI's cheater spec expands counts in order and names the valid strategies on a typo.
        Assert.Equal([MinerStrategy.FabricateStep, MinerStrategy.FabricateStep, MinerStrategy.CopyNoisy], ProtocolSimulation.ParseCheaters("fabricate-step:2,copy-noisy"));
        Assert.Empty(ProtocolSimulation.ParseCheaters("none"));
        var ex = Assert.Throws<ArgumentException>(() => ProtocolSimulation.ParseCheaters("fabricate"));
        Assert.Contains("fabricate-step", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void KjvTaskValidatesWithTheVocabularyOfItsText()
    {
        // Proves: a protocol task whose model takes its vocabulary from the data (kjv: VocabSize 0 in the default
        // config) validates, and so can run through the protocol (it once failed with "vocabulary size 0").
        var task = ProtocolTask.Default("kjv");
        Assert.Equal(0, task.Training.Gpt!.VocabSize);
        task.Validate();
        Assert.True(new StepEngine(task).ParameterCount > 0);
        Assert.Throws<ArgumentException>(() => (task with { Training = task.Training with { Task = "no-such-task" } }).Validate());
    }

    [Fact]
    public void MinerBlobServerServesTheSameStatesUnderConcurrentRequests()
    {
        // Proves: a node serves a miner's recomputed trace states from many request threads at once; every state
        // served concurrently is byte-identical to the one served alone and matches its trace leaf (the shared
        // engine once corrupted concurrent recomputations, and honest miners failed availability).
        var task = ProtocolTask.Default("addition") with { InnerSteps = 12 };
        var engine = new StepEngine(task);
        float[] model = engine.InitialModel();
        var start = new RoundStart(task, 0, new byte[32], model, Pot.Commitments.ModelCommitment.ComputeRoot([model]));
        var output = new Miner(ProtocolSimulation.KeyFor(5, "m", 0), MinerStrategy.Honest).Mine(start, new StepEngine(task), [], new InMemoryChunkStore());
        byte[][] trace = TrainingState.DecodeTrace(output.Blobs.TryGet(output.Payload.TraceRoot)!, task.InnerSteps + 1, output.Payload.TraceRoot);
        byte[][] alone = trace.Select(leaf => output.Blobs.TryGet(Pot.Commitments.Merkle.MerkleHash.HashLeaf(leaf))!).ToArray();
        var concurrent = new byte[4 * trace.Length][];
        Parallel.For(0, concurrent.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 },
            i => concurrent[i] = output.Blobs.TryGet(Pot.Commitments.Merkle.MerkleHash.HashLeaf(trace[i % trace.Length]))!);
        for (int i = 0; i < concurrent.Length; i++) Assert.Equal(alone[i % trace.Length], concurrent[i]);
        var replay = new StepEngine(task);
        var assignment = DataAssignment.Derive(start.Beacon, task.Id, output.Miner, 0);
        for (int j = 0; j < task.InnerSteps; j++)
        {
            var (before, after, _) = replay.Replay(alone[j], j, assignment);
            Assert.Equal(trace[j], before);
            Assert.Equal(trace[j + 1], after);
        }
    }

    [Fact]
    public void JudgeRejectsAProofAgainstAnHonestStepAndUpholdsOneAgainstAFalseLoss()
    {
        // Proves: a replay fraud proof is upheld exactly when recomputing the step disagrees with the commitment:
        // against an honest miner's step it is rejected with a reason, against a false loss claim it is upheld.
        var task = ProtocolTask.Tiny();
        var engine = new StepEngine(task);
        float[] model = engine.InitialModel();
        var start = new RoundStart(task, 0, new byte[32], model, Pot.Commitments.ModelCommitment.ComputeRoot([model]));
        var prover = ProtocolSimulation.KeyFor(3, "p", 0);
        foreach (var (strategy, upheld) in new[] { (MinerStrategy.Honest, false), (MinerStrategy.FalseLoss, true) })
        {
            var output = new Miner(ProtocolSimulation.KeyFor(3, "m", (int)strategy), strategy).Mine(start, new StepEngine(task), [], new InMemoryChunkStore());
            var p = output.Payload;
            var submission = new Submission(new byte[32], 0, 0, output.Miner, p.BaseRoot, p.UpdateRoot, p.TraceRoot, p.ClaimedLossBits.Select(BitConverter.UInt32BitsToSingle).ToArray(), p.SampleCount);
            byte[] trace = output.Blobs.TryGet(p.TraceRoot)!;
            // The proof names the disputed state by its trace leaf; the judge fetches it from the miner's server.
            var judge = new FraudProofJudge(engine, output.Blobs);
            var proof = FraudProof.Sign(FraudProof.Empty(FraudKind.Replay, submission.Id, prover.PublicKey, 1) with { TraceBlob = trace }, prover);
            Assert.Equal(proof.Encode(), FraudProof.Decode(proof.Encode()).Encode());
            string? verdict = judge.Judge(proof, submission, start, _ => null);
            Assert.Equal(upheld, verdict is null);
            var forged = proof with { Signature = new byte[64] };
            Assert.NotNull(judge.Judge(forged, submission, start, _ => null));
            // Without the state the judge cannot decide: that is not a verdict.
            Assert.Throws<Pot.Chain.Protocol.ProtocolDataUnavailableException>(() => new FraudProofJudge(engine, new InMemoryChunkStore()).Judge(proof, submission, start, _ => null));
        }
    }
}
