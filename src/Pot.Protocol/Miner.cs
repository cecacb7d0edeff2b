using Pot.Chain.Transactions;
using Pot.Commitments;
using Pot.Commitments.Keys;
using Pot.Commitments.Merkle;

namespace Pot.Protocol;

/// <summary>How a simulated miner behaves (docs/protocol.md, "Adversarial miners").</summary>
public enum MinerStrategy
{
    /// <summary>Follows the protocol.</summary>
    Honest,

    /// <summary>Runs only the first ⌊H/2⌋ steps and commits copies of the last state for the rest.</summary>
    SkipSteps,

    /// <summary>Fabricates one inner step (step ⌊H/2⌋): commits a state that the step does not produce, then trains on honestly.</summary>
    FabricateStep,

    /// <summary>Forges one leaf of one trace state (after step ⌊H/2⌋) and trains on from the forged state.</summary>
    ForgeTraceLeaf,

    /// <summary>Submits a random update of the honest update's scale (with a final state consistent with it).</summary>
    RandomUpdate,

    /// <summary>Submits the honest update scaled by 4 (with a final state consistent with it).</summary>
    ScaledUpdate,

    /// <summary>Resubmits its own update of an earlier round.</summary>
    ReplayOldUpdate,

    /// <summary>Submits another miner's update verbatim.</summary>
    CopyExact,

    /// <summary>Submits another miner's update plus 1% noise (with a final state consistent with it).</summary>
    CopyNoisy,

    /// <summary>Trains on data other than its assignment.</summary>
    WrongData,

    /// <summary>Claims training losses 10% lower than measured.</summary>
    FalseLoss,

    /// <summary>Forges one leaf of the quantized update (one code changed).</summary>
    ForgeUpdateLeaf,

    /// <summary>Commits honestly but does not serve its blobs.</summary>
    WithholdChunks,

    /// <summary>Submits after the window closed.</summary>
    LateSubmission,
}

/// <summary>What a miner produced for a round.</summary>
/// <param name="Miner">The miner's public key.</param>
/// <param name="Payload">The submit payload (to be signed as a chain transaction).</param>
/// <param name="Blobs">Where its blobs are served.</param>
/// <param name="UpdateBlob">q as a Q4 blob (kept for the miner's own bookkeeping and the copy strategies).</param>
/// <param name="Late">Whether it is sent after the window.</param>
/// <param name="CpuSeconds">Processor time spent training and committing.</param>
public sealed record MinerOutput(byte[] Miner, SubmitPayload Payload, MinerBlobServer Blobs, byte[] UpdateBlob, bool Late, double CpuSeconds)
{
    /// <summary>Whether the miner actually deviated this round (a copier needs something to copy, a replayer an old update; a probabilistic cheater may skip a round).</summary>
    public bool Deviated { get; init; }
}

/// <summary>The round as a miner sees it when it starts.</summary>
/// <param name="Task">The task.</param>
/// <param name="Round">Round number r.</param>
/// <param name="Beacon">β, hash of the block that finalized θ_r.</param>
/// <param name="Model">θ_r.</param>
/// <param name="ModelRoot">R_r.</param>
/// <param name="ChainTaskId">The task's id on the chain.</param>
public sealed record RoundStart(ProtocolTask Task, ulong Round, byte[] Beacon, float[] Model, byte[] ModelRoot, ulong ChainTaskId = 0)
{
    /// <summary>
    /// Trace root of the miner's last accepted submission in the task (the chain's <c>LastAccepted</c> record; null when
    /// it has none). With <see cref="ProtocolTask.CarryOptimizer"/> the miner's trace state 0 may carry the optimiser
    /// state of that trace's state H.
    /// </summary>
    public byte[]? CarryFrom { get; init; }
}

/// <summary>
/// A miner (DESIGN §5.2–5.3): derives its data from β, runs H inner steps from θ_r with fresh optimiser
/// state (or, where the task allows it, the optimiser state its last accepted submission ended with),
/// commits the state after every step (trace), quantizes Δ = θ_r − θ_H and signs a submission.
/// </summary>
public sealed class Miner
{
    private byte[]? _previousUpdate;

    /// <summary>Creates a miner.</summary>
    /// <param name="key">Signing key (its public key is the miner's identity in the data assignment).</param>
    /// <param name="strategy">Behaviour.</param>
    public Miner(Ed25519Keys key, MinerStrategy strategy = MinerStrategy.Honest)
    {
        Key = key;
        Strategy = strategy;
    }

    /// <summary>Signing key.</summary>
    public Ed25519Keys Key { get; }

    /// <summary>Behaviour.</summary>
    public MinerStrategy Strategy { get; }

    /// <summary>
    /// How much a graded cheater deviates in a round it cheats (null: the strategy's default). FabricateStep and
    /// ForgeTraceLeaf: the number m of fabricated steps (default 1), at steps ⌊(i + ½)·H/m⌋ for i &lt; m;
    /// ForgeUpdateLeaf: the number of forged update leaves (default 1), at leaves ⌊(i + ½)·L/m⌋; SkipSteps: the
    /// number of skipped final steps (default ⌊H/2⌋). Ignored by the other strategies. Must be in 1..H (or 1..L).
    /// </summary>
    public int? CheatCount { get; init; }

    /// <summary>
    /// Probability of cheating in a given round (default 1: every round). The decision is a pure function of
    /// (miner key, β): the first double of the stream "pot/sim/cheat-decision". In a round it does not cheat the
    /// miner behaves honestly (<see cref="MinerOutput.Deviated"/> is false).
    /// </summary>
    public double CheatProbability { get; init; } = 1;

    /// <summary>Address.</summary>
    public string Address => Key.Address;

    /// <summary>Trains and commits for one round.</summary>
    /// <param name="start">The round.</param>
    /// <param name="engine">An engine for the task (owned by this miner while it runs).</param>
    /// <param name="earlier">Updates already published this round (what a copier can copy).</param>
    /// <param name="store">The miner's chunk store: q, the trace and the checkpoint states go there.</param>
    /// <returns>The submission and its blob server.</returns>
    public MinerOutput Mine(RoundStart start, StepEngine engine, IReadOnlyList<MinerOutput> earlier, IChunkStore store)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(earlier);
        var cpu = CpuClock.Start();
        var task = start.Task;
        int h = task.InnerSteps;
        var strategy = Strategy;
        if (strategy != MinerStrategy.Honest && CheatProbability < 1
            && new ProtocolRandom(Hashing.Domain("pot/sim/cheat-decision", Key.PublicKey, start.Beacon), "decision").NextDouble() >= CheatProbability)
        {
            strategy = MinerStrategy.Honest;
        }
        int leafCount = Updates.LeafCount(start.Model.Length);
        int count = CheatCount ?? (strategy == MinerStrategy.SkipSteps ? h / 2 : 1);
        int countLimit = strategy == MinerStrategy.ForgeUpdateLeaf ? leafCount : h;
        if (strategy is MinerStrategy.FabricateStep or MinerStrategy.ForgeTraceLeaf or MinerStrategy.ForgeUpdateLeaf or MinerStrategy.SkipSteps
            && (count < 1 || count > countLimit))
        {
            throw new ArgumentException($"cheat count {count} is outside 1..{countLimit} for {strategy}");
        }
        var assignment = DataAssignment.Derive(start.Beacon, task.Id, Key.PublicKey, start.Round);
        var trainOn = strategy == MinerStrategy.WrongData ? assignment with { Miner = assignment.Miner ^ 0x5A5A } : assignment;
        var rng = new ProtocolRandom(Hashing.Domain("pot/sim/miner-noise", Key.PublicKey, start.Beacon), "noise");

        var carried = CarriedState(start, engine, store);
        var states = new List<TrainingState> { carried ?? TrainingState.Fresh(start.Model, engine.OptimizerBuffers) };
        var irregular = new SortedSet<int> { 0 };
        var losses = new float[h];
        int skipFrom = strategy == MinerStrategy.SkipSteps ? h - count : h;
        var fabricatedSteps = strategy is MinerStrategy.FabricateStep or MinerStrategy.ForgeTraceLeaf ? Spread(count, h) : [];
        for (int j = 0; j < h; j++)
        {
            if (j >= skipFrom)
            {
                states.Add(states[^1]);
                losses[j] = losses[Math.Max(0, j - 1)];
                irregular.Add(j + 1);
                continue;
            }
            var (next, loss) = engine.Step(states[^1], j, trainOn);
            if (fabricatedSteps.Contains(j))
            {
                // FabricateStep nudges one weight; ForgeTraceLeaf rewrites a whole committed leaf. Either way
                // the committed state is not what step j produces, and only replaying step j shows it.
                int forged = strategy == MinerStrategy.FabricateStep ? 1 : Math.Min(next.Parameters.Length, 1024);
                for (int i = 0; i < forged; i++)
                {
                    next.Parameters[i] += 1e-3f;
                }
                irregular.Add(j + 1);
            }
            states.Add(next);
            losses[j] = strategy == MinerStrategy.FalseLoss ? loss * 0.9f : loss;
        }

        var final = states[h];
        byte[]? forcedBlob = null;
        float[] honestDelta = Updates.Delta(start.Model, final.Parameters);
        float[]? fakeDelta = null;
        MinerOutput? victim = earlier.FirstOrDefault(e => e.Miner.AsSpan().SequenceEqual(Key.PublicKey) is false);
        switch (strategy)
        {
            case MinerStrategy.RandomUpdate:
                double rms = Math.Sqrt(honestDelta.Sum(x => (double)x * x) / honestDelta.Length);
                fakeDelta = honestDelta.Select(_ => (float)((rng.NextDouble() * 2 - 1) * rms * Math.Sqrt(3))).ToArray();
                break;
            case MinerStrategy.ScaledUpdate:
                fakeDelta = honestDelta.Select(x => 4f * x).ToArray();
                break;
            case MinerStrategy.CopyNoisy when victim is not null:
                var copied = Updates.Dequantize(victim.UpdateBlob, honestDelta.Length);
                double crms = Math.Sqrt(copied.Sum(x => (double)x * x) / copied.Length);
                fakeDelta = copied.Select(x => x + (float)((rng.NextDouble() * 2 - 1) * 0.01 * crms)).ToArray();
                break;
            case MinerStrategy.CopyExact when victim is not null:
                forcedBlob = victim.UpdateBlob;
                break;
            case MinerStrategy.ReplayOldUpdate when _previousUpdate is not null:
                forcedBlob = _previousUpdate;
                break;
        }
        if (fakeDelta is not null)
        {
            final = new TrainingState(Updates.Delta(start.Model, fakeDelta), final.OptimizerState, final.OptimizerSteps);
            states[h] = final;
            irregular.Add(h);
        }

        byte[] blob = forcedBlob ?? Updates.Quantize(Updates.Delta(start.Model, final.Parameters));
        if (strategy == MinerStrategy.ForgeUpdateLeaf)
        {
            blob = (byte[])blob.Clone();
            foreach (int forgedLeaf in Spread(count, leafCount))
            {
                int offset = 16 + forgedLeaf * Updates.LeafBytes + 2;
                int code = blob[offset] & 0x0F;
                blob[offset] = (byte)((blob[offset] & 0xF0) | (code == 15 ? 14 : code + 1));
            }
        }

        var leavesList = states.Select(s => s.TraceLeaf()).ToArray();
        byte[] traceRoot = TrainingState.TraceRoot(leavesList);
        var server = new MinerBlobServer(engine.Task, trainOn, leavesList, blob, strategy == MinerStrategy.WithholdChunks, store)
        {
            CarryFrom = carried is null ? null : start.CarryFrom,
        };
        foreach (int j in irregular)
        {
            server.AddCheckpoint(j, states[j]);
        }
        for (int j = 0; j <= h; j += MinerBlobServer.CheckpointInterval)
        {
            server.AddCheckpoint(j, states[j]);
        }
        // State H is what verifiers read θ_H from and what the next round may carry the optimiser state from.
        server.AddCheckpoint(h, states[h]);
        _previousUpdate = blob;
        var payload = new SubmitPayload(start.ChainTaskId, start.Round, start.ModelRoot, Updates.Root(blob), traceRoot,
            losses.Select(BitConverter.SingleToUInt32Bits).ToArray(), (ulong)h * (ulong)task.Training.BatchSize);
        return new MinerOutput(Key.PublicKey, payload, server, blob, strategy == MinerStrategy.LateSubmission, cpu.Seconds)
        {
            Deviated = strategy switch
            {
                MinerStrategy.Honest => false,
                MinerStrategy.ReplayOldUpdate => forcedBlob is not null,
                MinerStrategy.CopyExact => forcedBlob is not null,
                MinerStrategy.CopyNoisy => fakeDelta is not null,
                _ => true,
            },
        };
    }

    /// <summary>
    /// θ_r with the optimiser state of trace state H of the submission <see cref="RoundStart.CarryFrom"/> names, read from
    /// the miner's own store (its trace by the trace root, the state by the hash of trace leaf H); null when the task does
    /// not carry, there is nothing to carry from, or the store no longer holds it (the round then starts fresh, which is
    /// always valid).
    /// </summary>
    internal static TrainingState? CarriedState(RoundStart start, StepEngine engine, IChunkSource store)
    {
        if (!start.Task.CarryOptimizer || start.CarryFrom is not { } root || store.TryGet(root) is not { } traceBlob)
        {
            return null;
        }
        try
        {
            var trace = TrainingState.DecodeTrace(traceBlob, start.Task.InnerSteps + 1, root);
            if (store.TryGet(MerkleHash.HashLeaf(trace[^1])) is not { } stateBlob)
            {
                return null;
            }
            var final = TrainingState.Decode(stateBlob, engine.ParameterCount, engine.OptimizerBuffers);
            var carried = new TrainingState((float[])start.Model.Clone(), final.OptimizerState, final.OptimizerSteps);
            // Only a state whose optimiser part matches the committed leaf H is carried (a corrupt store starts fresh).
            return carried.OptimizerRoot().AsSpan().SequenceEqual(trace[^1].AsSpan(32, 32)) && carried.OptimizerSteps == TrainingState.OptimizerStepsOf(trace[^1])
                ? carried : null;
        }
        catch (PotFormatException)
        {
            return null;
        }
    }

    /// <summary>m indices spread evenly over 0..n−1: ⌊(i + ½)·n/m⌋ for i &lt; m (m = 1 gives ⌊n/2⌋).</summary>
    private static HashSet<int> Spread(int m, int n)
    {
        var set = new HashSet<int>();
        for (int i = 0; i < m; i++)
        {
            set.Add((int)(((2L * i + 1) * n) / (2L * m)));
        }
        return set;
    }
}

/// <summary>
/// Serves a miner's blobs by commitment from its chunk store: q by the update root, the trace by the trace root,
/// state j by the hash of trace leaf j, and the earlier trace its state 0 carries from (<see cref="CarryFrom"/>). The
/// store keeps full states only every <see cref="CheckpointInterval"/> steps, at state H, and at any state that the
/// honest step function would not produce; the others are recomputed on demand: storage about ⌈(H+1)/P⌉·(1+b)·4·n
/// bytes for n parameters and b optimiser buffers instead of (H+1)·(1+b)·4·n.
/// </summary>
public sealed class MinerBlobServer : IChunkSource, IServingClock
{
    /// <summary>Steps between stored full states P.</summary>
    public const int CheckpointInterval = 10;

    private readonly ProtocolTask _task;
    private readonly DataAssignment _assignment;
    private readonly byte[][] _traceLeaves;
    private readonly byte[] _updateRoot;
    private readonly byte[] _traceRoot;
    private readonly bool _withhold;
    private readonly IChunkStore _store;
    private readonly SortedSet<int> _checkpoints = [];
    private readonly Dictionary<string, int> _stepOfLeafHash = new(StringComparer.Ordinal);
    private StepEngine? _engine;
    // A node serves blobs from many request threads at once; the engine is single-threaded state, so
    // recomputations run one at a time (concurrent ones corrupted each other's states).
    private readonly object _recompute = new();

    internal MinerBlobServer(ProtocolTask task, DataAssignment assignment, byte[][] traceLeaves, byte[] updateBlob, bool withhold, IChunkStore store)
    {
        _task = task;
        _assignment = assignment;
        _traceLeaves = traceLeaves;
        _updateRoot = Updates.Root(updateBlob);
        _traceRoot = TrainingState.TraceRoot(traceLeaves);
        _withhold = withhold;
        _store = store;
        store.Put(_updateRoot, updateBlob);
        store.Put(_traceRoot, TrainingState.EncodeTrace(traceLeaves));
        for (int j = traceLeaves.Length - 1; j >= 0; j--)
        {
            _stepOfLeafHash[Hex.Encode(MerkleHash.HashLeaf(traceLeaves[j]))] = j;
        }
    }

    /// <summary>The earlier trace whose state H this round's state 0 carries the optimiser state from (served too, so verifiers can check the link); null when the round started fresh.</summary>
    public byte[]? CarryFrom { get; init; }

    /// <summary>Seconds spent reading and recomputing states for requests (charged to the miner).</summary>
    public double ServeSeconds { get; private set; }

    /// <summary>Number of full states held.</summary>
    public int StoredStates => _checkpoints.Count;

    internal void AddCheckpoint(int step, TrainingState state)
    {
        if (_checkpoints.Add(step))
        {
            _store.Put(MerkleHash.HashLeaf(_traceLeaves[step]), state.Encode());
        }
    }

    /// <inheritdoc />
    public byte[]? TryGet(ReadOnlySpan<byte> commitment)
    {
        if (_withhold)
        {
            return null;
        }
        if (commitment.SequenceEqual(_updateRoot) || commitment.SequenceEqual(_traceRoot) || (CarryFrom is { } carry && commitment.SequenceEqual(carry)))
        {
            return _store.TryGet(commitment);
        }
        return _stepOfLeafHash.TryGetValue(Hex.Encode(commitment), out int step) ? State(step) : null;
    }

    private byte[]? State(int step)
    {
        lock (_recompute) return StateLocked(step);
    }

    private byte[]? StateLocked(int step)
    {
        var clock = CpuClock.Start();
        try
        {
            int from = _checkpoints.GetViewBetween(0, step).Max;
            byte[]? blob = _store.TryGet(MerkleHash.HashLeaf(_traceLeaves[from]));
            if (blob is null || from == step)
            {
                return blob;
            }
            _engine ??= new StepEngine(_task);
            var state = TrainingState.Decode(blob, _engine.ParameterCount, _engine.OptimizerBuffers);
            for (int j = from; j < step; j++)
            {
                state = _engine.Step(state, j, _assignment).Next;
            }
            return state.Encode();
        }
        finally
        {
            ServeSeconds += clock.Seconds;
        }
    }
}
