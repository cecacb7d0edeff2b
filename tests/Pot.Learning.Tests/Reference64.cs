namespace Pot.Learning.Tests;

/// <summary>
/// An independent, naive float64 implementation of the layers and models, written directly from
/// the textbook formulas (no shared code with the engine). Used as the golden reference for the
/// engine's float32 kernels and for finite-difference gradients.
/// </summary>
internal static class Reference64
{
    public static double[] LayerNorm(double[] x, double[] w, double[] b, int rows, int channels)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, variance = 0;
            for (int c = 0; c < channels; c++) mean += x[r * channels + c];
            mean /= channels;
            for (int c = 0; c < channels; c++) variance += Math.Pow(x[r * channels + c] - mean, 2);
            variance /= channels;
            double rstd = 1 / Math.Sqrt(variance + 1e-5);
            for (int c = 0; c < channels; c++) y[r * channels + c] = (x[r * channels + c] - mean) * rstd * w[c] + b[c];
        }

        return y;
    }

    public static double Gelu(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

    public static double[] Linear(double[] x, double[] w, double[]? bias, int rows, int inputs, int outputs)
    {
        var y = new double[rows * outputs];
        for (int r = 0; r < rows; r++)
        for (int o = 0; o < outputs; o++)
        {
            double s = bias?[o] ?? 0;
            for (int i = 0; i < inputs; i++) s += x[r * inputs + i] * w[o * inputs + i];
            y[r * outputs + o] = s;
        }

        return y;
    }

    /// <summary>Causal self-attention on qkv [B·T, 3C] → [B·T, C].</summary>
    public static double[] Attention(double[] qkv, int batch, int seqLen, int channels, int heads)
    {
        int hs = channels / heads;
        var y = new double[batch * seqLen * channels];
        for (int b = 0; b < batch; b++)
        for (int h = 0; h < heads; h++)
        for (int t = 0; t < seqLen; t++)
        {
            var scores = new double[t + 1];
            for (int t2 = 0; t2 <= t; t2++)
            {
                double s = 0;
                for (int i = 0; i < hs; i++)
                {
                    s += qkv[(b * seqLen + t) * 3 * channels + h * hs + i] * qkv[(b * seqLen + t2) * 3 * channels + channels + h * hs + i];
                }

                scores[t2] = s / Math.Sqrt(hs);
            }

            double max = scores.Max(), z = 0;
            for (int t2 = 0; t2 <= t; t2++) z += Math.Exp(scores[t2] - max);
            for (int i = 0; i < hs; i++)
            {
                double s = 0;
                for (int t2 = 0; t2 <= t; t2++)
                {
                    s += Math.Exp(scores[t2] - max) / z * qkv[(b * seqLen + t2) * 3 * channels + 2 * channels + h * hs + i];
                }

                y[(b * seqLen + t) * channels + h * hs + i] = s;
            }
        }

        return y;
    }

    /// <summary>Mean cross-entropy over rows with target ≥ 0.</summary>
    public static double CrossEntropy(double[] logits, int[] targets, int rows, int vocab)
    {
        double total = 0;
        int count = 0;
        for (int r = 0; r < rows; r++)
        {
            if (targets[r] < 0) continue;
            double max = double.NegativeInfinity;
            for (int j = 0; j < vocab; j++) max = Math.Max(max, logits[r * vocab + j]);
            double z = 0;
            for (int j = 0; j < vocab; j++) z += Math.Exp(logits[r * vocab + j] - max);
            total += max + Math.Log(z) - logits[r * vocab + targets[r]];
            count++;
        }

        return count == 0 ? 0 : total / count;
    }

    /// <summary>nanoGPT forward loss from a flat parameter vector in the engine's canonical order.</summary>
    public static double GptLoss(double[] p, int vocab, int block, int layers, int heads, int e, int[] tokens, int[] targets, int batch, int seqLen)
    {
        int offset = 0;
        double[] Take(int n)
        {
            var r = p.AsSpan(offset, n).ToArray();
            offset += n;
            return r;
        }

        var wte = Take(vocab * e);
        var wpe = Take(block * e);
        int n = batch * seqLen;
        var x = new double[n * e];
        for (int b = 0; b < batch; b++)
        for (int t = 0; t < seqLen; t++)
        for (int c = 0; c < e; c++)
            x[(b * seqLen + t) * e + c] = wte[tokens[b * seqLen + t] * e + c] + wpe[t * e + c];
        for (int l = 0; l < layers; l++)
        {
            var ln1w = Take(e); var ln1b = Take(e);
            var aw = Take(3 * e * e); var ab = Take(3 * e);
            var pw = Take(e * e); var pbias = Take(e);
            var ln2w = Take(e); var ln2b = Take(e);
            var fw = Take(4 * e * e); var fb = Take(4 * e);
            var fpw = Take(4 * e * e); var fpb = Take(e);
            var h1 = LayerNorm(x, ln1w, ln1b, n, e);
            var qkv = Linear(h1, aw, ab, n, e, 3 * e);
            var att = Attention(qkv, batch, seqLen, e, heads);
            var proj = Linear(att, pw, pbias, n, e, e);
            for (int i = 0; i < x.Length; i++) x[i] += proj[i];
            var h2 = LayerNorm(x, ln2w, ln2b, n, e);
            var fc = Linear(h2, fw, fb, n, e, 4 * e).Select(Gelu).ToArray();
            var mlp = Linear(fc, fpw, fpb, n, 4 * e, e);
            for (int i = 0; i < x.Length; i++) x[i] += mlp[i];
        }

        var lnfw = Take(e); var lnfb = Take(e);
        var hf = LayerNorm(x, lnfw, lnfb, n, e);
        var logits = Linear(hf, wte, null, n, e, vocab);
        return CrossEntropy(logits, targets, n, vocab);
    }

    public static double MlpLoss(double[] p, int inputs, int hidden, int classes, float[] features, int[] labels, int batch)
    {
        var w1 = p.AsSpan(0, hidden * inputs).ToArray();
        var b1 = p.AsSpan(hidden * inputs, hidden).ToArray();
        var w2 = p.AsSpan(hidden * inputs + hidden, classes * hidden).ToArray();
        var b2 = p.AsSpan(hidden * inputs + hidden + classes * hidden, classes).ToArray();
        var x = features.Select(f => (double)f).ToArray();
        var h = Linear(x, w1, b1, batch, inputs, hidden).Select(Gelu).ToArray();
        var logits = Linear(h, w2, b2, batch, hidden, classes);
        return CrossEntropy(logits, labels, batch, classes);
    }
}
