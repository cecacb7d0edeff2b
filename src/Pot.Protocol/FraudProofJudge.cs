using Pot.Commitments;
using Pot.Commitments.Merkle;

namespace Pot.Protocol;

/// <summary>
/// Re-checks fraud proofs (DESIGN §5.6) at the cost of one inner step (replay), one leaf (quantization)
/// or a lookup (trace start, duplicate update). Deterministic: every validator reaches the same verdict.
/// </summary>
public sealed class FraudProofJudge
{
    private readonly StepEngine _engine;
    private readonly IChunkSource? _chunks;

    /// <summary>Creates a judge for a task.</summary>
    /// <param name="engine">An engine for the task (used for one step per replay proof).</param>
    /// <param name="chunks">Where a replay proof's state is fetched when the proof names it by its trace leaf instead of carrying it.</param>
    public FraudProofJudge(StepEngine engine, IChunkSource? chunks = null)
    {
        _engine = engine;
        _chunks = chunks;
    }

    /// <summary>Judges a proof.</summary>
    /// <param name="proof">The proof.</param>
    /// <param name="submission">The accused submission (as recorded on chain).</param>
    /// <param name="start">The round it belongs to.</param>
    /// <param name="lookup">Earlier submissions by id, in chain order (for duplicate proofs).</param>
    /// <returns>Null when upheld; otherwise why the proof is rejected.</returns>
    public string? Judge(FraudProof proof, Submission submission, RoundStart start, Func<byte[], Submission?> lookup)
    {
        ArgumentNullException.ThrowIfNull(proof);
        ArgumentNullException.ThrowIfNull(submission);
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(lookup);
        if (!proof.VerifySignature())
        {
            return "fraud proof signature does not verify against the prover's key";
        }
        if (!proof.SubmissionId.AsSpan().SequenceEqual(submission.Id))
        {
            return $"fraud proof names submission {Hex.Encode(proof.SubmissionId)}; expected {Hex.Encode(submission.Id)}";
        }
        try
        {
            return proof.Kind switch
            {
                FraudKind.Replay => JudgeReplay(proof, submission, start),
                FraudKind.Quantization => JudgeQuantization(proof, submission, start),
                FraudKind.TraceStart => JudgeTraceStart(proof, submission, start),
                FraudKind.DuplicateUpdate => JudgeDuplicate(proof, submission, lookup),
                _ => $"unknown fraud proof kind {(byte)proof.Kind}; expected 1 to 4",
            };
        }
        catch (Exception ex) when (ex is PotFormatException or ArgumentException)
        {
            return $"malformed evidence: {ex.Message}";
        }
    }

    private string? JudgeReplay(FraudProof proof, Submission s, RoundStart start)
    {
        int h = start.Task.InnerSteps;
        if (proof.Index < 0 || proof.Index >= h)
        {
            return $"replayed step {proof.Index} is outside [0, {h})";
        }
        if (s.InnerSteps != h)
        {
            return $"submission {s.ShortId} claims {s.InnerSteps} losses; the task has H = {h}";
        }
        var trace = TrainingState.DecodeTrace(proof.TraceBlob, h + 1, s.TraceRoot);
        byte[] stateBlob = proof.StateBlob;
        bool fetched = stateBlob.Length == 0;
        if (fetched)
        {
            byte[] name = MerkleHash.HashLeaf(trace[proof.Index]);
            stateBlob = _chunks?.TryGet(name)
                ?? throw new Pot.Chain.Protocol.ProtocolDataUnavailableException($"trace state {proof.Index} of submission {s.ShortId} (chunk {Hex.Encode(name)[..12]}) is not available to this node");
        }
        var assignment = DataAssignment.Derive(start.Beacon, start.Task.Id, s.Miner, s.Round);
        var (leafBefore, leafAfter, loss) = _engine.Replay(stateBlob, proof.Index, assignment);
        if (!leafBefore.AsSpan().SequenceEqual(trace[proof.Index]))
        {
            // Bytes fetched by name that do not match the name are a bad source, not the prover's fault.
            return fetched
                ? throw new Pot.Chain.Protocol.ProtocolDataUnavailableException($"the chunk served for trace state {proof.Index} of submission {s.ShortId} does not match its trace leaf")
                : $"the state in the proof is not trace state {proof.Index} of submission {s.ShortId}";
        }
        bool stateOk = leafAfter.AsSpan().SequenceEqual(trace[proof.Index + 1]);
        bool lossOk = BitConverter.SingleToUInt32Bits(loss) == BitConverter.SingleToUInt32Bits(s.ClaimedLosses[proof.Index]);
        return stateOk && lossOk ? $"step {proof.Index} replays to the committed state {Hex.Encode(MerkleHash.HashLeaf(trace[proof.Index + 1]))[..12]} with the claimed loss {loss}; no fraud" : null;
    }

    private static string? JudgeQuantization(FraudProof proof, Submission s, RoundStart start)
    {
        int h = start.Task.InnerSteps;
        int leafCount = Updates.LeafCount(start.Model.Length);
        if (proof.Index < 0 || proof.Index >= leafCount)
        {
            return $"leaf {proof.Index} is outside [0, {leafCount})";
        }
        var trace = TrainingState.DecodeTrace(proof.TraceBlob, h + 1, s.TraceRoot);
        byte[] finalRoot = TrainingState.ParametersRootOf(trace[h]);
        var finalProof = MerkleProof.Decode(proof.FinalLeafProof);
        if (finalProof.LeafIndex != proof.Index || !ModelCommitment.VerifyLeaf(finalRoot, finalProof, proof.FinalLeafValues))
        {
            return $"θ_H leaf {proof.Index} does not verify against the final parameter root {Hex.Encode(finalRoot)[..12]}";
        }
        var updateProof = MerkleProof.Decode(proof.UpdateLeafProof);
        if (updateProof.LeafIndex != proof.Index || !updateProof.Verify(MerkleHash.HashLeaf(proof.UpdateLeaf), s.UpdateRoot))
        {
            return $"update leaf {proof.Index} does not verify against the update root {Hex.Encode(s.UpdateRoot)[..12]}";
        }
        byte[] expected = Updates.ExpectedLeaf(ModelCommitment.ReadLeaf([start.Model], proof.Index), proof.FinalLeafValues);
        return expected.AsSpan().SequenceEqual(proof.UpdateLeaf) ? $"update leaf {proof.Index} equals Q4(θ_r − θ_H) on that leaf; no fraud" : null;
    }

    private string? JudgeTraceStart(FraudProof proof, Submission s, RoundStart start)
    {
        int h = start.Task.InnerSteps;
        var trace = TrainingState.DecodeTrace(proof.TraceBlob, h + 1, s.TraceRoot);
        byte[] expected = TrainingState.EncodeTraceLeaf(start.ModelRoot, Verifier.FreshOptimizerRoot(start.Model.Length, _engine.OptimizerBuffers), 0);
        if (trace[0].AsSpan().SequenceEqual(expected))
        {
            return "trace state 0 is the round's model with fresh optimiser state; no fraud";
        }
        if (!start.Task.CarryOptimizer || start.CarryFrom is not { } root)
        {
            return null;
        }
        // The earlier trace is named by the chain's record; bytes that do not match the name are a bad source, not a verdict.
        byte[] blob = _chunks?.TryGet(root)
            ?? throw new Pot.Chain.Protocol.ProtocolDataUnavailableException($"the trace {Hex.Encode(root)[..12]} that submission {s.ShortId} may carry its optimiser state from is not available to this node");
        byte[][] carried;
        try
        {
            carried = TrainingState.DecodeTrace(blob, h + 1, root);
        }
        catch (PotFormatException e)
        {
            throw new Pot.Chain.Protocol.ProtocolDataUnavailableException($"the chunk served for trace {Hex.Encode(root)[..12]} is not that trace: {e.Message}");
        }
        return trace[0].AsSpan().SequenceEqual(TrainingState.CarriedStartLeaf(start.ModelRoot, carried[h]))
            ? $"trace state 0 carries the optimiser state of state {h} of trace {Hex.Encode(root)[..12]} (the miner's last accepted submission); no fraud"
            : null;
    }

    private static string? JudgeDuplicate(FraudProof proof, Submission s, Func<byte[], Submission?> lookup)
    {
        var other = lookup(proof.OtherSubmission);
        if (other is null)
        {
            return $"submission {Hex.Encode(proof.OtherSubmission)} is not an earlier submission on chain";
        }
        return other.UpdateRoot.AsSpan().SequenceEqual(s.UpdateRoot) ? null : $"submission {other.ShortId} has update root {Hex.Encode(other.UpdateRoot)[..12]}, not {Hex.Encode(s.UpdateRoot)[..12]}";
    }
}
