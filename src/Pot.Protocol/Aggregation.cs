using Pot.Commitments;
using Pot.Commitments.Quantization;

namespace Pot.Protocol;

/// <summary>The new model and what a validator needs to spot-check it.</summary>
/// <param name="Model">θ_{r+1}.</param>
/// <param name="Momentum">Outer momentum after the round (all zeros for outer SGD).</param>
/// <param name="Aggregate">Δ̄, the combined pseudo-gradient.</param>
/// <param name="ClipCoefficients">Centered clipping: per iteration, each update's coefficient min(1, τ/‖xᵢ − v‖); empty otherwise.</param>
public sealed record AggregationResult(float[] Model, float[] Momentum, float[] Aggregate, double[][] ClipCoefficients);

/// <summary>
/// The primary's aggregation (DESIGN §5.8): θ_{r+1} = OuterOpt(θ_r, combine(deq(q_m))). Every formula is
/// per element in index order; the updates are taken in the canonical order (ascending submission id), so
/// the result is the same bits on every validator.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Mean: Δ̄[i] = (float)((Σ_m w_m·d_m[i]) / Σ_m w_m), the sum in float64, left to right over m.</item>
/// <item>Trimmed mean: per i, sort the N values ascending, drop t = ⌊β·N⌋ at each end, Δ̄[i] = (float)(Σ kept / (N − 2t)) in float64, ascending order (weights ignored).</item>
/// <item>Centered clipping: v⁰ = 0 (float64); for l = 1…L: c_m = min(1, τ/‖d_m − v‖₂) (1 when the norm is 0; the norm in float64 in index order);
/// vˡ[i] = vˡ⁻¹[i] + (Σ_m (d_m[i] − vˡ⁻¹[i])·c_m) / N; Δ̄ = (float)v^L.</item>
/// <item>Outer SGD: θ'[i] = fma(−η, Δ̄[i], θ[i]). Nesterov: u[i] = fma(μ, u[i], Δ̄[i]); θ'[i] = fma(−η, fma(μ, u[i], Δ̄[i]), θ[i]).</item>
/// </list>
/// Everything but the clip coefficients is local to an element, so with the published coefficients a
/// validator re-checks any leaf of θ_{r+1} from the same leaf of θ_r, u and each q.
/// </remarks>
public static class Aggregator
{
    /// <summary>Aggregates the accepted updates.</summary>
    /// <param name="task">The task (rule, outer optimiser).</param>
    /// <param name="model">θ_r.</param>
    /// <param name="momentum">Outer momentum before the round (null: zeros).</param>
    /// <param name="updates">deq(q_m) in canonical order.</param>
    /// <param name="weights">w_m (sample counts) in the same order.</param>
    /// <returns>The result.</returns>
    public static AggregationResult Aggregate(ProtocolTask task, float[] model, float[]? momentum, IReadOnlyList<float[]> updates, IReadOnlyList<ulong> weights)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(updates);
        ArgumentNullException.ThrowIfNull(weights);
        if (updates.Count != weights.Count || updates.Any(u => u.Length != model.Length))
        {
            throw new ArgumentException($"{updates.Count} updates and {weights.Count} weights; every update must have {model.Length} values");
        }
        var u = momentum is null ? new float[model.Length] : (float[])momentum.Clone();
        if (updates.Count == 0)
        {
            return new AggregationResult((float[])model.Clone(), u, new float[model.Length], []);
        }
        double[][] coefficients = task.Aggregation == AggregationRule.CenteredClipping ? ClipCoefficients(task, updates) : [];
        var newModel = new float[model.Length];
        var aggregate = new float[model.Length];
        ApplyRange(task, model, u, updates.Select(x => (ReadOnlyMemory<float>)x).ToArray(), weights, coefficients, newModel, aggregate);
        return new AggregationResult(newModel, u, aggregate, coefficients);
    }

    /// <summary>
    /// The element-wise part of aggregation on a range (a whole model or one leaf): writes Δ̄ and θ' and
    /// updates the momentum in place.
    /// </summary>
    /// <param name="task">The task.</param>
    /// <param name="model">θ_r on the range.</param>
    /// <param name="momentum">u on the range (updated in place).</param>
    /// <param name="updates">deq(q_m) on the range, canonical order.</param>
    /// <param name="weights">w_m.</param>
    /// <param name="coefficients">Clip coefficients (centered clipping only).</param>
    /// <param name="newModel">Receives θ'.</param>
    /// <param name="aggregate">Receives Δ̄.</param>
    public static void ApplyRange(ProtocolTask task, ReadOnlySpan<float> model, Span<float> momentum, IReadOnlyList<ReadOnlyMemory<float>> updates,
        IReadOnlyList<ulong> weights, double[][] coefficients, Span<float> newModel, Span<float> aggregate)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(updates);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(coefficients);
        int n = updates.Count;
        double totalWeight = 0;
        foreach (ulong w in weights)
        {
            totalWeight += w;
        }
        int trim = (int)Math.Floor(task.TrimFraction * n);
        var column = new double[n];
        for (int i = 0; i < model.Length; i++)
        {
            double value;
            switch (task.Aggregation)
            {
                case AggregationRule.TrimmedMean:
                    for (int m = 0; m < n; m++)
                    {
                        column[m] = updates[m].Span[i];
                    }
                    Array.Sort(column);
                    double kept = 0;
                    for (int m = trim; m < n - trim; m++)
                    {
                        kept += column[m];
                    }
                    value = kept / (n - 2 * trim);
                    break;
                case AggregationRule.CenteredClipping:
                    double v = 0;
                    foreach (double[] c in coefficients)
                    {
                        double sum = 0;
                        for (int m = 0; m < n; m++)
                        {
                            sum += (updates[m].Span[i] - v) * c[m];
                        }
                        v += sum / n;
                    }
                    value = v;
                    break;
                default:
                    double acc = 0;
                    for (int m = 0; m < n; m++)
                    {
                        acc += (double)weights[m] * updates[m].Span[i];
                    }
                    value = acc / totalWeight;
                    break;
            }
            float d = (float)value;
            aggregate[i] = d;
            if (task.Outer == OuterOptimizer.Nesterov)
            {
                momentum[i] = MathF.FusedMultiplyAdd(task.OuterMomentum, momentum[i], d);
                newModel[i] = MathF.FusedMultiplyAdd(-task.OuterLearningRate, MathF.FusedMultiplyAdd(task.OuterMomentum, momentum[i], d), model[i]);
            }
            else
            {
                newModel[i] = MathF.FusedMultiplyAdd(-task.OuterLearningRate, d, model[i]);
            }
        }
    }

    private static double[][] ClipCoefficients(ProtocolTask task, IReadOnlyList<float[]> updates)
    {
        int n = updates.Count, len = updates[0].Length;
        var v = new double[len];
        var all = new double[task.ClipIterations][];
        for (int l = 0; l < task.ClipIterations; l++)
        {
            var c = new double[n];
            for (int m = 0; m < n; m++)
            {
                double norm2 = 0;
                for (int i = 0; i < len; i++)
                {
                    double diff = updates[m][i] - v[i];
                    norm2 += diff * diff;
                }
                double norm = Math.Sqrt(norm2);
                c[m] = norm == 0 ? 1 : Math.Min(1, task.ClipRadius / norm);
            }
            for (int i = 0; i < len; i++)
            {
                double sum = 0;
                for (int m = 0; m < n; m++)
                {
                    sum += (updates[m][i] - v[i]) * c[m];
                }
                v[i] += sum / n;
            }
            all[l] = c;
        }
        return all;
    }

    /// <summary>
    /// PoGO's random-leaf check of an aggregation: recomputes leaf <paramref name="leaf"/> of θ_{r+1} (and of the
    /// momentum) from the same leaf of θ_r, u_r and each accepted q, and compares bit for bit.
    /// </summary>
    /// <param name="task">The task.</param>
    /// <param name="model">θ_r.</param>
    /// <param name="momentum">u_r (null: zeros).</param>
    /// <param name="updateBlobs">Accepted q blobs, canonical order.</param>
    /// <param name="weights">Their weights.</param>
    /// <param name="result">The published aggregation.</param>
    /// <param name="leaf">Leaf index.</param>
    /// <returns>True when the leaf matches.</returns>
    public static bool CheckLeaf(ProtocolTask task, float[] model, float[]? momentum, IReadOnlyList<byte[]> updateBlobs, IReadOnlyList<ulong> weights,
        AggregationResult result, int leaf)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(updateBlobs);
        ArgumentNullException.ThrowIfNull(result);
        float[] baseLeaf = ModelCommitment.ReadLeaf([model], leaf);
        float[] u = momentum is null ? new float[baseLeaf.Length] : ModelCommitment.ReadLeaf([momentum], leaf);
        var leaves = new List<ReadOnlyMemory<float>>();
        foreach (byte[] blob in updateBlobs)
        {
            byte[] bytes = Updates.Leaf(blob, leaf);
            var values = new float[bytes.Length / Q4Codec.BlockBytes * Q4Codec.BlockFloats];
            Q4Codec.DequantizeBlocks(bytes, values);
            leaves.Add(values.AsMemory(0, baseLeaf.Length));
        }
        if (updateBlobs.Count == 0)
        {
            return baseLeaf.AsSpan().SequenceEqual(ModelCommitment.ReadLeaf([result.Model], leaf));
        }
        var newLeaf = new float[baseLeaf.Length];
        var aggregate = new float[baseLeaf.Length];
        ApplyRange(task, baseLeaf, u, leaves, weights, result.ClipCoefficients, newLeaf, aggregate);
        return Bits(newLeaf).SequenceEqual(Bits(ModelCommitment.ReadLeaf([result.Model], leaf)))
            && Bits(u).SequenceEqual(Bits(ModelCommitment.ReadLeaf([result.Momentum], leaf)));
    }

    private static ReadOnlySpan<uint> Bits(float[] values) => Q4Codec.AsBits(values);
}
