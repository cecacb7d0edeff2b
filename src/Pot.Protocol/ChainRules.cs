using Pot.Chain;
using Pot.Chain.Protocol;
using Pot.Chain.State;
using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Canonical;
using Pot.Commitments.Keys;

namespace Pot.Protocol;

/// <summary>
/// The Proof-of-Training rules of the chain (<see cref="IProtocolRules"/>): γ and the assigned verifiers when a
/// submission's challenge opens, the mandated steps and leaves of every attestation, fraud proofs re-checked by
/// <see cref="FraudProofJudge"/> (one step, one leaf or a lookup), and finalization and rewards by
/// <see cref="RoundRules"/>. Every decision is a deterministic function of its context and of content-addressed
/// chunks (θ_r by its model root, a disputed state by its trace leaf); when a chunk is missing the rules throw
/// <see cref="ProtocolDataUnavailableException"/>, which is not a verdict (docs/protocol.md, "Chain integration").
/// </summary>
/// <remarks>
/// Tasks the rules do not know (not passed to the constructor) fall back to <see cref="DefaultProtocolRules"/>.
/// The chain's <see cref="ChainParameters.SlashBurnPpm"/> must equal 10⁶ − <see cref="ProtocolTask.ProverSharePpm"/>
/// so the ledger's burn/prover split is the protocol's.
/// </remarks>
public sealed class PotProtocolRules : IProtocolRules
{
    private readonly Dictionary<ulong, Entry> _tasks = [];
    private readonly IChunkSource _chunks;
    private readonly Dictionary<string, float[]> _models = new(StringComparer.Ordinal);

    /// <summary>Creates the rules.</summary>
    /// <param name="tasks">The protocol tasks by chain task id.</param>
    /// <param name="chunks">Where validators fetch θ_r (by model root) and disputed states (by trace-leaf hash).</param>
    public PotProtocolRules(IReadOnlyDictionary<ulong, ProtocolTask> tasks, IChunkSource chunks)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(chunks);
        _chunks = chunks;
        foreach (var (id, task) in tasks)
        {
            task.Validate();
            var engine = new StepEngine(task);
            _tasks[id] = new Entry(task, engine, new FraudProofJudge(engine, chunks));
        }
    }

    /// <summary>Kinds recorded with an upheld proof: the <see cref="FraudKind"/> value.</summary>
    /// <param name="chainTaskId">Chain task id.</param>
    /// <returns>The protocol task, or null when these rules do not run it.</returns>
    public ProtocolTask? TaskOf(ulong chainTaskId) => _tasks.TryGetValue(chainTaskId, out var e) ? e.Task : null;

    /// <summary>The chain's verification parameters for a protocol task (what its create-task transaction must carry).</summary>
    /// <param name="task">The task.</param>
    /// <returns>c, k, s, ε and W.</returns>
    public static VerificationParameters VerificationOf(ProtocolTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        return new VerificationParameters((uint)task.VerifiersPerSubmission, (uint)task.ReplayedSteps, (uint)task.SampledLeaves,
            BitConverter.SingleToUInt32Bits(task.LossMargin), (ulong)task.WindowBlocks);
    }

    /// <inheritdoc />
    public bool AssignsVerifiers => true;

    /// <inheritdoc />
    public bool ChargesRejectedFraudProofs => true;

    private Entry? Find(ulong taskId, TaskInfo info)
    {
        if (!_tasks.TryGetValue(taskId, out var e))
        {
            return null;
        }
        // A chain task whose parameters differ from the protocol task registered under its id is not run by these
        // rules (CheckSubmission refuses its submissions), so a mismatched create-task cannot make them misjudge.
        return info.Verification == VerificationOf(e.Task) ? e : null;
    }

    /// <inheritdoc />
    public SubmissionChallenge OpenChallenge(ChallengeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var e = Find(context.Submission.Payload.TaskId, context.Task);
        byte[] gamma = Challenge.Seed(context.IncludingBlockHash, context.Submission.Id);
        if (e is null)
        {
            return new SubmissionChallenge(gamma, []);
        }
        var set = context.Validators.Addresses;
        int c = Math.Min(e.Task.VerifiersPerSubmission, set.Count);
        return new SubmissionChallenge(gamma, Challenge.Verifiers(gamma, set.Count, c).Select(i => set[i]).ToArray());
    }

    /// <inheritdoc />
    public string? CheckSubmission(SubmitPayload payload, TaskInfo task)
    {
        ArgumentNullException.ThrowIfNull(payload);
        ArgumentNullException.ThrowIfNull(task);
        if (Find(payload.TaskId, task) is not Entry e)
        {
            return _tasks.TryGetValue(payload.TaskId, out var registered)
                ? $"chain task {payload.TaskId} has verification parameters {task.Verification}; protocol task '{registered.Task.Id}' needs {VerificationOf(registered.Task)}"
                : null;
        }
        if (payload.ClaimedLossBits.Count != e.Task.InnerSteps)
        {
            return $"claims {payload.ClaimedLossBits.Count} losses; task '{e.Task.Id}' has H = {e.Task.InnerSteps} inner steps, one loss each";
        }
        ulong samples = (ulong)e.Task.InnerSteps * (ulong)e.Task.Training.BatchSize;
        return payload.SampleCount == samples ? null : $"sample count {payload.SampleCount}; H × batch = {samples}";
    }

    /// <inheritdoc />
    public string? CheckAttestation(AttestationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var s = context.Submission;
        if (Find(s.Payload.TaskId, context.Task) is not Entry e)
        {
            return null;
        }
        var a = context.Attestation;
        if (s.Challenge is null)
        {
            return $"the challenge of submission {Hex.Encode(s.Id)[..12]} is not open";
        }
        if (a.FailedCheck > (byte)CheckKind.Uniqueness || (!a.Accept && a.FailedCheck == 0))
        {
            return $"failed check {a.FailedCheck}: a reject names a check 1 to {(byte)CheckKind.Uniqueness}, an accept 0";
        }
        int[] steps = Challenge.Steps(s.Challenge.Gamma, context.VerifierPublicKey, e.Task.InnerSteps, e.Task.ReplayedSteps);
        int[] leaves = Challenge.Leaves(s.Challenge.Gamma, context.VerifierPublicKey, Updates.LeafCount(e.Engine.ParameterCount), e.Task.SampledLeaves);
        if (!a.ReplayedSteps.Select(x => (int)x).SequenceEqual(steps) || !a.SampledLeaves.Select(x => (int)x).SequenceEqual(leaves))
        {
            return $"declares steps [{string.Join(",", a.ReplayedSteps)}] and leaves [{string.Join(",", a.SampledLeaves)}]; γ mandates steps [{string.Join(",", steps)}] and leaves [{string.Join(",", leaves)}] for this verifier";
        }
        return null;
    }

    private static byte[] PublicKeyOf(IStateReader? state, byte[] address, string role)
    {
        var account = state is null ? Account.Empty : StateAccess.Account(state, address);
        return account.PublicKey ?? throw new InvalidOperationException($"{role} {AddressText.Of(address)} has no public key on chain");
    }

    private float[] Model(Entry e, byte[] root)
    {
        string key = Hex.Encode(root);
        if (_models.TryGetValue(key, out var m))
        {
            return m;
        }
        m = ModelBlobs.TryGet(_chunks, root, e.Engine.ParameterCount)
            ?? throw new ProtocolDataUnavailableException($"model {key[..12]} of task '{e.Task.Id}' is not available to this node");
        if (_models.Count >= 8)
        {
            _models.Clear();
        }
        _models[key] = m;
        return m;
    }

    /// <inheritdoc />
    public string? JudgeFraudProof(FraudProofContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var s = context.Submission;
        if (Find(s.Payload.TaskId, context.Task) is not Entry e)
        {
            return DefaultProtocolRules.Instance.JudgeFraudProof(context);
        }
        FraudProof proof;
        try
        {
            proof = FraudProof.Decode(context.Proof.Evidence);
        }
        catch (PotFormatException ex)
        {
            return $"evidence is not a fraud proof: {ex.Message}";
        }
        if (!AccountAddress.BytesFromPublicKey(proof.Prover).AsSpan().SequenceEqual(context.Prover))
        {
            return $"the proof names prover {proof.ProverAddress}, not the sender {AddressText.Of(context.Prover)}";
        }
        if (context.Round.Beacon is null)
        {
            return $"the beacon of task {s.Payload.TaskId} round {context.Round.Round} is not recorded yet";
        }
        byte[] minerKey = PublicKeyOf(context.State, s.Miner, "miner");
        var submission = Submission.FromChain(s, minerKey);
        var start = new RoundStart(e.Task, context.Round.Round, context.Round.Beacon, Model(e, context.Round.ModelRoot), context.Round.ModelRoot, s.Payload.TaskId)
        {
            CarryFrom = context.State is { } state ? StateAccess.LastAccepted(state, s.Payload.TaskId, s.Miner)?.TraceRoot : null,
        };
        return e.Judge.Judge(proof, submission, start, id => EarlierWithRoot(context.State, s, id));
    }

    private static Submission? EarlierWithRoot(IStateReader? state, Pot.Chain.State.Submission s, byte[] otherId)
    {
        // The update-root index names the first submission that carried a root; a later one with the same root is a copy.
        if (state?.Get(StateKeys.UpdateRoot(s.Payload.UpdateRoot)) is not byte[] first || !first.AsSpan().SequenceEqual(otherId) || first.AsSpan().SequenceEqual(s.Id))
        {
            return null;
        }
        return new Submission(first, s.Payload.TaskId, 0, [], [], s.Payload.UpdateRoot, [], [], 0);
    }

    /// <inheritdoc />
    public FraudProofClass ClassifyFraudProof(FraudProofContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        try
        {
            var proof = FraudProof.Decode(context.Proof.Evidence);
            return new FraudProofClass((byte)proof.Kind, (ulong)proof.Index);
        }
        catch (PotFormatException)
        {
            return default;
        }
    }

    /// <inheritdoc />
    public FinalizationOutcome ComputeFinalization(FinalizationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (Find(context.TaskId, context.Task) is not Entry e)
        {
            return DefaultProtocolRules.Instance.ComputeFinalization(context);
        }
        var records = new List<RecordedSubmission>();
        var rejectedProofs = new List<(string, string)>();
        foreach (var s in context.Submissions)
        {
            byte[] minerKey = context.AccountOf(s.Miner).PublicKey ?? throw new InvalidOperationException($"miner {AddressText.Of(s.Miner)} has no public key on chain");
            var submission = Submission.FromChain(s, minerKey);
            var attestations = s.Attestations.Select(a => Attestation.FromChain(s.Id, a,
                context.AccountOf(a.Verifier).PublicKey ?? throw new InvalidOperationException($"verifier {AddressText.Of(a.Verifier)} has no public key"))).ToArray();
            var assigned = (s.Challenge?.AssignedVerifiers ?? []).Select(v => AddressText.Of(v)).ToArray();
            string? prover = null;
            FraudProof? upheld = null;
            if (context.FraudProofOf(s.Id) is FraudProofRecord f)
            {
                prover = AddressText.Of(f.Prover);
                byte[] proverKey = context.AccountOf(f.Prover).PublicKey ?? [];
                upheld = FraudProof.Empty((FraudKind)f.Kind, s.Id, proverKey, (int)Math.Min(f.Index, int.MaxValue));
            }
            records.Add(new RecordedSubmission(submission, assigned, attestations, prover, upheld));
            foreach (byte[] sender in s.RejectedProofSenders ?? [])
            {
                rejectedProofs.Add((AddressText.Of(sender), $"rejected fraud proof against submission {submission.ShortId}"));
            }
        }
        var outcome = RoundRules.Finalize(e.Task, records, rejectedProofs, a => context.AccountOf(AccountAddress.Parse(a)).Stake, context.Round.Escrow);
        static byte[] Bytes(string address) => AccountAddress.Parse(address);
        return new FinalizationOutcome(
            outcome.Accepted.Select(x => x.Id).OrderBy(x => x, ByteOrder.Comparer).ToArray(),
            outcome.Rejected.Select(x => x.Id).OrderBy(x => x, ByteOrder.Comparer).ToArray(),
            outcome.Rewards.Select(r => new Payout(Bytes(r.Address), r.Amount)).OrderBy(p => p.Address, ByteOrder.Comparer).ToArray(),
            outcome.Slashes.Select(x => new SlashEntry(Bytes(x.Offender), x.Amount, x.Beneficiary is null ? null : Bytes(x.Beneficiary))).OrderBy(x => x.Offender, ByteOrder.Comparer).ToArray());
    }

    private sealed record Entry(ProtocolTask Task, StepEngine Engine, FraudProofJudge Judge);
}
