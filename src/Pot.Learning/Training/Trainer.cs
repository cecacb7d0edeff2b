using System.Security.Cryptography;
using Pot.Learning.Data;
using Pot.Learning.Kernels;
using Pot.Learning.Models;
using Pot.Learning.Optim;

namespace Pot.Learning.Training;

/// <summary>Progress of one training step.</summary>
/// <param name="Step">Steps completed (1-based).</param>
/// <param name="Loss">Training loss of the step's batch.</param>
/// <param name="LearningRate">Learning rate used.</param>
/// <param name="GradientNorm">Global gradient norm before clipping.</param>
public readonly record struct StepReport(int Step, float Loss, float LearningRate, float GradientNorm);

/// <summary>
/// Runs optimisation steps on a trainable model: batch from (seed, round, miner, step), forward,
/// backward, clip, optimiser update. Every step is a pure function of the state before it and the
/// config, so a verifier can replay any single step from a committed state.
/// </summary>
public sealed class Trainer
{
    /// <summary>Creates a trainer; see <see cref="Create"/> for building one from a config.</summary>
    /// <param name="config">The configuration.</param>
    /// <param name="trainable">The model and task.</param>
    /// <param name="optimizer">The optimiser.</param>
    public Trainer(TrainingConfig config, ITrainable trainable, IOptimizer optimizer)
    {
        Config = config;
        Trainable = trainable;
        Optimizer = optimizer;
    }

    /// <summary>The configuration.</summary>
    public TrainingConfig Config { get; }

    /// <summary>The model and task.</summary>
    public ITrainable Trainable { get; }

    /// <summary>The optimiser (its state is part of the training state).</summary>
    public IOptimizer Optimizer { get; }

    /// <summary>Steps completed.</summary>
    public int Step { get; set; }

    /// <summary>Round number used in batch keys (0 outside the protocol).</summary>
    public ulong Round { get; init; }

    /// <summary>Miner id used in batch keys (0 outside the protocol).</summary>
    public ulong Miner { get; init; }

    /// <summary>
    /// Builds the task, the model (initialised from the seed) and the optimiser of a config. For
    /// token tasks the vocabulary size comes from the task and must fit the model.
    /// </summary>
    /// <param name="config">The configuration (validated here).</param>
    /// <returns>A trainer at step 0.</returns>
    public static Trainer Create(TrainingConfig config)
    {
        config = Resolve(config);
        ITrainable trainable;
        if (config.Gpt is not null)
        {
            var task = CreateTokenTask(config);
            var model = new Gpt(config.Gpt);
            model.Initialize(config.Seed);
            trainable = new TokenTrainable(model, task);
        }
        else
        {
            var task = Tasks.CreateImage(config.Task);
            var model = new Mlp(config.Mlp!);
            model.Initialize(config.Seed);
            trainable = new ImageTrainable(model, task);
        }

        return new Trainer(config, trainable, CreateOptimizer(config, trainable.Parameters.Count));
    }

    /// <summary>Fills in task-dependent sizes (vocabulary) and validates the config.</summary>
    /// <param name="config">A config.</param>
    /// <returns>The resolved config.</returns>
    public static TrainingConfig Resolve(TrainingConfig config)
    {
        if (!Tasks.Names.Contains(config.Task))
        {
            throw new ArgumentException($"unknown task '{config.Task}'; valid tasks: {string.Join(", ", Tasks.Names)}");
        }

        if (config.Gpt is { VocabSize: 0 } g)
        {
            config = config with { Gpt = g with { VocabSize = CreateTokenTask(config).VocabSize } };
        }

        config.Validate();
        return config;
    }

    private static ITokenTask CreateTokenTask(TrainingConfig config) =>
        config.Task == "kjv" ? new KjvTask(config.Gpt!.BlockSize) : Tasks.CreateToken(config.Task);

    /// <summary>Creates the optimiser named by the config.</summary>
    /// <param name="config">The config.</param>
    /// <param name="parameterCount">Parameter vector length.</param>
    /// <returns>The optimiser.</returns>
    public static IOptimizer CreateOptimizer(TrainingConfig config, long parameterCount) => config.Optimizer switch
    {
        "adamw" => new AdamW(parameterCount, config.Beta1, config.Beta2, 1e-8f, config.WeightDecay),
        "sgd" => new Sgd(parameterCount, 0f, config.WeightDecay),
        "sgd-momentum" => new Sgd(parameterCount, config.Momentum, config.WeightDecay),
        _ => throw new ArgumentException($"unknown optimizer '{config.Optimizer}', expected adamw, sgd or sgd-momentum"),
    };

    /// <summary>Runs one step and returns its report.</summary>
    /// <param name="parallelism">Threads.</param>
    /// <returns>The report.</returns>
    public StepReport TrainStep(Parallelism parallelism)
    {
        var key = new BatchKey(Config.Seed, Round, Miner, (ulong)Step);
        float loss = Trainable.ComputeGradients(key, Config.BatchSize, parallelism);
        float norm = GradientClipping.Clip(Trainable.Parameters, Config.ClipNorm);
        float lr = Config.LearningRateAt(Step);
        Optimizer.Step(Trainable.Parameters, lr);
        Step++;
        return new StepReport(Step, loss, lr, norm);
    }

    /// <summary>
    /// The hex SHA-256 of the parameters as fp32 little-endian in canonical order (the engine's
    /// model digest; the protocol's Merkle model root is computed from the same bytes).
    /// </summary>
    /// <param name="parameters">Parameters.</param>
    /// <returns>Lower-case hex digest.</returns>
    public static string ParameterDigest(ParameterSet parameters)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> chunk = stackalloc byte[4096];
        var values = parameters.Values.Span;
        for (int i = 0; i < values.Length; i += 1024)
        {
            int n = Math.Min(1024, values.Length - i);
            for (int j = 0; j < n; j++)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(chunk.Slice(4 * j, 4), values[i + j]);
            }

            sha.AppendData(chunk[..(4 * n)]);
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
