using Pot.Learning.Randomness;

namespace Pot.Learning.Data;

/// <summary>
/// Identifies one training batch of a task: the run's seed, the round, the miner and the inner step.
/// The task itself is the other half of the identity (its <c>Name</c> enters the key), so a batch is a
/// pure function of (seed, task, round, miner, step) and of nothing else — not of thread count,
/// file-system order or hash-table order.
/// </summary>
/// <param name="Seed">The seed of the run (on chain: derived from the round's beacon).</param>
/// <param name="Round">The round number.</param>
/// <param name="Miner">The miner's numeric identity.</param>
/// <param name="Step">The inner step within the round.</param>
public readonly record struct BatchKey(ulong Seed, ulong Round, ulong Miner, ulong Step)
{
    /// <summary>
    /// The Philox key from which every batch of <paramref name="taskName"/> for this (seed, round,
    /// miner) is drawn: <c>k0 = Philox.DeriveKey(Seed, "pot/data/" + taskName)</c>,
    /// <c>k1 = Philox.DeriveKey(k0, Round)</c>, <c>key = Philox.DeriveKey(k1, Miner)</c>. The step is
    /// the Philox <em>stream</em> and the sample's position in the batch the <em>index</em> (see
    /// docs/data.md for each task's exact use).
    /// </summary>
    /// <param name="taskName">The task's registry name, e.g. "addition".</param>
    /// <returns>The 64-bit Philox key.</returns>
    public ulong DataKey(string taskName)
    {
        ArgumentException.ThrowIfNullOrEmpty(taskName);
        ulong k = Philox.DeriveKey(Seed, "pot/data/" + taskName);
        k = Philox.DeriveKey(k, Round);
        return Philox.DeriveKey(k, Miner);
    }
}

/// <summary>
/// A batch of token sequences for language-model training: <c>BatchSize</c> rows of <c>SeqLen</c>
/// positions, row-major. <c>Targets[i] == -1</c> means "no loss at this position".
/// </summary>
public sealed class TokenBatch
{
    /// <summary>Creates a batch after checking that both arrays hold exactly <c>batchSize·seqLen</c> entries.</summary>
    /// <param name="batchSize">Rows, at least 1.</param>
    /// <param name="seqLen">Positions per row, at least 1.</param>
    /// <param name="inputs">Input tokens, row-major.</param>
    /// <param name="targets">Target tokens (or -1 for no loss), row-major.</param>
    /// <exception cref="ArgumentException">The sizes do not match.</exception>
    public TokenBatch(int batchSize, int seqLen, int[] inputs, int[] targets)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(seqLen, 1);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        long n = (long)batchSize * seqLen;
        if (inputs.Length != n || targets.Length != n)
        {
            throw new ArgumentException(
                $"token batch {batchSize}×{seqLen} needs {n} inputs and {n} targets, got {inputs.Length} inputs and {targets.Length} targets");
        }

        BatchSize = batchSize;
        SeqLen = seqLen;
        Inputs = inputs;
        Targets = targets;
    }

    /// <summary>Number of rows (sequences).</summary>
    public int BatchSize { get; }

    /// <summary>Positions per row.</summary>
    public int SeqLen { get; }

    /// <summary>Input tokens, <c>BatchSize·SeqLen</c>, row-major.</summary>
    public int[] Inputs { get; }

    /// <summary>Next-token targets, <c>BatchSize·SeqLen</c>, row-major; -1 = no loss at this position.</summary>
    public int[] Targets { get; }

    /// <summary>Number of positions whose target is not -1 (the loss denominator).</summary>
    public int CountTargets()
    {
        int n = 0;
        foreach (int t in Targets)
        {
            if (t >= 0)
            {
                n++;
            }
        }

        return n;
    }
}

/// <summary>
/// A batch of images with labels: <c>BatchSize</c> rows of <c>Features</c> pixels, row-major, each
/// pixel <c>byte / 255f</c> (one correctly rounded IEEE division, so the same on every machine).
/// </summary>
public sealed class ImageBatch
{
    /// <summary>Creates a batch after checking the array sizes.</summary>
    /// <param name="batchSize">Rows, at least 1.</param>
    /// <param name="features">Pixels per row, at least 1.</param>
    /// <param name="pixels">Pixels, <c>batchSize·features</c>, row-major.</param>
    /// <param name="labels">Class labels, <c>batchSize</c>.</param>
    /// <exception cref="ArgumentException">The sizes do not match.</exception>
    public ImageBatch(int batchSize, int features, float[] pixels, int[] labels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(features, 1);
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        long n = (long)batchSize * features;
        if (pixels.Length != n || labels.Length != batchSize)
        {
            throw new ArgumentException(
                $"image batch {batchSize}×{features} needs {n} pixels and {batchSize} labels, got {pixels.Length} pixels and {labels.Length} labels");
        }

        BatchSize = batchSize;
        Features = features;
        Pixels = pixels;
        Labels = labels;
    }

    /// <summary>Number of images.</summary>
    public int BatchSize { get; }

    /// <summary>Pixels per image.</summary>
    public int Features { get; }

    /// <summary>Pixels in [0, 1], <c>BatchSize·Features</c>, row-major.</summary>
    public float[] Pixels { get; }

    /// <summary>Class labels, one per image.</summary>
    public int[] Labels { get; }
}

/// <summary>A next-token-prediction task (language modelling on a fixed vocabulary).</summary>
public interface ITokenTask
{
    /// <summary>The task's registry name (also enters the data key, see <see cref="BatchKey.DataKey"/>).</summary>
    string Name { get; }

    /// <summary>Number of distinct tokens; tokens are 0 … VocabSize-1.</summary>
    int VocabSize { get; }

    /// <summary>Positions per sequence of every batch.</summary>
    int SeqLen { get; }

    /// <summary>The training batch for <paramref name="key"/>: a pure function of (key, task, batch size).</summary>
    /// <param name="key">Seed, round, miner and step.</param>
    /// <param name="batchSize">Rows, at least 1.</param>
    /// <returns>A new batch.</returns>
    TokenBatch TrainBatch(BatchKey key, int batchSize);

    /// <summary>Validation batch number <paramref name="index"/> (fixed, sequential, held-out data).</summary>
    /// <param name="index">0 … <see cref="ValidationBatchCount"/>-1.</param>
    /// <param name="batchSize">Rows, at least 1.</param>
    /// <returns>A new batch.</returns>
    TokenBatch ValidationBatch(int index, int batchSize);

    /// <summary>How many full validation batches of <paramref name="batchSize"/> rows exist.</summary>
    /// <param name="batchSize">Rows, at least 1.</param>
    /// <returns>The count.</returns>
    int ValidationBatchCount(int batchSize);

    /// <summary>Turns tokens back into text.</summary>
    /// <param name="tokens">Tokens, each in [0, VocabSize).</param>
    /// <returns>The text.</returns>
    string Decode(ReadOnlySpan<int> tokens);

    /// <summary>Turns text into tokens; a character outside the vocabulary is an error.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The tokens.</returns>
    int[] Encode(string text);
}

/// <summary>An image-classification task.</summary>
public interface IImageTask
{
    /// <summary>The task's registry name (also enters the data key, see <see cref="BatchKey.DataKey"/>).</summary>
    string Name { get; }

    /// <summary>Pixels per image.</summary>
    int Features { get; }

    /// <summary>Number of classes; labels are 0 … Classes-1.</summary>
    int Classes { get; }

    /// <summary>The training batch for <paramref name="key"/>: a pure function of (key, task, batch size).</summary>
    /// <param name="key">Seed, round, miner and step.</param>
    /// <param name="batchSize">Images, at least 1.</param>
    /// <returns>A new batch.</returns>
    ImageBatch TrainBatch(BatchKey key, int batchSize);

    /// <summary>
    /// Test images <c>index·batchSize</c> … in file order; the last batch is shorter when
    /// <see cref="TestCount"/> is not a multiple of <paramref name="batchSize"/>.
    /// </summary>
    /// <param name="index">0 … ceil(TestCount / batchSize)-1.</param>
    /// <param name="batchSize">Images, at least 1.</param>
    /// <returns>A new batch.</returns>
    ImageBatch TestBatch(int index, int batchSize);

    /// <summary>Number of test images.</summary>
    int TestCount { get; }
}

/// <summary>A data set needed by a task is not installed on this machine.</summary>
public sealed class DataSetUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DataSetUnavailableException() : base("a data set needed by this task is not installed")
    {
    }

    /// <summary>Creates the exception with a message that should say how to install the data set.</summary>
    /// <param name="message">What is missing and how to install it.</param>
    public DataSetUnavailableException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the underlying failure.</summary>
    /// <param name="message">What is missing and how to install it.</param>
    /// <param name="inner">The underlying failure.</param>
    public DataSetUnavailableException(string message, Exception inner) : base(message, inner)
    {
    }
}

/// <summary>A data file or program output does not have the expected format.</summary>
public sealed class DataFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DataFormatException() : base("data has an unexpected format")
    {
    }

    /// <summary>Creates the exception with a message naming what was wrong and what was expected.</summary>
    /// <param name="message">The problem.</param>
    public DataFormatException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the underlying failure.</summary>
    /// <param name="message">The problem.</param>
    /// <param name="inner">The underlying failure.</param>
    public DataFormatException(string message, Exception inner) : base(message, inner)
    {
    }
}

/// <summary>Helpers for drawing data from Philox words.</summary>
internal static class DataRandom
{
    /// <summary>
    /// A uniform integer in [0, n) from 64 random bits (<c>hi·2³² + lo</c>) by multiply-shift:
    /// <c>floor(x · n / 2⁶⁴)</c>. Bias below n·2⁻⁶⁴, negligible for every n used here.
    /// </summary>
    public static int Uniform(uint lo, uint hi, int n)
    {
        ulong x = ((ulong)hi << 32) | lo;
        return (int)Math.BigMul(x, (ulong)n, out _);
    }

    public static void CheckBatchSize(int batchSize)
    {
        if (batchSize < 1 || batchSize > MaxBatchSize)
        {
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"batch size must be in 1 … {MaxBatchSize}");
        }
    }

    /// <summary>Largest batch any task hands out (keeps index arithmetic far from overflow).</summary>
    public const int MaxBatchSize = 1 << 20;
}
