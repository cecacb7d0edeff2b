using System.Runtime.Intrinsics;
using Pot.Learning.Kernels;
using Pot.Learning.Randomness;

namespace Pot.Learning.Tests;

/// <summary>Transcendentals, the generator and layer forwards against independent references.</summary>
public unsafe class KernelTests
{
    private static float[] Sweep(float from, float to, int count) =>
        Enumerable.Range(0, count).Select(i => from + (to - from) * i / (count - 1)).ToArray();

    private static double UlpDistance(float actual, double expected)
    {
        float e = (float)expected;
        return Math.Abs(actual - e) / Math.Max(MathF.BitIncrement(MathF.Abs(e)) - MathF.Abs(e), float.Epsilon);
    }

    // Proves Exp is within 2 ulp of float64 exp over its whole finite range and handles the edges.
    [Fact]
    public void ExpIsAccurate()
    {
        foreach (float x in Sweep(-87f, 88f, 200_001))
        {
            Assert.True(UlpDistance(DetMath.Exp(x), Math.Exp(x)) <= 2, $"exp({x})");
        }

        Assert.Equal(float.PositiveInfinity, DetMath.Exp(89f));
        Assert.Equal(0f, DetMath.Exp(-100f));
        Assert.True(float.IsNaN(DetMath.Exp(float.NaN)));
        Assert.Equal(1f, DetMath.Exp(0f));
    }

    // Proves Log is within 2 ulp of float64 log for normal and subnormal inputs, with IEEE edge values.
    [Fact]
    public void LogIsAccurate()
    {
        foreach (float x in Sweep(1e-6f, 1000f, 200_001).Concat([1e-40f, 1e-30f, float.MaxValue, 1f, 2f, 0.5f]))
        {
            Assert.True(UlpDistance(DetMath.Log(x), Math.Log(x)) <= 2, $"log({x})");
        }

        Assert.Equal(float.NegativeInfinity, DetMath.Log(0f));
        Assert.True(float.IsNaN(DetMath.Log(-1f)));
        Assert.Equal(0f, DetMath.Log(1f));
    }

    // Proves Tanh is within 3e-7 absolute of float64 tanh and saturates to ±1.
    [Fact]
    public void TanhIsAccurate()
    {
        foreach (float x in Sweep(-12f, 12f, 200_001))
        {
            Assert.True(Math.Abs(DetMath.Tanh(x) - Math.Tanh(x)) <= 3e-7, $"tanh({x})");
        }

        Assert.Equal(1f, DetMath.Tanh(20f));
        Assert.Equal(-1f, DetMath.Tanh(-20f));
        Assert.True(float.IsNaN(DetMath.Tanh(float.NaN)));
    }

    // Proves the Vector256 and Vector512 versions of Exp and Tanh give exactly the scalar bits per lane.
    [Fact]
    public void VectorTranscendentalsEqualScalarBits()
    {
        var inputs = TestData.Normal(21, 4096, std: 20f).Concat([0f, -0f, 88.5f, -88f, 9f, -9f, 0.5f, -0.5f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e-30f]).ToArray();
        Array.Resize(ref inputs, (inputs.Length + 15) / 16 * 16);
        for (int i = 0; i < inputs.Length; i += 16)
        {
            var v512 = Vector512.Create(inputs.AsSpan(i, 16));
            var e512 = DetMath.Exp(v512);
            var t512 = DetMath.Tanh(v512);
            var e256 = DetMath.Exp(Vector256.Create(inputs.AsSpan(i, 8)));
            var t256 = DetMath.Tanh(Vector256.Create(inputs.AsSpan(i, 8)));
            for (int lane = 0; lane < 16; lane++)
            {
                float x = inputs[i + lane];
                Assert.Equal(BitConverter.SingleToInt32Bits(DetMath.Exp(x)), BitConverter.SingleToInt32Bits(e512[lane]));
                Assert.Equal(BitConverter.SingleToInt32Bits(DetMath.Tanh(x)), BitConverter.SingleToInt32Bits(t512[lane]));
                if (lane < 8)
                {
                    Assert.Equal(BitConverter.SingleToInt32Bits(DetMath.Exp(x)), BitConverter.SingleToInt32Bits(e256[lane]));
                    Assert.Equal(BitConverter.SingleToInt32Bits(DetMath.Tanh(x)), BitConverter.SingleToInt32Bits(t256[lane]));
                }
            }
        }
    }

    // Proves Philox4x32-10 matches the Random123 known-answer vectors.
    [Fact]
    public void PhiloxMatchesKnownAnswers()
    {
        Assert.Equal((0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u), Philox.Block(0, 0, 0, 0, 0, 0));
        Assert.Equal((0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu), Philox.Block(uint.MaxValue, uint.MaxValue, uint.MaxValue, uint.MaxValue, uint.MaxValue, uint.MaxValue));
        Assert.Equal((0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u), Philox.Block(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0));
    }

    // Proves the normal generator has mean ≈ 0 and variance ≈ 1 and is a pure function of its counter.
    [Fact]
    public void NormalSamplesHaveUnitMoments()
    {
        var x = TestData.Normal(22, 100_000);
        double mean = x.Average(v => (double)v);
        double variance = x.Average(v => (double)v * v) - mean * mean;
        Assert.InRange(mean, -0.01, 0.01);
        Assert.InRange(variance, 0.98, 1.02);
        Assert.Equal(Philox.Normal(5, 6, 7), Philox.Normal(5, 6, 7));
    }

    // Proves LayerNorm, GELU, attention and cross-entropy forwards agree with the float64 reference
    // within float32 rounding, and give the same bits with 1 and 3 threads.
    [Fact]
    public void LayerForwardsMatchReference()
    {
        const int batch = 3, seqLen = 7, channels = 16, heads = 4, rows = batch * seqLen;
        var x = TestData.Normal(23, rows * channels);
        var w = TestData.Normal(24, channels);
        var b = TestData.Normal(25, channels);
        var qkv = TestData.Normal(26, rows * 3 * channels);
        float[] RunAll(Parallelism par)
        {
            var ln = new float[x.Length];
            var gelu = new float[x.Length];
            var att = new float[rows * channels];
            var probs = new float[batch * heads * seqLen * seqLen];
            var mean = new float[rows];
            var rstd = new float[rows];
            fixed (float* px = x, pw = w, pb = b, pl = ln, pg = gelu, pq = qkv, pa = att, pp = probs, pm = mean, ps = rstd)
            {
                Layers.LayerNormForward(pl, pm, ps, px, pw, pb, rows, channels, par);
                Layers.GeluForward(pg, px, x.Length, par);
                Layers.AttentionForward(pa, pp, pq, batch, seqLen, channels, heads, par);
            }

            return [.. ln, .. gelu, .. att];
        }

        var single = RunAll(Parallelism.Single);
        Assert.Equal(single, RunAll(new Parallelism(3)));
        var expected = Reference64.LayerNorm(x.ToDouble(), w.ToDouble(), b.ToDouble(), rows, channels)
            .Concat(x.Select(v => Reference64.Gelu(v)))
            .Concat(Reference64.Attention(qkv.ToDouble(), batch, seqLen, channels, heads)).ToArray();
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(single[i] - expected[i]) <= 2e-6 * (1 + Math.Abs(expected[i])), $"element {i}: {single[i]} vs {expected[i]}");
        }
    }

    // Proves cross-entropy rejects targets outside the vocabulary with a clear error.
    [Fact]
    public void CrossEntropyRejectsBadTargets()
    {
        var logits = GC.AllocateArray<float>(6, pinned: true);
        nint address = (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref logits[0]);
        var error = Record.Exception(() => Layers.CrossEntropy(null, (float*)address, [1, 3], 2, 3, new float[2], Parallelism.Single));
        Assert.IsType<ArgumentOutOfRangeException>(error);
        Assert.Contains("target 3 is outside [-1, 3)", error.Message);
    }
}
