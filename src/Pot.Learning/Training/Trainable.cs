using Pot.Learning.Data;
using Pot.Learning.Kernels;
using Pot.Learning.Models;

namespace Pot.Learning.Training;

/// <summary>Result of evaluating a model on held-out data.</summary>
/// <param name="ValidationLoss">Mean cross-entropy (nats) on the validation / test data.</param>
/// <param name="Accuracy">Exact-match or classification accuracy in [0, 1], where the task has one.</param>
/// <param name="Examples">Number of examples the accuracy was measured on.</param>
public sealed record Evaluation(double ValidationLoss, double? Accuracy, int Examples);

/// <summary>A model bound to its task: what the trainer needs to compute gradients and evaluate.</summary>
public interface ITrainable
{
    /// <summary>The task.</summary>
    string TaskName { get; }

    /// <summary>The model's parameters and gradients.</summary>
    ParameterSet Parameters { get; }

    /// <summary>Tokens (or examples) processed by one step of <paramref name="batchSize"/>.</summary>
    /// <param name="batchSize">Batch size.</param>
    /// <returns>Count used for throughput.</returns>
    long TokensPerStep(int batchSize);

    /// <summary>Sets the gradients of the batch selected by <paramref name="key"/> and returns its loss.</summary>
    /// <param name="key">Batch identity.</param>
    /// <param name="batchSize">Batch size.</param>
    /// <param name="parallelism">Threads.</param>
    /// <returns>Mean training loss of the batch.</returns>
    float ComputeGradients(BatchKey key, int batchSize, Parallelism parallelism);

    /// <summary>Loss of the batch selected by <paramref name="key"/> without touching gradients.</summary>
    /// <param name="key">Batch identity.</param>
    /// <param name="batchSize">Batch size.</param>
    /// <param name="parallelism">Threads.</param>
    /// <returns>Mean loss.</returns>
    float Loss(BatchKey key, int batchSize, Parallelism parallelism);

    /// <summary>
    /// Per-example losses on the training batch of <paramref name="key"/>: example i's loss is the mean over its
    /// scored positions (targets ≠ −1) of the row losses, summed left to right; the return value is the batch's mean
    /// loss exactly as <see cref="Loss"/> computes it.
    /// </summary>
    /// <param name="key">Batch key.</param>
    /// <param name="batchSize">Examples.</param>
    /// <param name="parallelism">Threads (results do not depend on it).</param>
    /// <param name="perExample">Receives <paramref name="batchSize"/> losses.</param>
    /// <returns>The mean loss.</returns>
    float ExampleLosses(BatchKey key, int batchSize, Parallelism parallelism, Span<float> perExample);

    /// <summary>Evaluates on held-out data.</summary>
    /// <param name="parallelism">Threads.</param>
    /// <param name="maxBatches">Upper bound on validation batches for the loss (the accuracy set is fixed).</param>
    /// <returns>The evaluation.</returns>
    Evaluation Evaluate(Parallelism parallelism, int maxBatches = 20);
}

/// <summary>A GPT trained on a token task (addition, kjv).</summary>
public sealed class TokenTrainable : ITrainable
{
    /// <summary>Held-out problems used for exact-match accuracy on addition tasks.</summary>
    public const int AccuracyProblems = 1000;

    /// <summary>Binds a model to a task.</summary>
    /// <param name="model">The model.</param>
    /// <param name="task">The task (its vocabulary and sequence length must fit the model).</param>
    public TokenTrainable(Gpt model, ITokenTask task)
    {
        if (model.Config.VocabSize != task.VocabSize || model.Config.BlockSize < task.SeqLen)
        {
            throw new ArgumentException($"model (vocabulary {model.Config.VocabSize}, block {model.Config.BlockSize}) does not fit task {task.Name} (vocabulary {task.VocabSize}, sequence {task.SeqLen})");
        }

        Model = model;
        Task = task;
    }

    /// <summary>The model.</summary>
    public Gpt Model { get; }

    /// <summary>The task.</summary>
    public ITokenTask Task { get; }

    /// <inheritdoc />
    public string TaskName => Task.Name;

    /// <inheritdoc />
    public ParameterSet Parameters => Model.Parameters;

    /// <inheritdoc />
    public long TokensPerStep(int batchSize) => (long)batchSize * Task.SeqLen;

    /// <inheritdoc />
    public float ComputeGradients(BatchKey key, int batchSize, Parallelism parallelism)
    {
        var batch = Task.TrainBatch(key, batchSize);
        float loss = Model.Forward(batch.Inputs, batch.Targets, batch.BatchSize, batch.SeqLen, parallelism);
        Model.Backward(parallelism);
        return loss;
    }

    /// <inheritdoc />
    public float Loss(BatchKey key, int batchSize, Parallelism parallelism)
    {
        var batch = Task.TrainBatch(key, batchSize);
        return Model.Forward(batch.Inputs, batch.Targets, batch.BatchSize, batch.SeqLen, parallelism);
    }

    /// <inheritdoc />
    public float ExampleLosses(BatchKey key, int batchSize, Parallelism parallelism, Span<float> perExample)
    {
        var batch = Task.TrainBatch(key, batchSize);
        if (perExample.Length != batch.BatchSize)
        {
            throw new ArgumentException($"expected room for {batch.BatchSize} example losses, got {perExample.Length}");
        }
        float mean = Model.Forward(batch.Inputs, batch.Targets, batch.BatchSize, batch.SeqLen, parallelism);
        var rows = Model.RowLosses;
        for (int b = 0; b < batch.BatchSize; b++)
        {
            float sum = 0f;
            int count = 0;
            for (int t = 0; t < batch.SeqLen; t++)
            {
                int r = b * batch.SeqLen + t;
                if (batch.Targets[r] >= 0)
                {
                    sum += rows[r];
                    count++;
                }
            }
            perExample[b] = count == 0 ? 0f : sum / count;
        }
        return mean;
    }

    /// <inheritdoc />
    public Evaluation Evaluate(Parallelism parallelism, int maxBatches = 20)
    {
        const int batchSize = 64;
        int batches = Math.Min(maxBatches, Task.ValidationBatchCount(batchSize));
        double total = 0;
        for (int i = 0; i < batches; i++)
        {
            var batch = Task.ValidationBatch(i, batchSize);
            total += Model.Forward(batch.Inputs, batch.Targets, batch.BatchSize, batch.SeqLen, parallelism);
        }

        double loss = batches == 0 ? double.NaN : total / batches;
        if (Task is not AdditionTask addition)
        {
            return new Evaluation(loss, null, 0);
        }

        var problems = addition.HeldOut(Math.Min(AccuracyProblems, addition.HeldOutCount));
        int correct = 0;
        var answers = GreedyAnswers(addition, problems.Select(p => p.Prompt).ToArray(), parallelism);
        for (int i = 0; i < problems.Count; i++)
        {
            if (answers[i] == problems[i].Answer)
            {
                correct++;
            }
        }

        return new Evaluation(loss, (double)correct / problems.Count, problems.Count);
    }

    /// <summary>
    /// Greedy answers for equal-length prompts, decoded as a batch (one forward per answer token).
    /// </summary>
    /// <param name="task">The addition task.</param>
    /// <param name="prompts">Prompts such as "05+37=".</param>
    /// <param name="parallelism">Threads.</param>
    /// <returns>The generated answer strings (as the task writes them, e.g. reversed digits).</returns>
    public string[] GreedyAnswers(AdditionTask task, IReadOnlyList<string> prompts, Parallelism parallelism)
    {
        int n = prompts.Count, promptLength = task.PromptLength, answerLength = task.AnswerLength;
        var context = new int[n * (promptLength + answerLength)];
        int width = promptLength + answerLength;
        for (int i = 0; i < n; i++)
        {
            var encoded = task.Encode(prompts[i]);
            if (encoded.Length != promptLength)
            {
                throw new ArgumentException($"prompt '{prompts[i]}' has {encoded.Length} tokens, expected {promptLength}");
            }

            encoded.CopyTo(context, i * width);
        }

        for (int step = 0; step < answerLength; step++)
        {
            int len = promptLength + step;
            var tokens = new int[n * len];
            for (int i = 0; i < n; i++)
            {
                Array.Copy(context, i * width, tokens, i * len, len);
            }

            Model.Forward(tokens, default, n, len, parallelism);
            for (int i = 0; i < n; i++)
            {
                context[i * width + len] = Gpt.ArgMax(Model.LogitsAt(i, len - 1));
            }
        }

        var answers = new string[n];
        for (int i = 0; i < n; i++)
        {
            answers[i] = task.Decode(context.AsSpan(i * width + promptLength, answerLength));
        }

        return answers;
    }
}

/// <summary>An MLP trained on an image task (fashion-mnist).</summary>
public sealed class ImageTrainable : ITrainable
{
    /// <summary>Binds a model to a task.</summary>
    /// <param name="model">The model.</param>
    /// <param name="task">The task.</param>
    public ImageTrainable(Mlp model, IImageTask task)
    {
        if (model.Config.Inputs != task.Features || model.Config.Classes != task.Classes)
        {
            throw new ArgumentException($"model ({model.Config.Inputs} inputs, {model.Config.Classes} classes) does not fit task {task.Name} ({task.Features} features, {task.Classes} classes)");
        }

        Model = model;
        Task = task;
    }

    /// <summary>The model.</summary>
    public Mlp Model { get; }

    /// <summary>The task.</summary>
    public IImageTask Task { get; }

    /// <inheritdoc />
    public string TaskName => Task.Name;

    /// <inheritdoc />
    public ParameterSet Parameters => Model.Parameters;

    /// <inheritdoc />
    public long TokensPerStep(int batchSize) => batchSize;

    /// <inheritdoc />
    public float ComputeGradients(BatchKey key, int batchSize, Parallelism parallelism)
    {
        var batch = Task.TrainBatch(key, batchSize);
        float loss = Model.Forward(batch.Pixels, batch.Labels, batch.BatchSize, parallelism);
        Model.Backward(parallelism);
        return loss;
    }

    /// <inheritdoc />
    public float Loss(BatchKey key, int batchSize, Parallelism parallelism)
    {
        var batch = Task.TrainBatch(key, batchSize);
        return Model.Forward(batch.Pixels, batch.Labels, batch.BatchSize, parallelism);
    }

    /// <inheritdoc />
    public float ExampleLosses(BatchKey key, int batchSize, Parallelism parallelism, Span<float> perExample)
    {
        var batch = Task.TrainBatch(key, batchSize);
        if (perExample.Length != batch.BatchSize)
        {
            throw new ArgumentException($"expected room for {batch.BatchSize} example losses, got {perExample.Length}");
        }
        float mean = Model.Forward(batch.Pixels, batch.Labels, batch.BatchSize, parallelism);
        Model.RowLosses.CopyTo(perExample);
        return mean;
    }

    /// <inheritdoc />
    public Evaluation Evaluate(Parallelism parallelism, int maxBatches = 20)
    {
        const int batchSize = 500;
        int batches = (Task.TestCount + batchSize - 1) / batchSize;
        double total = 0;
        int correct = 0, seen = 0;
        for (int i = 0; i < batches; i++)
        {
            var batch = Task.TestBatch(i, batchSize);
            total += (double)Model.Forward(batch.Pixels, batch.Labels, batch.BatchSize, parallelism) * batch.BatchSize;
            for (int r = 0; r < batch.BatchSize; r++)
            {
                if (Model.Predict(r) == batch.Labels[r])
                {
                    correct++;
                }
            }

            seen += batch.BatchSize;
        }

        return new Evaluation(total / seen, (double)correct / seen, seen);
    }
}
