using System.Runtime.Intrinsics;
using Pot.Learning.Kernels;
using Pot.Learning.Models;

namespace Pot.Learning.Optim;

/// <summary>
/// An optimiser: updates a <see cref="ParameterSet"/> from its gradients. Its state tensors are part
/// of the committed training state (same flat layout as the parameters).
/// </summary>
public interface IOptimizer
{
    /// <summary>Name, e.g. "adamw".</summary>
    string Name { get; }

    /// <summary>Number of updates applied so far.</summary>
    long StepCount { get; set; }

    /// <summary>Named state buffers (e.g. "exp_avg"), each as long as the parameter vector, in a fixed order.</summary>
    IReadOnlyList<(string Name, PinnedBuffer Buffer)> State { get; }

    /// <summary>Applies one update with learning rate <paramref name="learningRate"/>.</summary>
    /// <param name="parameters">Parameters with gradients.</param>
    /// <param name="learningRate">Learning rate for this step.</param>
    void Step(ParameterSet parameters, float learningRate);
}

/// <summary>
/// SGD with optional momentum and (coupled, L2) weight decay, PyTorch semantics, per element in
/// index order: g = fma(wd, w, g); m = fma(μ, m, g) (first step: m = g); w = fma(−lr, m, w)
/// (without momentum: w = fma(−lr, g, w)).
/// </summary>
public sealed class Sgd : IOptimizer
{
    private readonly PinnedBuffer? momentumBuffer;

    /// <summary>Creates the optimiser.</summary>
    /// <param name="parameterCount">Length of the parameter vector.</param>
    /// <param name="momentum">μ in [0, 1); 0 disables momentum (and its state).</param>
    /// <param name="weightDecay">L2 coefficient ≥ 0.</param>
    public Sgd(long parameterCount, float momentum = 0f, float weightDecay = 0f)
    {
        if (momentum is < 0f or >= 1f || weightDecay < 0f)
        {
            throw new ArgumentException($"SGD momentum {momentum} must be in [0, 1) and weight decay {weightDecay} ≥ 0");
        }

        Momentum = momentum;
        WeightDecay = weightDecay;
        if (momentum > 0f)
        {
            momentumBuffer = new PinnedBuffer(parameterCount);
        }

        State = momentumBuffer is null ? [] : [("momentum_buffer", momentumBuffer)];
    }

    /// <inheritdoc />
    public string Name => Momentum > 0f ? "sgd-momentum" : "sgd";

    /// <summary>μ.</summary>
    public float Momentum { get; }

    /// <summary>L2 weight decay.</summary>
    public float WeightDecay { get; }

    /// <inheritdoc />
    public long StepCount { get; set; }

    /// <inheritdoc />
    public IReadOnlyList<(string Name, PinnedBuffer Buffer)> State { get; }

    /// <inheritdoc />
    public void Step(ParameterSet parameters, float learningRate)
    {
        var w = parameters.Values.Span;
        var g = parameters.Gradients.Span;
        var m = momentumBuffer is null ? default : momentumBuffer.Span;
        bool first = StepCount == 0;
        for (int i = 0; i < w.Length; i++)
        {
            float gi = WeightDecay == 0f ? g[i] : MathF.FusedMultiplyAdd(WeightDecay, w[i], g[i]);
            if (momentumBuffer is not null)
            {
                m[i] = first ? gi : MathF.FusedMultiplyAdd(Momentum, m[i], gi);
                gi = m[i];
            }

            w[i] = MathF.FusedMultiplyAdd(-learningRate, gi, w[i]);
        }

        StepCount++;
    }
}

/// <summary>
/// AdamW (Loshchilov &amp; Hutter; PyTorch semantics), per element in index order, with t the step
/// number starting at 1: w = w·(1 − lr·λ); m = fma(β₁, m, (1−β₁)·g); v = fma(β₂, v, ((1−β₂)·g)·g);
/// w = w − lr·((m / c₁) / (√(v / c₂) + ε)), where c₁ = 1 − β₁ᵗ and c₂ = 1 − β₂ᵗ are computed in
/// float64 by binary exponentiation and rounded to float once.
/// </summary>
public sealed class AdamW : IOptimizer
{
    private readonly PinnedBuffer m, v;

    /// <summary>Creates the optimiser.</summary>
    /// <param name="parameterCount">Length of the parameter vector.</param>
    /// <param name="beta1">β₁ in [0, 1).</param>
    /// <param name="beta2">β₂ in [0, 1).</param>
    /// <param name="epsilon">ε &gt; 0.</param>
    /// <param name="weightDecay">Decoupled decay λ ≥ 0.</param>
    public AdamW(long parameterCount, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f, float weightDecay = 0.01f)
    {
        if (beta1 is < 0f or >= 1f || beta2 is < 0f or >= 1f || epsilon <= 0f || weightDecay < 0f)
        {
            throw new ArgumentException($"AdamW needs β₁, β₂ in [0, 1), ε > 0 and weight decay ≥ 0; got {beta1}, {beta2}, {epsilon}, {weightDecay}");
        }

        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
        m = new PinnedBuffer(parameterCount);
        v = new PinnedBuffer(parameterCount);
        State = [("exp_avg", m), ("exp_avg_sq", v)];
    }

    /// <inheritdoc />
    public string Name => "adamw";

    /// <summary>β₁.</summary>
    public float Beta1 { get; }

    /// <summary>β₂.</summary>
    public float Beta2 { get; }

    /// <summary>ε.</summary>
    public float Epsilon { get; }

    /// <summary>Decoupled weight decay λ.</summary>
    public float WeightDecay { get; }

    /// <inheritdoc />
    public long StepCount { get; set; }

    /// <inheritdoc />
    public IReadOnlyList<(string Name, PinnedBuffer Buffer)> State { get; }

    /// <inheritdoc />
    public void Step(ParameterSet parameters, float learningRate)
    {
        long t = StepCount + 1;
        float c1 = (float)(1.0 - PowInt(Beta1, t));
        float c2 = (float)(1.0 - PowInt(Beta2, t));
        float decay = 1f - learningRate * WeightDecay;
        float oneMinusB1 = 1f - Beta1, oneMinusB2 = 1f - Beta2;
        var w = parameters.Values.Span;
        var g = parameters.Gradients.Span;
        var ms = m.Span;
        var vs = v.Span;
        for (int i = 0; i < w.Length; i++)
        {
            float gi = g[i];
            float wi = w[i] * decay;
            ms[i] = MathF.FusedMultiplyAdd(Beta1, ms[i], oneMinusB1 * gi);
            vs[i] = MathF.FusedMultiplyAdd(Beta2, vs[i], (oneMinusB2 * gi) * gi);
            w[i] = wi - learningRate * ((ms[i] / c1) / (MathF.Sqrt(vs[i] / c2) + Epsilon));
        }

        StepCount = t;
    }

    /// <summary>x^n in float64 by binary exponentiation (a fixed sequence of IEEE multiplications).</summary>
    /// <param name="x">Base.</param>
    /// <param name="n">Exponent ≥ 0.</param>
    /// <returns>xⁿ.</returns>
    public static double PowInt(double x, long n)
    {
        double result = 1.0, b = x;
        while (n > 0)
        {
            if ((n & 1) != 0)
            {
                result *= b;
            }

            b *= b;
            n >>= 1;
        }

        return result;
    }
}

/// <summary>Gradient clipping by global L2 norm, with a canonical reduction order.</summary>
public static class GradientClipping
{
    /// <summary>
    /// The L2 norm of <paramref name="values"/>. Canonical order: 16 float lanes; element i goes to
    /// lane i mod 16, where acc = fma(x_i, x_i, acc) runs in increasing i; the lanes are then added
    /// left to right (lane 0 + lane 1 + … + lane 15) and the square root taken. Independent of SIMD
    /// width and threads.
    /// </summary>
    /// <param name="values">The vector.</param>
    /// <returns>‖values‖₂.</returns>
    public static float GlobalNorm(ReadOnlySpan<float> values)
    {
        Span<float> lanes = stackalloc float[16];
        lanes.Clear();
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var a0 = Vector256<float>.Zero;
            var a1 = a0;
            for (; i + 16 <= values.Length; i += 16)
            {
                var x0 = Vector256.Create(values.Slice(i, 8));
                var x1 = Vector256.Create(values.Slice(i + 8, 8));
                a0 = Vector256.FusedMultiplyAdd(x0, x0, a0);
                a1 = Vector256.FusedMultiplyAdd(x1, x1, a1);
            }

            a0.CopyTo(lanes);
            a1.CopyTo(lanes[8..]);
        }

        for (; i < values.Length; i++)
        {
            lanes[i & 15] = MathF.FusedMultiplyAdd(values[i], values[i], lanes[i & 15]);
        }

        float sum = 0f;
        for (int l = 0; l < 16; l++)
        {
            sum += lanes[l];
        }

        return MathF.Sqrt(sum);
    }

    /// <summary>
    /// Scales the gradients by min(1, maxNorm / (norm + 1e-6)) (PyTorch's clip_grad_norm_), where norm
    /// is <see cref="GlobalNorm"/>; returns the norm before clipping.
    /// </summary>
    /// <param name="parameters">Parameters whose gradients are clipped.</param>
    /// <param name="maxNorm">Maximum norm; ≤ 0 or infinity disables clipping.</param>
    /// <returns>The gradient norm before clipping.</returns>
    public static float Clip(ParameterSet parameters, float maxNorm)
    {
        var g = parameters.Gradients.Span;
        float norm = GlobalNorm(g);
        if (maxNorm > 0f && float.IsFinite(maxNorm))
        {
            float coefficient = maxNorm / (norm + 1e-6f);
            if (coefficient < 1f)
            {
                for (int i = 0; i < g.Length; i++)
                {
                    g[i] *= coefficient;
                }
            }
        }

        return norm;
    }
}
