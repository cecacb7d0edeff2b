using System.Buffers.Binary;
using Pot.Learning.Data;
using Pot.Learning.Kernels;
using Pot.Learning.Training;

namespace Pot.Protocol;

/// <summary>
/// The data a miner must train on in a round: batch j of the round is <c>BatchKey(Seed, Round, Miner, j)</c>
/// of the task. Derived from the beacon so nobody can pick their data before the round starts.
/// </summary>
/// <param name="Seed">Data seed (first 8 bytes of the assignment hash).</param>
/// <param name="Round">Round number.</param>
/// <param name="Miner">Miner data id (bytes 8–16 of the assignment hash).</param>
public readonly record struct DataAssignment(ulong Seed, ulong Round, ulong Miner)
{
    /// <summary>
    /// a = SHA-256("pot/data-assignment/v1" ‖ 0 ‖ β ‖ task id ‖ miner public key ‖ round) with length prefixes
    /// (<see cref="Hashing.Domain"/>); Seed = a[0..8] and Miner = a[8..16] as uint64 LE.
    /// </summary>
    /// <param name="beacon">β, the hash of the block that finalized the round's model.</param>
    /// <param name="taskId">Task id.</param>
    /// <param name="minerPublicKey">Miner's Ed25519 public key.</param>
    /// <param name="round">Round number.</param>
    /// <returns>The assignment.</returns>
    public static DataAssignment Derive(ReadOnlySpan<byte> beacon, string taskId, ReadOnlySpan<byte> minerPublicKey, ulong round)
    {
        byte[] a = Hashing.Domain("pot/data-assignment/v1", beacon.ToArray(), Hashing.Utf8(taskId), minerPublicKey.ToArray(), Hashing.U64(round));
        return new DataAssignment(BinaryPrimitives.ReadUInt64LittleEndian(a), round, BinaryPrimitives.ReadUInt64LittleEndian(a.AsSpan(8)));
    }

    /// <summary>The key of inner step <paramref name="step"/>.</summary>
    /// <param name="step">Inner step (0-based).</param>
    /// <returns>The batch key.</returns>
    public BatchKey Key(int step) => new(Seed, Round, Miner, (ulong)step);
}

/// <summary>
/// The deterministic engine bound to one task: runs single inner steps from a given state (for miners
/// and for replay), and evaluates losses of arbitrary parameter vectors. One instance holds one model's
/// buffers, so it is not thread-safe; every role uses its own.
/// </summary>
public sealed class StepEngine
{
    private readonly Trainer _trainer;

    /// <summary>Builds the engine for a task.</summary>
    /// <param name="task">The task.</param>
    /// <param name="parallelism">Threads (results do not depend on it).</param>
    public StepEngine(ProtocolTask task, Parallelism? parallelism = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        Task = task;
        Parallelism = parallelism ?? Parallelism.Single;
        _trainer = Trainer.Create(task.InnerConfig);
        ParameterCount = _trainer.Trainable.Parameters.Values.Length;
        OptimizerBuffers = _trainer.Optimizer.State.Count;
        if (task.InitialModel is { } initial && initial.Length != ParameterCount)
        {
            throw new ArgumentException($"task {task.Id}: initial model has {initial.Length} values; the model needs {ParameterCount}");
        }
    }

    /// <summary>The task.</summary>
    public ProtocolTask Task { get; }

    /// <summary>Threads.</summary>
    public Parallelism Parallelism { get; }

    /// <summary>Number of parameters.</summary>
    public int ParameterCount { get; }

    /// <summary>Number of optimiser state buffers of the inner optimiser.</summary>
    public int OptimizerBuffers { get; }

    /// <summary>The task's initial model: the fine-tuning start if given, else the seeded initialisation.</summary>
    /// <returns>A copy of the values.</returns>
    public float[] InitialModel() => Task.InitialModel is { } m
        ? (float[])m.Clone()
        : (float[])Trainer.Create(Task.InnerConfig).Trainable.Parameters.Values.Array.Clone();

    /// <summary>Runs inner step <paramref name="step"/> from <paramref name="state"/> on the assigned data.</summary>
    /// <param name="state">State after <paramref name="step"/> steps.</param>
    /// <param name="step">Inner step index j (its batch and learning rate).</param>
    /// <param name="assignment">The miner's data.</param>
    /// <returns>The state after the step and the step's training loss.</returns>
    public (TrainingState Next, float Loss) Step(TrainingState state, int step, DataAssignment assignment)
    {
        ArgumentNullException.ThrowIfNull(state);
        state.LoadInto(_trainer);
        var trainer = new Trainer(Task.InnerConfigAt(assignment.Round) with { Seed = assignment.Seed }, _trainer.Trainable, _trainer.Optimizer)
        {
            Step = step, Round = assignment.Round, Miner = assignment.Miner,
        };
        var report = trainer.TrainStep(Parallelism);
        return (TrainingState.Capture(trainer), report.Loss);
    }

    /// <summary>
    /// Replays inner step <paramref name="step"/> from an encoded state (<see cref="TrainingState.Encode"/>) without
    /// materialising it: the blob is decoded straight into the engine's buffers, the trace leaf of the state before
    /// is computed from them, the step runs, and the trace leaf after is computed in place. Same bits as
    /// <see cref="Step"/>, without its three copies of the state (the verifier's hot path).
    /// </summary>
    /// <param name="stateBlob">The encoded state after <paramref name="step"/> steps.</param>
    /// <param name="step">Inner step index j.</param>
    /// <param name="assignment">The miner's data.</param>
    /// <returns>The trace leaves before and after the step and the step's loss.</returns>
    /// <exception cref="Pot.Commitments.PotFormatException">The blob is malformed or has other sizes.</exception>
    public (byte[] LeafBefore, byte[] LeafAfter, float Loss) Replay(ReadOnlySpan<byte> stateBlob, int step, DataAssignment assignment)
    {
        TrainingState.CheckHeader(stateBlob, ParameterCount, OptimizerBuffers);
        int n = ParameterCount;
        var parameters = _trainer.Trainable.Parameters.Values.Array;
        var buffers = _trainer.Optimizer.State;
        int offset = 28;
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(stateBlob.Slice(offset, n * 4)).CopyTo(parameters);
        for (int i = 0; i < buffers.Count; i++)
        {
            offset += n * 4;
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(stateBlob.Slice(offset, n * 4)).CopyTo(buffers[i].Buffer.Array);
        }
        _trainer.Optimizer.StepCount = BinaryPrimitives.ReadInt64LittleEndian(stateBlob[20..]);
        byte[] before = CurrentTraceLeaf();
        var trainer = new Trainer(Task.InnerConfigAt(assignment.Round) with { Seed = assignment.Seed }, _trainer.Trainable, _trainer.Optimizer)
        {
            Step = step, Round = assignment.Round, Miner = assignment.Miner,
        };
        var report = trainer.TrainStep(Parallelism);
        return (before, CurrentTraceLeaf(), report.Loss);
    }

    private byte[] CurrentTraceLeaf()
    {
        var buffers = _trainer.Optimizer.State;
        var optimizer = new ReadOnlyMemory<float>[buffers.Count];
        for (int i = 0; i < optimizer.Length; i++)
        {
            optimizer[i] = buffers[i].Buffer.Array;
        }
        return TrainingState.EncodeTraceLeaf(Pot.Commitments.ModelCommitment.ComputeRoot([_trainer.Trainable.Parameters.Values.Array]),
            Pot.Commitments.ModelCommitment.ComputeRoot(optimizer), _trainer.Optimizer.StepCount);
    }

    /// <summary>Mean loss of <paramref name="parameters"/> on the training batch of <paramref name="key"/>.</summary>
    /// <param name="parameters">Model values.</param>
    /// <param name="key">Batch key.</param>
    /// <param name="batchSize">Rows.</param>
    /// <returns>The loss.</returns>
    public float Loss(float[] parameters, BatchKey key, int batchSize)
    {
        Load(parameters);
        return _trainer.Trainable.Loss(key, batchSize, Parallelism);
    }

    /// <summary>Per-example losses of <paramref name="parameters"/> on the training batch of <paramref name="key"/> (see <see cref="ITrainable.ExampleLosses"/>).</summary>
    /// <param name="parameters">Model values.</param>
    /// <param name="key">Batch key.</param>
    /// <param name="batchSize">Examples.</param>
    /// <param name="perExample">Receives the losses.</param>
    /// <returns>The mean loss, bit-identical to <see cref="Loss"/>.</returns>
    public float ExampleLosses(float[] parameters, BatchKey key, int batchSize, Span<float> perExample)
    {
        Load(parameters);
        return _trainer.Trainable.ExampleLosses(key, batchSize, Parallelism, perExample);
    }

    /// <summary>Held-out evaluation of <paramref name="parameters"/>.</summary>
    /// <param name="parameters">Model values.</param>
    /// <param name="maxBatches">Validation batches.</param>
    /// <returns>The evaluation.</returns>
    public Evaluation Evaluate(float[] parameters, int maxBatches = 20)
    {
        Load(parameters);
        return _trainer.Trainable.Evaluate(Parallelism, maxBatches);
    }

    /// <summary>The gradient of the loss on batch <paramref name="key"/> at <paramref name="parameters"/> (no clipping).</summary>
    /// <param name="parameters">Model values.</param>
    /// <param name="key">Batch key.</param>
    /// <param name="batchSize">Rows.</param>
    /// <returns>A copy of the gradient.</returns>
    public float[] Gradient(float[] parameters, BatchKey key, int batchSize)
    {
        Load(parameters);
        _trainer.Trainable.ComputeGradients(key, batchSize, Parallelism);
        return (float[])_trainer.Trainable.Parameters.Gradients.Array.Clone();
    }

    private void Load(float[] parameters)
    {
        if (parameters.Length != ParameterCount)
        {
            throw new ArgumentException($"parameter vector has {parameters.Length} values; the model of task {Task.Id} has {ParameterCount}");
        }
        parameters.CopyTo(_trainer.Trainable.Parameters.Values.Array, 0);
    }
}
