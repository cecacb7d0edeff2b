using Pot.Commitments;
using Pot.Commitments.Quantization;
using Pot.Protocol;

namespace Pot.Protocol.Tests;

public sealed class AggregationTests
{
    [Fact]
    public void OneRoundWithH1SgdEqualsThePotFormulaBitForBit()
    {
        // Proves: with H = 1, inner SGD (no momentum, no weight decay, no clipping) and outer SGD with rate η, the
        // model after a protocol round equals θ − η·(1/N)·Σ deq(Q4(lr·∇L_i(θ))) computed independently here from
        // the engine's gradients: lr·∇L_i in the engine's fp32 form θ − fma(−lr, g, θ), quantized, dequantized,
        // summed in float64 in ascending submission-id order, divided by N, and applied as fma(−η, mean, θ).
        var task = ProtocolTask.Tiny(optimizer: "sgd") with
        {
            InnerSteps = 1, ReplayedSteps = 1, OuterLearningRate = 0.7f, LossMargin = -10f, OwnDataMargin = -10f,
        };
        task = task with { Training = task.Training with { ClipNorm = 0f, WeightDecay = 0f } };
        const int miners = 3;
        var report = ProtocolSimulation.Run(new SimulationOptions
        {
            Task = task, Validators = 4, Miners = Enumerable.Repeat(MinerStrategy.Honest, miners).ToArray(), Rounds = 1, Evaluate = false,
        });
        Assert.Equal(miners, report.Accepted);

        var engine = new StepEngine(task);
        float[] theta = engine.InitialModel();
        byte[] beacon = Hex.Decode(report.RoundBeacons[0], "beacon", 32);
        var order = report.Submissions.OrderBy(s => s.SubmissionId, StringComparer.Ordinal).Select(s => s.Miner).ToArray();
        var deq = new float[miners][];
        foreach (int m in order)
        {
            var key = ProtocolSimulation.KeyFor(1, "miner", m);
            var assignment = DataAssignment.Derive(beacon, task.Id, key.PublicKey, 0);
            float[] g = engine.Gradient(theta, assignment.Key(0), task.Training.BatchSize);
            var scaled = new float[theta.Length];
            for (int i = 0; i < theta.Length; i++)
            {
                scaled[i] = theta[i] - MathF.FusedMultiplyAdd(-task.Training.LearningRate, g[i], theta[i]);
            }
            deq[m] = Q4Blob.Decode(Q4Blob.Encode(scaled));
        }
        var expected = new float[theta.Length];
        for (int i = 0; i < theta.Length; i++)
        {
            double sum = 0;
            foreach (int m in order)
            {
                sum += deq[m][i];
            }
            expected[i] = MathF.FusedMultiplyAdd(-task.OuterLearningRate, (float)(sum / miners), theta[i]);
        }
        Assert.Equal(Hex.Encode(ModelCommitment.ComputeRoot([expected])), report.FinalModelRoot);
        Assert.NotEqual(Hex.Encode(ModelCommitment.ComputeRoot([theta])), report.FinalModelRoot);
    }

    [Theory]
    [InlineData(AggregationRule.Mean, OuterOptimizer.Nesterov)]
    [InlineData(AggregationRule.TrimmedMean, OuterOptimizer.Sgd)]
    [InlineData(AggregationRule.CenteredClipping, OuterOptimizer.Nesterov)]
    public void LeafCheckAcceptsTheTrueAggregateAndRejectsAForgedLeaf(AggregationRule rule, OuterOptimizer outer)
    {
        // Proves: a validator's per-leaf recomputation agrees with the primary's aggregation for every rule and
        // outer optimiser (including momentum state), and detects one changed value in the published model.
        var task = ProtocolTask.Tiny() with { Aggregation = rule, Outer = outer, ClipRadius = 0.5 };
        var rng = new ProtocolRandom([1, 2, 3], "test");
        int n = 3000;
        float[] model = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
        float[] momentum = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.01f).ToArray();
        var blobs = Enumerable.Range(0, 5).Select(_ => Updates.Quantize(Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.1f).ToArray())).ToArray();
        ulong[] weights = [8, 8, 16, 8, 8];
        var result = Aggregator.Aggregate(task, model, momentum, blobs.Select(b => Updates.Dequantize(b, n)).ToArray(), weights);
        for (int leaf = 0; leaf < Updates.LeafCount(n); leaf++)
        {
            Assert.True(Aggregator.CheckLeaf(task, model, momentum, blobs, weights, result, leaf));
        }
        result.Model[1500] = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(result.Model[1500]) + 1);
        Assert.False(Aggregator.CheckLeaf(task, model, momentum, blobs, weights, result, 1));
        Assert.True(Aggregator.CheckLeaf(task, model, momentum, blobs, weights, result, 0));
    }

    [Fact]
    public void RobustRulesBoundAnOutlierThatMovesTheMean()
    {
        // Proves: one huge update drags the plain mean far away while the trimmed mean and centered clipping stay
        // near the honest updates.
        int n = 64;
        var honest = Enumerable.Range(0, 4).Select(i => Enumerable.Repeat(0.01f * (i + 1), n).ToArray()).ToList();
        honest.Add(Enumerable.Repeat(100f, n).ToArray());
        ulong[] w = [1, 1, 1, 1, 1];
        float[] zero = new float[n];
        float Agg(AggregationRule r) => -Aggregator.Aggregate(ProtocolTask.Tiny() with { Aggregation = r, ClipRadius = 0.1 }, zero, null, honest, w).Model[0];
        Assert.True(Agg(AggregationRule.Mean) > 19f);
        Assert.InRange(Agg(AggregationRule.TrimmedMean), 0.01f, 0.04f);
        Assert.InRange(Agg(AggregationRule.CenteredClipping), 0f, 0.1f);
    }
}
