using BenchmarkDotNet.Attributes;
using Pot.Learning.Kernels;
using Pot.Learning.Training;

namespace Pot.Benchmarks;

/// <summary>
/// Training throughput of the default models: one full optimiser step (batch, forward, backward,
/// clipping, AdamW). OperationsPerInvoke is the number of tokens (or images) in a step, so the
/// reported mean is time per token and tokens/s = 1 / mean.
/// </summary>
[MemoryDiagnoser]
public class TrainingBenchmarks
{
    private Trainer addition = null!;
    private Trainer kjv = null!;
    private Parallelism parallelism = null!;

    /// <summary>Threads used by the step.</summary>
    [Params(1, 2)]
    public int Threads { get; set; }

    /// <summary>Builds the trainers once.</summary>
    [GlobalSetup]
    public void Setup()
    {
        parallelism = new Parallelism(Threads);
        addition = Trainer.Create(TrainingConfig.Default("addition") with { Steps = int.MaxValue });
        kjv = Trainer.Create(TrainingConfig.Default("kjv") with { Steps = int.MaxValue });
    }

    /// <summary>One step of the default addition model: 64 × 8 = 512 tokens.</summary>
    [Benchmark(OperationsPerInvoke = 512)]
    public void AdditionStepPerToken() => addition.TrainStep(parallelism);

    /// <summary>One step of the kjv model: 32 × 64 = 2048 tokens.</summary>
    [Benchmark(OperationsPerInvoke = 2048)]
    public void KjvStepPerToken() => kjv.TrainStep(parallelism);
}
