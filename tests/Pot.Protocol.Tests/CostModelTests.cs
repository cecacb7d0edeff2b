using System.Text.Json.Nodes;

namespace Pot.Protocol.Tests;

public sealed class CostModelTests
{
    // A small known configuration whose every figure is computed by hand below.
    private static readonly ModelSpec Small = ModelSpec.Parse("""
        {"name": "small", "layers": 2, "dModel": 64, "heads": 4, "vocab": 100, "context": 32}
        """);

    private static readonly CostParameters SmallWorkload = new()
    {
        InnerSteps = 10, Verifiers = 3, ReplayedSteps = 1, SampledLeaves = 1, BatchSequences = 2, SequenceLength = 16, EvalRows = 4,
        OptimizerBuffers = 2, Miners = 5, Validators = 4, WindowBlocks = 4, DiffRatio = 0.246, Mfu = 0.5,
    };

    [Fact]
    public void FormulasGiveTheHandComputedValuesForASmallModel()
    {
        // Proves every size and FLOP formula of docs/cost.md on a config computed by hand.
        // Per layer: attention 4·64·64 = 16384, feed-forward 2·64·256 = 32768 → 49152; ×2 layers + embedding 100·64 = 104704.
        Assert.Equal(49152, Small.LayerParameters);
        Assert.Equal(104704, Small.Parameters);
        var e = CostModel.Estimate(Small, GpuSpec.BuiltIn["h100"], SmallWorkload);
        Assert.Equal(104704, e.ParameterCount);
        Assert.Equal(4 * 104704, e.Sizes.Fp32ModelBytes);
        Assert.Equal(3 * 4 * 104704, e.Sizes.TrainingStateBytes);
        Assert.Equal(16 + 3272 * 18, e.Sizes.Q4UpdateBytes); // ⌈104704/32⌉ = 3272 blocks of 18 bytes
        Assert.Equal(80 + 0.246 * 418816, e.Sizes.DiffBytes, 6);
        Assert.Equal(103, e.Sizes.Leaves); // ⌈104704/1024⌉
        Assert.Equal(7, e.Sizes.TreeHeight); // ⌈log₂ 103⌉
        Assert.Equal(1 + 1 + 1 + 1 + 7 * 32, e.Sizes.InclusionProofBytes); // version, index 0, size 103, length 7, 7 hashes
        Assert.Equal(7, e.Sizes.MultiProofHashes); // one leaf: its path
        Assert.Equal(1 + 1 + 1 + 1 + 1 + 7 * 32, e.Sizes.MultiProofBytes); // version, size, k, index, count, hashes
        Assert.Equal(4096 + 576 + 2 * 229, e.Sizes.LeafCheckBytes);
        Assert.Equal(32, e.Compute.TokensPerStep);
        Assert.Equal(6.0 * 104704 * 32 * 10, e.Compute.TrainingFlops);
        Assert.Equal(6.0 * 104704 * 32, e.Compute.ReplayFlops);
        Assert.Equal(4.0 * 2 * 104704 * 4 * 16, e.Compute.EvaluationFlops);
        Assert.Equal((6.0 * 104704 * 32 + 4.0 * 2 * 104704 * 4 * 16) / (6.0 * 104704 * 32 * 10), e.Compute.VerifierToMinerRatio, 12);
        Assert.Equal(6.0 * 104704 * 32 * 10 / 989.4e12, e.Compute.TrainingSecondsBf16, 15);
        Assert.Equal(6.0 * 104704 * 32 * 10 / 66.9e12, e.Compute.TrainingSecondsFp32, 15);
        Assert.Equal(6.0 * 104704 * 32 * 10 / (989.4e12 * 0.5), e.Compute.TrainingSecondsAtMfu, 15);
        Assert.Equal(1, e.Compute.GpusToHoldState);
    }

    [Fact]
    public void TransactionSizesComeFromTheChainEncoders()
    {
        // Proves the on-chain sizes equal the canonical encoding computed by hand: version 1, chain id "pot-mainnet" (1 + 11),
        // type 1, key 32, nonce 1000 (2), fee 1000 (2) = 50 bytes of envelope and a 64-byte signature around the payload.
        var chain = CostModel.Chain(SmallWorkload, 103);
        // Submit payload: task 1 (1), round 1000 (2), three roots 96, count 10 (1), 10 losses 40, sample count 20 (1) = 141.
        Assert.Equal(50 + 141 + 64, chain.SubmitTxBytes);
        // Attest payload: id 32, verdict 1, failed check 1, steps [9] (1 + 1), leaves [102] (1 + 1), three floats 12, evidence 32 = 82.
        Assert.Equal(50 + 82 + 64, chain.AttestTxBytes);
        // Finalize: task (1), round (2), model root 32, 5 accepted ids (1 + 160), 0 rejected (1), 5 + min(4, 15) = 9 payouts of
        // 20-byte address + varint(1_000_000/9 + 1 = 111112, 3 bytes) (1 + 9·23), 0 slashes (1) = 406.
        Assert.Equal(50 + 406 + 64, chain.FinalizeTxBytes);
        // Block overhead: header (version 1, chain id 12, height 10⁶ (3), parent 32, time 1.8·10¹² ms (6), proposer 20, view 0 (1),
        // state root 32, transactions root 32, one model root (1 + 1 + 32)) = 173, certificate of n − f = 3 signatures (1 + 3·84) = 253.
        Assert.Equal(173 + 253, chain.BlockOverheadBytes);
        // Round: M·submit + c·M·attest + finalize + (W + 1)·overhead.
        Assert.Equal(5 * 255 + 15 * 196 + 520 + 5 * 426, chain.RoundBytes);
        Assert.Equal((5 * 255 + 15 * 196 + 520 + 5 * 426) / 5.0, chain.BytesPerBlock);
        Assert.False(chain.FinalizeExceedsTransactionLimit);
    }

    [Fact]
    public void BuiltInModelsMatchTheirPublishedSizes()
    {
        // Proves the embedded specs reproduce the published parameter counts (GPT-3 175B, Gemma 3 27B) within 1%.
        foreach (var name in new[] { "gpt3-175b", "gemma3-27b" })
        {
            var spec = ModelSpec.Parse(ModelSpec.BuiltIn[name]);
            Assert.InRange(spec.Parameters / spec.NominalParameters!.Value, 0.99, 1.01);
        }
    }

    [Theory]
    [InlineData("""{"name": "x", "layers": -2, "dModel": 64, "heads": 4, "vocab": 100, "context": 32}""", "layers must be positive")]
    [InlineData("""{"name": "x", "layers": 2, "dModel": 64, "heads": 4, "vocab": 100}""", "missing required properties")]
    [InlineData("""{"name": "x", "layers": 2, "dModel": 64, "heads": 4, "vocab": 100, "context": 32, "colour": 1}""", "colour")]
    [InlineData("""{"name": "x", "layers": 2, "dModel": 65, "heads": 4, "vocab": 100, "context": 32}""", "not a multiple of heads")]
    [InlineData("""{"name": "x", "layers": "2", "dModel": 64, "heads": 4, "vocab": 100, "context": 32}""", "not valid")]
    [InlineData("""{"name": "x",""", "not valid")]
    [InlineData("""{"name": "x", "layers": 2, "dModel": 9000000000000000000, "heads": 4, "vocab": 100, "context": 32}""", "at most 1073741824")]
    [InlineData("""{"name": "x", "layers": 100000, "dModel": 65536, "heads": 4, "vocab": 100, "context": 32}""", "exceed the model commitment's limit")]
    public void MalformedSpecsAreRefusedWithAClearMessage(string json, string expected)
    {
        // Proves bad, incomplete, unknown-field and negative-size specs raise ArgumentException naming the problem.
        var ex = Assert.Throws<ArgumentException>(() => ModelSpec.Parse(json));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NegativeWorkloadSizesAreRefused()
    {
        // Proves negative sizes in the workload are refused before anything is computed.
        Assert.Throws<ArgumentException>(() => CostModel.Estimate(Small, GpuSpec.BuiltIn["h100"], SmallWorkload with { BatchSequences = -1 }));
        Assert.Throws<ArgumentException>(() => CostModel.Estimate(Small, GpuSpec.BuiltIn["h100"], SmallWorkload with { SequenceLength = 64 })); // > context
        Assert.Throws<ArgumentException>(() => CostModel.Estimate(Small, GpuSpec.BuiltIn["h100"], SmallWorkload with { EvalRows = -4 }));
    }

    private static (int Exit, string Out, string Err) Pot(params string[] args) => CliTests.Pot(args);

    [Fact]
    public void CliPrintsJsonAndRefusesBadInputWithExitCode2()
    {
        // Proves `pot cost --json` ends with one JSON object for a built-in model, and unknown models, malformed or
        // negative specs and negative sizes exit 2 with one `error:` line.
        var (exit, stdout, stderr) = Pot("cost", "--model", "gpt3-175b", "--gpu", "a100", "--json");
        Assert.True(exit == 0, stderr);
        var json = JsonNode.Parse(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1])!.AsObject();
        Assert.Equal("GPT-3 175B", (string)json["model"]!);
        Assert.Equal(312, (double)json["gpu"]!["bf16DenseTflops"]!);
        Assert.True((double)json["sizes"]!["q4UpdateBytes"]! < (double)json["sizes"]!["fp32ModelBytes"]! / 7);

        string dir = Path.Combine(Path.GetTempPath(), "pot-cost-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string negative = Path.Combine(dir, "negative.json");
            File.WriteAllText(negative, """{"name": "x", "layers": 2, "dModel": -64, "heads": 4, "vocab": 100, "context": 32}""");
            string broken = Path.Combine(dir, "broken.json");
            File.WriteAllText(broken, "{ not json");
            foreach (var (args, expected) in new (string[], string)[]
            {
                (["cost", "--model", "gpt5"], "unknown model 'gpt5'"),
                (["cost", "--model", negative], "dModel must be positive"),
                (["cost", "--model", broken], "model spec is not valid"),
                (["cost", "--model", Path.Combine(dir, "missing.json")], "does not exist"),
                (["cost", "--model", "gemma3-27b", "--batch", "-8"], "batch must be at least 1"),
                (["cost", "--model", "gemma3-27b", "--gpu", "tpu"], "unknown GPU 'tpu'"),
            })
            {
                var (code, _, err) = Pot(args);
                Assert.Equal(2, code);
                Assert.Contains(expected, err, StringComparison.Ordinal);
                Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
