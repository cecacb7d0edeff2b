using Pot.Learning.Kernels;
using Pot.Learning.Randomness;

namespace Pot.Learning.Models;

/// <summary>Sizes of the image classifier: inputs → hidden (GELU) → classes.</summary>
/// <param name="Inputs">Features per example (784 for 28×28 images).</param>
/// <param name="Hidden">Hidden width.</param>
/// <param name="Classes">Number of classes.</param>
public sealed record MlpConfig(int Inputs, int Hidden, int Classes)
{
    /// <summary>Throws with a clear message when a size is out of range.</summary>
    public void Validate()
    {
        if (Inputs is < 1 or > 1 << 20 || Hidden is < 1 or > 1 << 16 || Classes is < 2 or > 1 << 16)
        {
            throw new ArgumentException($"invalid MLP configuration: inputs {Inputs}, hidden {Hidden}, classes {Classes}");
        }
    }
}

/// <summary>
/// A two-layer perceptron classifier (<c>fc1</c> → GELU → <c>fc2</c>, PyTorch <c>nn.Linear</c>
/// names and [out, in] weight layout) trained with softmax cross-entropy.
/// </summary>
public sealed unsafe class Mlp
{
    private PinnedBuffer? input, hidden, hiddenGelu, logits, dlogits, dhidden, dhiddenGelu;
    private float[] rowLosses = [];
    private int[] targets = [];
    private int batch;

    /// <summary>Creates a model with zeroed parameters.</summary>
    /// <param name="config">Sizes.</param>
    public Mlp(MlpConfig config)
    {
        config.Validate();
        Config = config;
        Parameters = new ParameterSet(
        [
            ("fc1.weight", [config.Hidden, config.Inputs]),
            ("fc1.bias", [config.Hidden]),
            ("fc2.weight", [config.Classes, config.Hidden]),
            ("fc2.bias", [config.Classes]),
        ]);
    }

    /// <summary>Sizes.</summary>
    public MlpConfig Config { get; }

    /// <summary>Parameters and gradients in canonical order (fc1.weight, fc1.bias, fc2.weight, fc2.bias).</summary>
    public ParameterSet Parameters { get; }

    /// <summary>
    /// Initialises weights ~ N(0, 1/fan_in) (Philox key DeriveKey(seed, "init"), stream = tensor
    /// index, index = element) and biases to 0.
    /// </summary>
    /// <param name="seed">The seed.</param>
    public void Initialize(ulong seed)
    {
        ulong key = Philox.DeriveKey(seed, "init");
        for (int ti = 0; ti < Parameters.Tensors.Count; ti++)
        {
            var t = Parameters.Tensors[ti];
            var values = Parameters.ValuesOf(t);
            if (t.Shape.Length == 1)
            {
                values.Clear();
                continue;
            }

            float std = 1f / MathF.Sqrt(t.Shape[1]);
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = std * Philox.Normal(key, (ulong)ti, (ulong)i);
            }
        }
    }

    private float* P(int i) => Parameters.Values.Pointer + Parameters.Tensors[i].Offset;

    private float* G(int i) => Parameters.Gradients.Pointer + Parameters.Tensors[i].Offset;

    /// <summary>Per-example losses of the last forward pass with labels.</summary>
    public ReadOnlySpan<float> RowLosses => rowLosses.AsSpan(0, Math.Min(rowLosses.Length, batch));

    /// <summary>Forward pass; with labels returns the mean cross-entropy, otherwise 0.</summary>
    /// <param name="features">B·Inputs features.</param>
    /// <param name="labels">B labels in [0, classes), or empty.</param>
    /// <param name="batchSize">B.</param>
    /// <param name="parallelism">Threads.</param>
    /// <returns>Mean loss, or 0 without labels.</returns>
    public float Forward(ReadOnlySpan<float> features, ReadOnlySpan<int> labels, int batchSize, Parallelism parallelism)
    {
        var c = Config;
        if (batchSize < 1 || features.Length != batchSize * c.Inputs || (!labels.IsEmpty && labels.Length != batchSize))
        {
            throw new ArgumentException($"expected {batchSize}×{c.Inputs} features and {batchSize} labels, got {features.Length} and {labels.Length}");
        }

        if (batch != batchSize || input is null)
        {
            batch = batchSize;
            input = new PinnedBuffer((long)batchSize * c.Inputs);
            hidden = new PinnedBuffer((long)batchSize * c.Hidden);
            hiddenGelu = new PinnedBuffer((long)batchSize * c.Hidden);
            logits = new PinnedBuffer((long)batchSize * c.Classes);
            dlogits = new PinnedBuffer((long)batchSize * c.Classes);
            dhidden = new PinnedBuffer((long)batchSize * c.Hidden);
            dhiddenGelu = new PinnedBuffer((long)batchSize * c.Hidden);
            rowLosses = new float[batchSize];
            targets = new int[batchSize];
        }

        features.CopyTo(input.Span);
        Gemm.Multiply(false, true, batchSize, c.Hidden, c.Inputs, input.Pointer, c.Inputs, P(0), c.Inputs, hidden!.Pointer, c.Hidden, P(1), false, parallelism);
        Layers.GeluForward(hiddenGelu!.Pointer, hidden.Pointer, (long)batchSize * c.Hidden, parallelism);
        Gemm.Multiply(false, true, batchSize, c.Classes, c.Hidden, hiddenGelu.Pointer, c.Hidden, P(2), c.Hidden, logits!.Pointer, c.Classes, P(3), false, parallelism);
        if (labels.IsEmpty)
        {
            Array.Fill(targets, -1);
            return 0f;
        }

        labels.CopyTo(targets);
        return Layers.CrossEntropy(dlogits!.Pointer, logits.Pointer, targets, batchSize, c.Classes, rowLosses, parallelism);
    }

    /// <summary>The predicted class (argmax of the logits) of row <paramref name="row"/> of the last forward.</summary>
    /// <param name="row">Batch row.</param>
    /// <returns>The class.</returns>
    public int Predict(int row) => Gpt.ArgMax(logits!.Span.Slice(row * Config.Classes, Config.Classes));

    /// <summary>Backward of the last forward with labels; sets the parameter gradients.</summary>
    /// <param name="parallelism">Threads.</param>
    public void Backward(Parallelism parallelism)
    {
        if (input is null || targets.All(t => t < 0))
        {
            throw new InvalidOperationException("Backward needs a forward pass with labels");
        }

        var c = Config;
        Parameters.Gradients.Clear();
        Gemm.Multiply(true, false, c.Classes, c.Hidden, batch, dlogits!.Pointer, c.Classes, hiddenGelu!.Pointer, c.Hidden, G(2), c.Hidden, null, true, parallelism);
        Layers.BiasBackward(G(3), dlogits.Pointer, batch, c.Classes, parallelism);
        Gemm.Multiply(false, false, batch, c.Hidden, c.Classes, dlogits.Pointer, c.Classes, P(2), c.Hidden, dhiddenGelu!.Pointer, c.Hidden, null, false, parallelism);
        dhidden!.Clear();
        Layers.GeluBackward(dhidden.Pointer, hidden!.Pointer, dhiddenGelu.Pointer, (long)batch * c.Hidden, parallelism);
        Gemm.Multiply(true, false, c.Hidden, c.Inputs, batch, dhidden.Pointer, c.Hidden, input.Pointer, c.Inputs, G(0), c.Inputs, null, true, parallelism);
        Layers.BiasBackward(G(1), dhidden.Pointer, batch, c.Hidden, parallelism);
    }
}
