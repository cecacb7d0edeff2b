using BenchmarkDotNet.Attributes;
using Pot.Learning.Kernels;
using Pot.Learning.Training;
using Pot.Protocol;

namespace Pot.Benchmarks.Protocol;

/// <summary>
/// One optimiser step of the default <c>addition</c> model as the protocol runs it, against the same step
/// in plain (centralized) training: <see cref="CentralizedStep"/> is <see cref="Trainer.TrainStep"/> alone;
/// <see cref="MinerStep"/> is <see cref="StepEngine.Step"/> (load the state, step, capture the state) plus
/// the trace leaf of the new state (Merkle roots of parameters and optimiser state), what a miner pays per
/// inner step; <see cref="VerifierReplay"/> is <see cref="StepEngine.Replay"/> of an encoded state (decode,
/// leaf before, step, leaf after), what a verifier pays per replayed step. steps/s = 10⁹ / mean (ns).
/// </summary>
[MemoryDiagnoser]
public class ProtocolStepBenchmarks
{
    private Trainer _centralized = null!;
    private StepEngine _engine = null!;
    private TrainingState _state = null!;
    private byte[] _stateBlob = [];
    private DataAssignment _assignment;
    private Parallelism _parallelism = null!;

    /// <summary>Threads used by the step.</summary>
    [Params(1)]
    public int Threads { get; set; }

    /// <summary>Builds the trainer, the engine and a state after one step.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _parallelism = new Parallelism(Threads);
        _centralized = Trainer.Create(TrainingConfig.Default("addition") with { Steps = int.MaxValue });
        var task = ProtocolTask.Default("addition");
        _engine = new StepEngine(task, _parallelism);
        _assignment = DataAssignment.Derive(new byte[32], task.Id, new byte[32], 0);
        _state = _engine.Step(TrainingState.Fresh(_engine.InitialModel(), _engine.OptimizerBuffers), 0, _assignment).Next;
        _stateBlob = _state.Encode();
    }

    /// <summary>Plain training step (no state copies, no commitments).</summary>
    [Benchmark(Baseline = true)]
    public void CentralizedStep() => _centralized.TrainStep(_parallelism);

    /// <summary>Miner inner step: engine step from a state, then the trace leaf of the state after it.</summary>
    /// <returns>The trace leaf.</returns>
    [Benchmark]
    public byte[] MinerStep() => _engine.Step(_state, 1, _assignment).Next.TraceLeaf();

    /// <summary>Verifier replay of one step from an encoded state (both trace leaves).</summary>
    /// <returns>The leaf after the step.</returns>
    [Benchmark]
    public byte[] VerifierReplay() => _engine.Replay(_stateBlob, 1, _assignment).LeafAfter;
}
