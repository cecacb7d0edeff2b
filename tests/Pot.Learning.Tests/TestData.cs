using Pot.Learning.Randomness;

namespace Pot.Learning.Tests;

/// <summary>Deterministic random test inputs (Philox keyed by a test-specific seed).</summary>
internal static class TestData
{
    public static float[] Normal(ulong seed, int count, float std = 1f)
    {
        var key = Philox.DeriveKey(seed, "test-data");
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = std * Philox.Normal(key, 0, (ulong)i);
        }

        return values;
    }

    public static int[] Ints(ulong seed, int count, int bound)
    {
        var key = Philox.DeriveKey(seed, "test-ints");
        var values = new int[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = Philox.ToRange(Philox.Words(key, 0, (ulong)i).X0, bound);
        }

        return values;
    }

    public static double[] ToDouble(this float[] values) => values.Select(v => (double)v).ToArray();

    /// <summary>Relative L2 error ‖a − b‖ / ‖b‖ (absolute when ‖b‖ is tiny).</summary>
    public static double RelativeError(IReadOnlyList<double> actual, IReadOnlyList<double> expected)
    {
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.Count; i++)
        {
            diff += Math.Pow(actual[i] - expected[i], 2);
            norm += expected[i] * expected[i];
        }

        return norm < 1e-14 ? Math.Sqrt(diff) : Math.Sqrt(diff / norm);
    }

    /// <summary>Central finite difference of f with respect to x[i] (float64).</summary>
    public static double FiniteDifference(Func<double[], double> f, double[] x, int i, double h = 1e-5)
    {
        double saved = x[i];
        x[i] = saved + h;
        double plus = f(x);
        x[i] = saved - h;
        double minus = f(x);
        x[i] = saved;
        return (plus - minus) / (2 * h);
    }
}
