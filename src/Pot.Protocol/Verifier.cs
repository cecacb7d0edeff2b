using Pot.Commitments;
using Pot.Commitments.Keys;
using Pot.Commitments.Merkle;
using Pot.Learning.Data;

namespace Pot.Protocol;

/// <summary>How a simulated verifier behaves.</summary>
public enum VerifierStrategy
{
    /// <summary>Runs every check.</summary>
    Honest,

    /// <summary>Accepts everything without checking.</summary>
    Lazy,

    /// <summary>Rejects everything and sends a fabricated fraud proof.</summary>
    Malicious,
}

/// <summary>Seeds derived from the challenge seed γ (DESIGN §5.4).</summary>
public static class Challenge
{
    /// <summary>γ = SHA-256("pot/challenge/v1" ‖ hash of the block that finalized the submission ‖ submission id).</summary>
    /// <param name="blockHash">Hash of the block holding the submission.</param>
    /// <param name="submissionId">Submission id.</param>
    /// <returns>32 bytes.</returns>
    public static byte[] Seed(ReadOnlySpan<byte> blockHash, ReadOnlySpan<byte> submissionId) =>
        Hashing.Domain("pot/challenge/v1", blockHash.ToArray(), submissionId.ToArray());

    /// <summary>
    /// The c verifiers of a submission: a uniform sample without replacement from the validator set (in its
    /// canonical order, ascending by address), drawn from γ with purpose "verifiers".
    /// </summary>
    /// <param name="gamma">γ.</param>
    /// <param name="validatorCount">Size of the validator set.</param>
    /// <param name="c">Verifiers per submission.</param>
    /// <returns>Indices into the validator set, ascending.</returns>
    public static int[] Verifiers(ReadOnlySpan<byte> gamma, int validatorCount, int c) =>
        new ProtocolRandom(gamma, "verifiers").SampleWithoutReplacement(validatorCount, c);

    /// <summary>The k inner steps verifier <paramref name="verifier"/> replays: uniform without replacement from [0, H), purpose "steps/" + its address.</summary>
    /// <param name="gamma">γ.</param>
    /// <param name="verifier">Verifier public key.</param>
    /// <param name="h">H.</param>
    /// <param name="k">k.</param>
    /// <returns>Steps, ascending.</returns>
    public static int[] Steps(ReadOnlySpan<byte> gamma, byte[] verifier, int h, int k) =>
        new ProtocolRandom(gamma, "steps/" + AccountAddress.FromPublicKey(verifier)).SampleWithoutReplacement(h, k);

    /// <summary>The s leaves verifier <paramref name="verifier"/> checks: uniform without replacement from the model's leaves, purpose "leaves/" + its address.</summary>
    /// <param name="gamma">γ.</param>
    /// <param name="verifier">Verifier public key.</param>
    /// <param name="leafCount">Model leaves.</param>
    /// <param name="s">s.</param>
    /// <returns>Leaves, ascending.</returns>
    public static int[] Leaves(ReadOnlySpan<byte> gamma, byte[] verifier, int leafCount, int s) =>
        new ProtocolRandom(gamma, "leaves/" + AccountAddress.FromPublicKey(verifier)).SampleWithoutReplacement(leafCount, s);

    /// <summary>The random evaluation batch of the usefulness check (shared by all verifiers of the submission).</summary>
    /// <param name="gamma">γ.</param>
    /// <param name="round">Round.</param>
    /// <returns>Its batch key.</returns>
    public static BatchKey EvaluationKey(ReadOnlySpan<byte> gamma, ulong round)
    {
        var rng = new ProtocolRandom(gamma, "evaluation");
        return new BatchKey(rng.NextUInt64(), round, rng.NextUInt64(), 0);
    }

    /// <summary>The miner's own step whose batch the own-data check uses (shared by all verifiers).</summary>
    /// <param name="gamma">γ.</param>
    /// <param name="h">H.</param>
    /// <returns>The step.</returns>
    public static int OwnStep(ReadOnlySpan<byte> gamma, int h) => new ProtocolRandom(gamma, "own-step").NextInt(h);
}

/// <summary>An earlier submission of the round (or of history) the uniqueness check compares against.</summary>
/// <param name="Submission">The submission.</param>
/// <param name="Blobs">Where its update is served (null for history: only the root is compared).</param>
public sealed record PeerSubmission(Submission Submission, IChunkSource? Blobs);

/// <summary>Everything a verifier needs to check one submission.</summary>
/// <param name="Start">The round.</param>
/// <param name="Submission">The submission.</param>
/// <param name="Gamma">γ.</param>
/// <param name="Blobs">The miner's blob server.</param>
/// <param name="Earlier">Submissions ordered before it (this round, then earlier rounds' accepted ones).</param>
public sealed record VerificationContext(RoundStart Start, Submission Submission, byte[] Gamma, IChunkSource Blobs, IReadOnlyList<PeerSubmission> Earlier);

/// <summary>Per-check counters (DESIGN §5.5: each check has its own counter).</summary>
public sealed class CheckMetrics
{
    private readonly long[] _runs = new long[9];
    private readonly long[] _failures = new long[9];
    private readonly double[] _seconds = new double[9];

    /// <summary>Processor seconds spent in a check (availability includes fetching and decoding q and the trace; replay includes fetching the state).</summary>
    /// <param name="check">The check.</param>
    /// <returns>Seconds.</returns>
    public double Seconds(CheckKind check) => _seconds[(int)check];

    internal void Spent(CheckKind check, double seconds) => _seconds[(int)check] += seconds;

    /// <summary>Times the check ran.</summary>
    /// <param name="check">The check.</param>
    /// <returns>Count.</returns>
    public long Runs(CheckKind check) => _runs[(int)check];

    /// <summary>Times the check failed.</summary>
    /// <param name="check">The check.</param>
    /// <returns>Count.</returns>
    public long Failures(CheckKind check) => _failures[(int)check];

    internal void Ran(CheckKind check) => _runs[(int)check]++;

    internal void Failed(CheckKind check) => _failures[(int)check]++;

    /// <summary>Adds another set of counters.</summary>
    /// <param name="other">The other counters.</param>
    public void Add(CheckMetrics other)
    {
        ArgumentNullException.ThrowIfNull(other);
        for (int i = 0; i < _runs.Length; i++)
        {
            _runs[i] += other._runs[i];
            _failures[i] += other._failures[i];
            _seconds[i] += other._seconds[i];
        }
    }
}

/// <summary>A verifier's result on one submission.</summary>
/// <param name="Attestation">The signed attestation.</param>
/// <param name="FraudProof">The fraud proof behind a reject, when the failure is provable.</param>
/// <param name="CpuSeconds">Processor time spent (not counting the miner's serving).</param>
/// <param name="Detail">Why a reject failed its check, for logs (not signed, not on chain); null on accept.</param>
public sealed record VerificationResult(Attestation Attestation, FraudProof? FraudProof, double CpuSeconds, string? Detail = null);

/// <summary>
/// A verifier (DESIGN §5.5–5.6): availability, trace start, exact duplicates, quantization consistency on s
/// leaves, replay of k steps, usefulness on γ data, own-vs-random data and near-duplicates, then a signed
/// attestation; a provable failure comes with a fraud proof.
/// </summary>
public sealed class Verifier
{
    /// <summary>
    /// Standard error of the mean of the paired differences dᵢ = beforeᵢ − afterᵢ: √(Σ(dᵢ − d̄)² / (n − 1)) / √n, in double,
    /// summed left to right (0 for fewer than two examples). Deterministic: only +, −, ×, ÷ and the correctly rounded √.
    /// </summary>
    /// <param name="before">Per-example losses before the update.</param>
    /// <param name="after">Per-example losses after it.</param>
    /// <returns>The standard error.</returns>
    public static double PairedStandardError(ReadOnlySpan<float> before, ReadOnlySpan<float> after)
    {
        if (before.Length != after.Length)
        {
            throw new ArgumentException($"paired samples differ in length: {before.Length} and {after.Length}");
        }
        int n = before.Length;
        if (n < 2)
        {
            return 0;
        }
        double mean = 0;
        for (int i = 0; i < n; i++)
        {
            mean += (double)before[i] - after[i];
        }
        mean /= n;
        double squares = 0;
        for (int i = 0; i < n; i++)
        {
            double d = (double)before[i] - after[i] - mean;
            squares += d * d;
        }
        return Math.Sqrt(squares / (n - 1)) / Math.Sqrt(n);
    }

    private readonly Dictionary<string, byte[]> _startLeafByRoot = new(StringComparer.Ordinal);
    private StepEngine? _engine;

    /// <summary>Creates a verifier.</summary>
    /// <param name="key">Signing key.</param>
    /// <param name="strategy">Behaviour.</param>
    public Verifier(Ed25519Keys key, VerifierStrategy strategy = VerifierStrategy.Honest)
    {
        Key = key;
        Strategy = strategy;
    }

    /// <summary>Signing key.</summary>
    public Ed25519Keys Key { get; }

    /// <summary>Behaviour.</summary>
    public VerifierStrategy Strategy { get; }

    /// <summary>Address.</summary>
    public string Address => Key.Address;

    /// <summary>Counters of every check this verifier ran.</summary>
    public CheckMetrics Metrics { get; } = new();

    /// <summary>Where the verifier keeps the evidence its fraud proofs reference (the disputed state); null keeps none.</summary>
    public IChunkStore? Evidence { get; init; }

    /// <summary>Checks a submission and signs an attestation.</summary>
    /// <param name="context">The submission and its round.</param>
    /// <returns>The attestation and any fraud proof.</returns>
    public VerificationResult Verify(VerificationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var cpu = CpuClock.Start();
        double served = ServedSeconds(context.Blobs);
        var why = new System.Runtime.CompilerServices.StrongBox<string?>();
        var (attestation, proof) = Strategy switch
        {
            VerifierStrategy.Lazy => (Unsigned(context, true, CheckKind.None, MandatedSteps(context), MandatedLeaves(context), 0, 0, 0, null), null),
            VerifierStrategy.Malicious => MaliciousReject(context),
            _ => Check(context, why),
        };
        double seconds = cpu.Seconds - (ServedSeconds(context.Blobs) - served);
        return new VerificationResult(Attestation.Sign(attestation, Key), proof is null ? null : FraudProof.Sign(proof, Key), Math.Max(0, seconds),
            attestation.Accept ? null : why.Value ?? attestation.FailedCheck.ToString());
    }

    private static double ServedSeconds(IChunkSource blobs) => blobs is IServingClock m ? m.ServeSeconds : 0;

    private Attestation Unsigned(VerificationContext c, bool accept, CheckKind failed, int[] steps, int[] leaves, float before, float after, float own, FraudProof? proof) =>
        new(c.Submission.Id, Key.PublicKey, accept, failed, steps, leaves, before, after, own, proof?.EvidenceHash ?? new byte[32], []);

    private (Attestation, FraudProof?) MaliciousReject(VerificationContext c)
    {
        // A fabricated replay accusation against step 0 from the honest start state: the judge recomputes the
        // step, finds it matches the trace, and rejects the proof at the sender's cost.
        // The state travels by reference (the hash of trace leaf 0), as every replay proof's does.
        var blob = c.Blobs.TryGet(c.Submission.TraceRoot) ?? [];
        var proof = FraudProof.Empty(FraudKind.Replay, c.Submission.Id, Key.PublicKey, 0) with { TraceBlob = blob };
        return (Unsigned(c, false, CheckKind.Replay, MandatedSteps(c), MandatedLeaves(c), 0, 0, 0, proof), proof);
    }

    private int[] MandatedSteps(VerificationContext c) => Challenge.Steps(c.Gamma, Key.PublicKey, c.Start.Task.InnerSteps, c.Start.Task.ReplayedSteps);

    private int[] MandatedLeaves(VerificationContext c) => Challenge.Leaves(c.Gamma, Key.PublicKey, Updates.LeafCount(c.Start.Model.Length), c.Start.Task.SampledLeaves);

    private StepEngine Engine(ProtocolTask task)
    {
        if (_engine is null || !ReferenceEquals(_engine.Task, task))
        {
            _engine = new StepEngine(task);
        }
        return _engine;
    }

    private (Attestation, FraudProof?) Check(VerificationContext c, System.Runtime.CompilerServices.StrongBox<string?> why)
    {
        var task = c.Start.Task;
        var s = c.Submission;
        var engine = Engine(task);
        int n = engine.ParameterCount, h = task.InnerSteps;
        int[] steps = MandatedSteps(c);
        int[] leaves = MandatedLeaves(c);
        (Attestation, FraudProof?) Reject(CheckKind check, FraudProof? proof, string? detail = null)
        {
            why.Value = detail is null ? check.ToString() : check + ": " + detail;
            Metrics.Failed(check);
            return (Unsigned(c, false, check, steps, leaves, 0, 0, 0, proof), proof);
        }

        // Availability: q and the trace must be served and match their roots.
        // Per-check processor time, without what the miner's server spent producing the blobs.
        var phase = CpuClock.Start();
        double servedAtPhase = ServedSeconds(c.Blobs);
        void Lap(CheckKind kind)
        {
            double served = ServedSeconds(c.Blobs);
            Metrics.Spent(kind, phase.Seconds - (served - servedAtPhase));
            phase = CpuClock.Start();
            servedAtPhase = served;
        }
        Metrics.Ran(CheckKind.Availability);
        byte[]? updateBlob = c.Blobs.TryGet(s.UpdateRoot);
        byte[]? traceBlob = c.Blobs.TryGet(s.TraceRoot);
        byte[][] trace;
        float[] dequantized;
        try
        {
            if (updateBlob is null || traceBlob is null || !Updates.Root(updateBlob).AsSpan().SequenceEqual(s.UpdateRoot))
            {
                return Reject(CheckKind.Availability, null, updateBlob is null ? "update not served" : traceBlob is null ? "trace not served" : "served update does not match its root");
            }
            dequantized = Updates.Dequantize(updateBlob, n);
            trace = TrainingState.DecodeTrace(traceBlob, h + 1, s.TraceRoot);
        }
        catch (PotFormatException e)
        {
            return Reject(CheckKind.Availability, null, "malformed update or trace: " + e.Message);
        }

        Lap(CheckKind.Availability);

        // Trace start: state 0 is θ_r with fresh optimiser state or, where the task carries it, with the optimiser
        // state of trace state H of the miner's last accepted submission.
        Metrics.Ran(CheckKind.TraceStart);
        if (!trace[0].AsSpan().SequenceEqual(ExpectedStartLeaf(c.Start, engine.OptimizerBuffers)))
        {
            var startProof = FraudProof.Empty(FraudKind.TraceStart, s.Id, Key.PublicKey, 0) with { TraceBlob = traceBlob };
            if (!task.CarryOptimizer || c.Start.CarryFrom is not { } carryRoot)
            {
                return Reject(CheckKind.TraceStart, startProof, task.CarryOptimizer ? "state 0 is not fresh and the miner has no accepted submission to carry from" : "state 0 is not θ_r with fresh optimiser state");
            }
            if (c.Blobs.TryGet(carryRoot) is not { } carryBlob)
            {
                return Reject(CheckKind.Availability, null, $"the trace of the last accepted submission ({Hex.Encode(carryRoot)[..12]}), which state 0 carries from, is not served");
            }
            byte[][] carryTrace;
            try
            {
                carryTrace = TrainingState.DecodeTrace(carryBlob, h + 1, carryRoot);
            }
            catch (PotFormatException e)
            {
                return Reject(CheckKind.Availability, null, "the trace carried from is malformed: " + e.Message);
            }
            if (!trace[0].AsSpan().SequenceEqual(TrainingState.CarriedStartLeaf(c.Start.ModelRoot, carryTrace[h])))
            {
                // The judge fetches the earlier trace by its root; the verifier keeps a copy as evidence.
                Evidence?.Put(carryRoot, carryBlob);
                return Reject(CheckKind.TraceStart, startProof, "state 0 is neither fresh nor carried from the last accepted submission's state H");
            }
        }

        // Uniqueness, exact: an earlier submission with the same update root.
        Metrics.Ran(CheckKind.Uniqueness);
        foreach (var peer in c.Earlier)
        {
            if (peer.Submission.UpdateRoot.AsSpan().SequenceEqual(s.UpdateRoot))
            {
                return Reject(CheckKind.Uniqueness, FraudProof.Empty(FraudKind.DuplicateUpdate, s.Id, Key.PublicKey, 0) with { OtherSubmission = peer.Submission.Id });
            }
        }

        Lap(CheckKind.TraceStart);

        // Quantization consistency on s leaves against θ_H (state H of the trace).
        Metrics.Ran(CheckKind.Quantization);
        // Only θ_H's parameters are needed here: they are checked against the parameter root in trace leaf H
        // (the optimiser buffers are not hashed), and each sampled leaf is then read from them.
        float[]? finalParameters = FetchFinalParameters(c, trace[h], engine);
        if (finalParameters is null)
        {
            return Reject(CheckKind.Availability, null, $"state {h} (θ_H) not served, malformed or not matching trace leaf {h}");
        }
        foreach (int leaf in leaves)
        {
            float[] finalLeaf = ModelCommitment.ReadLeaf([finalParameters], leaf);
            byte[] expected = Updates.ExpectedLeaf(ModelCommitment.ReadLeaf([c.Start.Model], leaf), finalLeaf);
            byte[] actual = Updates.Leaf(updateBlob, leaf);
            if (!expected.AsSpan().SequenceEqual(actual))
            {
                return Reject(CheckKind.Quantization, FraudProof.Empty(FraudKind.Quantization, s.Id, Key.PublicKey, leaf) with
                {
                    TraceBlob = traceBlob,
                    FinalLeafValues = finalLeaf,
                    FinalLeafProof = ModelCommitment.ProveLeaf([finalParameters], leaf).Encode(),
                    UpdateLeaf = actual,
                    UpdateLeafProof = Updates.Prove(updateBlob, leaf).Encode(),
                });
            }
        }

        Lap(CheckKind.Quantization);

        // Replay of k steps: recompute from the committed state and compare the next trace leaf and the loss bit for bit.
        var assignment = DataAssignment.Derive(c.Start.Beacon, task.Id, s.Miner, s.Round);
        foreach (int j in steps)
        {
            Metrics.Ran(CheckKind.Replay);
            // The served state is decoded straight into the engine and checked against trace leaf j before the
            // step runs; the result is hashed in place and compared with trace leaf j + 1 (no copies of the state).
            byte[]? stateBlob = c.Blobs.TryGet(MerkleHash.HashLeaf(trace[j]));
            byte[] leafBefore, leafAfter;
            float loss;
            try
            {
                if (stateBlob is null)
                {
                    return Reject(CheckKind.Availability, null, $"state {j} not served");
                }
                (leafBefore, leafAfter, loss) = engine.Replay(stateBlob, j, assignment);
            }
            catch (PotFormatException e)
            {
                return Reject(CheckKind.Availability, null, $"state {j} malformed: {e.Message}");
            }
            if (!leafBefore.AsSpan().SequenceEqual(trace[j]))
            {
                return Reject(CheckKind.Availability, null, $"served state {j} does not match trace leaf {j}");
            }
            bool stateOk = leafAfter.AsSpan().SequenceEqual(trace[j + 1]);
            bool lossOk = BitConverter.SingleToUInt32Bits(loss) == BitConverter.SingleToUInt32Bits(s.ClaimedLosses[j]);
            if (!stateOk || !lossOk)
            {
                if (stateOk)
                {
                    Metrics.Ran(CheckKind.LossClaim);
                }
                // The proof names the state by its trace leaf; the verifier keeps a copy so validators can fetch it
                // even if the miner stops serving.
                Evidence?.Put(MerkleHash.HashLeaf(trace[j]), stateBlob);
                return Reject(stateOk ? CheckKind.LossClaim : CheckKind.Replay,
                    FraudProof.Empty(FraudKind.Replay, s.Id, Key.PublicKey, j) with { TraceBlob = traceBlob });
            }
            Metrics.Ran(CheckKind.LossClaim);
        }

        Lap(CheckKind.Replay);

        // Usefulness on γ-chosen data, then own data versus that random data.
        Metrics.Ran(CheckKind.Usefulness);
        float[] updated = Updates.Apply(c.Start.Model, dequantized);
        var evalKey = Challenge.EvaluationKey(c.Gamma, s.Round);
        int evalRows = task.EffectiveEvalBatchSize;
        int ownRows = task.EffectiveOwnBatchSize;
        var before = new float[evalRows];
        var after = new float[evalRows];
        float lossBefore = engine.ExampleLosses(c.Start.Model, evalKey, evalRows, before);
        float lossAfter = engine.ExampleLosses(updated, evalKey, evalRows, after);
        float improvement = lossBefore - lossAfter;
        double standardError = PairedStandardError(before, after);
        if (!(improvement + task.SignificanceZ * standardError >= task.LossMargin))
        {
            Metrics.Failed(CheckKind.Usefulness);
            return (Unsigned(c, false, CheckKind.Usefulness, steps, leaves, lossBefore, lossAfter, 0, null), null);
        }
        Lap(CheckKind.Usefulness);
        Metrics.Ran(CheckKind.OwnData);
        var ownKey = assignment.Key(Challenge.OwnStep(c.Gamma, h));
        var ownBefore = new float[ownRows];
        var ownAfter = new float[ownRows];
        float ownImprovement = engine.ExampleLosses(c.Start.Model, ownKey, ownRows, ownBefore) - engine.ExampleLosses(updated, ownKey, ownRows, ownAfter);
        double ownError = PairedStandardError(ownBefore, ownAfter);
        if (!(ownImprovement - improvement + task.SignificanceZ * Math.Sqrt(ownError * ownError + standardError * standardError) >= task.OwnDataMargin))
        {
            Metrics.Failed(CheckKind.OwnData);
            return (Unsigned(c, false, CheckKind.OwnData, steps, leaves, lossBefore, lossAfter, ownImprovement, null), null);
        }

        Lap(CheckKind.OwnData);

        // Uniqueness, near-identical: cosine of deq(q) with earlier updates of the round.
        foreach (var peer in c.Earlier)
        {
            byte[]? other = peer.Blobs?.TryGet(peer.Submission.UpdateRoot);
            if (other is null || peer.Submission.Round != s.Round)
            {
                continue;
            }
            float[]? otherValues = DequantizedPeer(peer.Submission.UpdateRoot, other, n);
            if (otherValues is null)
            {
                continue;
            }
            if (Updates.Cosine(dequantized, otherValues) >= task.NearDuplicateCosine)
            {
                Metrics.Failed(CheckKind.Uniqueness);
                return (Unsigned(c, false, CheckKind.Uniqueness, steps, leaves, lossBefore, lossAfter, ownImprovement, null), null);
            }
        }

        Lap(CheckKind.Uniqueness);
        return (Unsigned(c, true, CheckKind.None, steps, leaves, lossBefore, lossAfter, ownImprovement, null), null);
    }

    private readonly Dictionary<string, float[]> _peerUpdates = new(StringComparer.Ordinal);

    /// <summary>deq(q) of a peer's update, decoded once per root and kept for the round (the cache is cleared when it grows past 64 entries).</summary>
    private float[]? DequantizedPeer(byte[] root, byte[] blob, int n)
    {
        string key = Hex.Encode(root);
        if (_peerUpdates.TryGetValue(key, out var values))
        {
            return values;
        }
        try
        {
            if (!Updates.Root(blob).AsSpan().SequenceEqual(root))
            {
                return null;
            }
            values = Updates.Dequantize(blob, n);
        }
        catch (PotFormatException)
        {
            return null;
        }
        if (_peerUpdates.Count >= 64)
        {
            _peerUpdates.Clear();
        }
        _peerUpdates[key] = values;
        return values;
    }

    private byte[] ExpectedStartLeaf(RoundStart start, int buffers)
    {
        string key = Hex.Encode(start.ModelRoot) + "/" + buffers;
        if (!_startLeafByRoot.TryGetValue(key, out var leaf))
        {
            leaf = TrainingState.EncodeTraceLeaf(start.ModelRoot, FreshOptimizerRoot(start.Model.Length, buffers), 0);
            _startLeafByRoot[key] = leaf;
        }
        return leaf;
    }

    /// <summary>The optimiser root of all-zero buffers.</summary>
    /// <param name="parameters">Parameter count.</param>
    /// <param name="buffers">Buffer count.</param>
    /// <returns>32 bytes.</returns>
    internal static byte[] FreshOptimizerRoot(int parameters, int buffers)
    {
        // The root of all-zero buffers depends only on the sizes, so it is computed once per process.
        lock (FreshRoots)
        {
            if (!FreshRoots.TryGetValue((parameters, buffers), out var root))
            {
                root = ModelCommitment.ComputeRoot(Enumerable.Range(0, buffers).Select(_ => (ReadOnlyMemory<float>)new float[parameters]).ToArray());
                FreshRoots[(parameters, buffers)] = root;
            }
            return root;
        }
    }

    private static readonly Dictionary<(int, int), byte[]> FreshRoots = [];

    private static float[]? FetchFinalParameters(VerificationContext c, byte[] finalLeaf, StepEngine engine)
    {
        byte[]? blob = c.Blobs.TryGet(MerkleHash.HashLeaf(finalLeaf));
        if (blob is null)
        {
            return null;
        }
        try
        {
            float[] parameters = TrainingState.DecodeParameters(blob, engine.ParameterCount, engine.OptimizerBuffers);
            return ModelCommitment.ComputeRoot([parameters]).AsSpan().SequenceEqual(finalLeaf.AsSpan(0, 32)) ? parameters : null;
        }
        catch (PotFormatException)
        {
            return null;
        }
    }
}
