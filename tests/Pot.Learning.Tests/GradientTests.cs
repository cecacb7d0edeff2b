using Pot.Learning.Kernels;
using Pot.Learning.Models;

namespace Pot.Learning.Tests;

/// <summary>Backward passes against float64 finite differences of an independent reference.</summary>
public unsafe class GradientTests
{
    private const double Tolerance = 1e-3;

    // Proves LayerNorm's backward (input, weight and bias gradients) matches d/dθ Σ r·LN(x) in float64.
    [Fact]
    public void LayerNormBackwardMatchesFiniteDifferences()
    {
        const int rows = 3, channels = 12;
        var x = TestData.Normal(1, rows * channels);
        var w = TestData.Normal(2, channels);
        var b = TestData.Normal(3, channels);
        var r = TestData.Normal(4, rows * channels);
        var dx = new float[x.Length];
        var dw = new float[channels];
        var db = new float[channels];
        var y = new float[x.Length];
        var mean = new float[rows];
        var rstd = new float[rows];
        fixed (float* px = x, pw = w, pb = b, pr = r, pdx = dx, pdw = dw, pdb = db, py = y, pm = mean, ps = rstd)
        {
            Layers.LayerNormForward(py, pm, ps, px, pw, pb, rows, channels, Parallelism.Single);
            Layers.LayerNormBackward(pdx, pdw, pdb, pr, px, pw, pm, ps, rows, channels, Parallelism.Single);
        }

        double Loss(double[] xs, double[] ws, double[] bs) =>
            Reference64.LayerNorm(xs, ws, bs, rows, channels).Select((v, i) => v * r[i]).Sum();

        var x64 = x.ToDouble();
        var w64 = w.ToDouble();
        var b64 = b.ToDouble();
        var fdx = Enumerable.Range(0, x.Length).Select(i => TestData.FiniteDifference(v => Loss(v, w64, b64), x64, i)).ToArray();
        var fdw = Enumerable.Range(0, channels).Select(i => TestData.FiniteDifference(v => Loss(x64, v, b64), w64, i)).ToArray();
        var fdb = Enumerable.Range(0, channels).Select(i => TestData.FiniteDifference(v => Loss(x64, w64, v), b64, i)).ToArray();
        Assert.True(TestData.RelativeError(dx.ToDouble(), fdx) < Tolerance, $"dx error {TestData.RelativeError(dx.ToDouble(), fdx)}");
        Assert.True(TestData.RelativeError(dw.ToDouble(), fdw) < Tolerance, $"dw error {TestData.RelativeError(dw.ToDouble(), fdw)}");
        Assert.True(TestData.RelativeError(db.ToDouble(), fdb) < Tolerance, $"db error {TestData.RelativeError(db.ToDouble(), fdb)}");
    }

    // Proves GELU's backward equals the float64 derivative of the tanh-form GELU across its range.
    [Fact]
    public void GeluBackwardMatchesFiniteDifferences()
    {
        var x = TestData.Normal(5, 257, std: 3f);
        var dout = TestData.Normal(6, 257);
        var dx = new float[x.Length];
        fixed (float* px = x, pd = dout, pdx = dx)
        {
            Layers.GeluBackward(pdx, px, pd, x.Length, Parallelism.Single);
        }

        var fd = x.Select((v, i) => dout[i] * TestData.FiniteDifference(a => Reference64.Gelu(a[0]), [v], 0)).ToArray();
        Assert.True(TestData.RelativeError(dx.ToDouble(), fd) < Tolerance);
    }

    // Proves causal attention's backward (gradient w.r.t. q, k and v) matches finite differences.
    [Fact]
    public void AttentionBackwardMatchesFiniteDifferences()
    {
        const int batch = 2, seqLen = 5, channels = 8, heads = 2;
        var qkv = TestData.Normal(7, batch * seqLen * 3 * channels);
        var r = TestData.Normal(8, batch * seqLen * channels);
        var y = new float[batch * seqLen * channels];
        var probs = new float[batch * heads * seqLen * seqLen];
        var dqkv = new float[qkv.Length];
        fixed (float* pq = qkv, pr = r, py = y, pp = probs, pd = dqkv)
        {
            Layers.AttentionForward(py, pp, pq, batch, seqLen, channels, heads, Parallelism.Single);
            Layers.AttentionBackward(pd, pr, pq, pp, batch, seqLen, channels, heads, Parallelism.Single);
        }

        var q64 = qkv.ToDouble();
        double Loss(double[] v) => Reference64.Attention(v, batch, seqLen, channels, heads).Select((a, i) => a * r[i]).Sum();
        var fd = Enumerable.Range(0, qkv.Length).Select(i => TestData.FiniteDifference(Loss, q64, i)).ToArray();
        Assert.True(TestData.RelativeError(dqkv.ToDouble(), fd) < Tolerance, $"error {TestData.RelativeError(dqkv.ToDouble(), fd)}");
    }

    // Proves the cross-entropy gradient w.r.t. logits (with ignored rows) matches finite differences.
    [Fact]
    public void CrossEntropyBackwardMatchesFiniteDifferences()
    {
        const int rows = 4, vocab = 9;
        var logits = TestData.Normal(9, rows * vocab, std: 2f);
        int[] targets = [3, -1, 0, 8];
        var d = new float[logits.Length];
        var losses = new float[rows];
        float loss;
        fixed (float* pl = logits, pd = d)
        {
            loss = Layers.CrossEntropy(pd, pl, targets, rows, vocab, losses, Parallelism.Single);
        }

        var l64 = logits.ToDouble();
        Assert.Equal(Reference64.CrossEntropy(l64, targets, rows, vocab), loss, 5);
        var fd = Enumerable.Range(0, logits.Length).Select(i => TestData.FiniteDifference(v => Reference64.CrossEntropy(v, targets, rows, vocab), l64, i)).ToArray();
        Assert.True(TestData.RelativeError(d.ToDouble(), fd) < Tolerance);
        Assert.All(d.AsSpan(vocab, vocab).ToArray(), v => Assert.Equal(0f, v));
    }

    // Proves the whole GPT backward (every parameter tensor) matches finite differences of an
    // independent float64 nanoGPT forward.
    [Fact]
    public void GptBackwardMatchesFiniteDifferences()
    {
        var config = new GptConfig(VocabSize: 7, BlockSize: 6, Layers: 2, Heads: 2, Embed: 8);
        var model = new Gpt(config);
        TestData.Normal(10, (int)model.Parameters.Count, std: 0.4f).CopyTo(model.Parameters.Values.Span);
        const int batch = 2, seqLen = 5;
        var tokens = TestData.Ints(11, batch * seqLen, config.VocabSize);
        var targets = TestData.Ints(12, batch * seqLen, config.VocabSize);
        targets[3] = -1;
        float loss = model.Forward(tokens, targets, batch, seqLen, Parallelism.Single);
        model.Backward(Parallelism.Single);

        var p64 = model.Parameters.Values.Array.ToDouble();
        double Loss(double[] p) => Reference64.GptLoss(p, config.VocabSize, config.BlockSize, config.Layers, config.Heads, config.Embed, tokens, targets, batch, seqLen);
        Assert.Equal(Loss(p64), loss, 4);
        foreach (var tensor in model.Parameters.Tensors)
        {
            var indices = Enumerable.Range(0, 10).Select(i => (int)tensor.Offset + (int)((long)i * tensor.Length / 10)).Distinct().ToArray();
            if (tensor.Name == "transformer.wpe.weight")
            {
                indices = indices.Where(i => i - tensor.Offset < seqLen * config.Embed).ToArray(); // later positions are unused
            }

            var analytic = indices.Select(i => (double)model.Parameters.Gradients.Array[i]).ToArray();
            var numeric = indices.Select(i => TestData.FiniteDifference(Loss, p64, i)).ToArray();
            double error = TestData.RelativeError(analytic, numeric);
            Assert.True(error < Tolerance, $"{tensor.Name}: relative gradient error {error}");
        }
    }

    // Proves the MLP classifier's backward matches finite differences for every parameter tensor.
    [Fact]
    public void MlpBackwardMatchesFiniteDifferences()
    {
        var model = new Mlp(new MlpConfig(Inputs: 10, Hidden: 6, Classes: 4));
        model.Initialize(3);
        const int batch = 5;
        var features = TestData.Normal(13, batch * 10);
        int[] labels = [0, 3, 2, 1, 3];
        model.Forward(features, labels, batch, Parallelism.Single);
        model.Backward(Parallelism.Single);
        var p64 = model.Parameters.Values.Array.ToDouble();
        var numeric = Enumerable.Range(0, p64.Length).Select(i => TestData.FiniteDifference(p => Reference64.MlpLoss(p, 10, 6, 4, features, labels, batch), p64, i)).ToArray();
        Assert.True(TestData.RelativeError(model.Parameters.Gradients.Array.ToDouble(), numeric) < Tolerance);
    }
}
