using Pot.Learning.Kernels;
using Pot.Learning.Training;

namespace Pot.Learning.Tests;

/// <summary>
/// Bitwise determinism of whole training runs: the same model digest across thread counts, SIMD
/// widths (AVX-512 off, all hardware intrinsics off) and repeated runs, and equal to a pinned value
/// so any change to a canonical evaluation order is caught.
/// </summary>
public class DeterminismTests
{
    // The digest of 12 steps of addition, seed 7, batch 8. It changes only if a canonical order,
    // the initialisation, the data order or the optimiser changes — which breaks every committed
    // training trace, so such a change must be deliberate.
    private const string PinnedDigest = "5066392ce008256905298e9fd76e97b232c42634591d20bb8cb435c9a4b8ce16";

    private static readonly string[] TrainArgs = ["train", "--task", "addition", "--steps", "12", "--seed", "7", "--batch-size", "8", "--skip-eval", "--json"];

    private static string DigestOf(int threads, Dictionary<string, string>? env = null)
    {
        var (code, stdout, stderr) = ChildProcess.RunPot([.. TrainArgs, "--threads", threads.ToString(System.Globalization.CultureInfo.InvariantCulture)], env);
        Assert.True(code == 0, $"pot train failed ({code}): {stderr}");
        return ChildProcess.LastJsonLine(stdout)["modelRoot"]!.GetValue<string>();
    }

    // Proves one and two threads give the same bits, and that they equal the pinned digest.
    [Fact]
    public void ThreadCountDoesNotChangeBits()
    {
        string one = DigestOf(1);
        string two = DigestOf(2);
        Assert.Equal(one, two);
        Assert.Equal(PinnedDigest, one);
    }

    // Proves the AVX2 path (AVX-512 disabled in the JIT) gives the same bits as the default path.
    [Fact]
    public void Avx512DisabledGivesSameBits()
    {
        Assert.Equal(PinnedDigest, DigestOf(2, new() { ["DOTNET_EnableAVX512F"] = "0" }));
    }

    // Proves the scalar path (every hardware intrinsic disabled) gives the same bits.
    [Fact]
    public void ScalarPathGivesSameBits()
    {
        Assert.Equal(PinnedDigest, DigestOf(2, new() { ["DOTNET_EnableHWIntrinsic"] = "0" }));
    }

    // Proves two in-process runs from the same config agree, and a different seed does not.
    [Fact]
    public void RepeatedRunsAgreeAndSeedsDiffer()
    {
        string Run(ulong seed)
        {
            var trainer = Trainer.Create(TrainingConfig.Default("addition") with { Steps = 5, BatchSize = 8, Seed = seed });
            for (int i = 0; i < 5; i++)
            {
                trainer.TrainStep(new Parallelism(2));
            }

            return Trainer.ParameterDigest(trainer.Trainable.Parameters);
        }

        Assert.Equal(Run(3), Run(3));
        Assert.NotEqual(Run(3), Run(4));
    }
}
