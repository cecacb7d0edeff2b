using Pot.Learning.Data;
using Pot.Learning.Models;

namespace Pot.Learning.Training;

/// <summary>
/// Everything that determines a training run besides the data: model sizes, optimiser and its
/// hyper-parameters, schedule, batch size, seed. Two runs with equal configs produce the same bits.
/// </summary>
public sealed record TrainingConfig
{
    /// <summary>Task name (see <see cref="Tasks.Names"/>).</summary>
    public required string Task { get; init; }

    /// <summary>Number of optimiser steps.</summary>
    public int Steps { get; init; } = 1000;

    /// <summary>Seed of initialisation and data order.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Examples per step.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Peak learning rate.</summary>
    public float LearningRate { get; init; } = 1e-3f;

    /// <summary>Final learning rate as a fraction of the peak (linear decay after warm-up).</summary>
    public float MinLearningRateRatio { get; init; } = 0.1f;

    /// <summary>Linear warm-up steps.</summary>
    public int WarmupSteps { get; init; } = 100;

    /// <summary>
    /// Steps taken before this run's step 0 on the schedule (default 0): step j runs at the learning rate of
    /// schedule step j + offset. The protocol uses it to continue one warm-up/decay schedule across rounds
    /// (round r starts at r·H).
    /// </summary>
    public long ScheduleOffset { get; init; }

    /// <summary>"adamw", "sgd" or "sgd-momentum".</summary>
    public string Optimizer { get; init; } = "adamw";

    /// <summary>Weight decay (decoupled for AdamW, L2 for SGD).</summary>
    public float WeightDecay { get; init; } = 0.01f;

    /// <summary>SGD momentum (for "sgd-momentum").</summary>
    public float Momentum { get; init; } = 0.9f;

    /// <summary>AdamW β₁.</summary>
    public float Beta1 { get; init; } = 0.9f;

    /// <summary>AdamW β₂.</summary>
    public float Beta2 { get; init; } = 0.99f;

    /// <summary>Gradient clipping by global norm; 0 disables.</summary>
    public float ClipNorm { get; init; } = 1f;

    /// <summary>GPT sizes (token tasks).</summary>
    public GptConfig? Gpt { get; init; }

    /// <summary>MLP sizes (image tasks).</summary>
    public MlpConfig? Mlp { get; init; }

    /// <summary>The learning rate of step <paramref name="step"/> (0-based), at schedule step
    /// s = step + <see cref="ScheduleOffset"/>: linear warm-up from lr/warmup to lr over the warm-up steps,
    /// then linear decay to lr·minRatio at the last step, constant after it.
    /// Computed in float64 and rounded once.</summary>
    /// <param name="step">The step.</param>
    /// <returns>The rate.</returns>
    public float LearningRateAt(int step)
    {
        double lr = LearningRate;
        long s = step + ScheduleOffset;
        if (s < WarmupSteps)
        {
            return (float)(lr * (s + 1) / WarmupSteps);
        }

        int decaySteps = Math.Max(1, Steps - WarmupSteps);
        double progress = Math.Min(1.0, (double)(s - WarmupSteps) / decaySteps);
        return (float)(lr * (1.0 - progress * (1.0 - MinLearningRateRatio)));
    }

    /// <summary>Throws with a clear message when a value is out of range.</summary>
    public void Validate()
    {
        Require(Steps >= 0, $"steps {Steps} must be ≥ 0");
        Require(BatchSize is >= 1 and <= 65536, $"batch size {BatchSize} must be in [1, 65536]");
        Require(LearningRate > 0f && float.IsFinite(LearningRate), $"learning rate {LearningRate} must be positive and finite");
        Require(MinLearningRateRatio is >= 0f and <= 1f, $"minimum learning-rate ratio {MinLearningRateRatio} must be in [0, 1]");
        Require(WarmupSteps >= 0, $"warm-up steps {WarmupSteps} must be ≥ 0");
        Require(ScheduleOffset >= 0, $"schedule offset {ScheduleOffset} must be ≥ 0");
        Require(Optimizer is "adamw" or "sgd" or "sgd-momentum", $"unknown optimizer '{Optimizer}', expected adamw, sgd or sgd-momentum");
        Require(ClipNorm >= 0f, $"clip norm {ClipNorm} must be ≥ 0");
        Require(Gpt is not null || Mlp is not null, "a model configuration (GPT or MLP) is required");
        Gpt?.Validate();
        Mlp?.Validate();
    }

    /// <summary>
    /// The documented default configuration of a task (docs/engine.md, "Default tasks").
    /// </summary>
    /// <param name="task">Task name.</param>
    /// <returns>The defaults.</returns>
    public static TrainingConfig Default(string task) => task switch
    {
        "addition" => new TrainingConfig
        {
            Task = task, Steps = 1500, BatchSize = 64, LearningRate = 3e-3f, WarmupSteps = 100, WeightDecay = 0.01f,
            Gpt = new GptConfig(VocabSize: 12, BlockSize: 8, Layers: 2, Heads: 4, Embed: 128),
        },
        "addition3" => new TrainingConfig
        {
            Task = task, Steps = 5000, BatchSize = 64, LearningRate = 2e-3f, WarmupSteps = 100, WeightDecay = 0.01f,
            Gpt = new GptConfig(VocabSize: 12, BlockSize: 11, Layers: 3, Heads: 4, Embed: 128),
        },
        "kjv" => new TrainingConfig
        {
            Task = task, Steps = 1000, BatchSize = 32, LearningRate = 2e-3f, WarmupSteps = 100, WeightDecay = 0.01f,
            Gpt = new GptConfig(VocabSize: 0, BlockSize: 64, Layers: 4, Heads: 4, Embed: 128),
        },
        "fashion-mnist" => new TrainingConfig
        {
            Task = task, Steps = 3000, BatchSize = 128, LearningRate = 1e-3f, WarmupSteps = 100, WeightDecay = 0.01f,
            Mlp = new MlpConfig(Inputs: 784, Hidden: 256, Classes: 10),
        },
        _ => throw new ArgumentException($"unknown task '{task}'; valid tasks: {string.Join(", ", Tasks.Names)}"),
    };

    private static void Require(bool ok, string message)
    {
        if (!ok)
        {
            throw new ArgumentException($"invalid training configuration: {message}");
        }
    }
}
