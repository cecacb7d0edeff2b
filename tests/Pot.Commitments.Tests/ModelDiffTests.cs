using Pot.Commitments.Diffs;

namespace Pot.Commitments.Tests;

public class ModelDiffTests
{
    private static (float[] Old, float[] New) Versions(int n, int seed)
    {
        var rng = new Random(seed);
        float[] old = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        float[] updated = old.Select(v => rng.Next(4) == 0 ? v - 1e-4f * (float)(rng.NextDouble() - 0.5) : v).ToArray();
        updated[0] = float.NaN; // bit patterns, not values: NaN payloads and signed zeros must survive
        updated[1] = -0.0f;
        return (old, updated);
    }

    [Fact]
    public void ApplyReproducesTheNewVersionBitForBitAndCompresses()
    {
        // Proves apply(create(old, new), old) == new bit for bit, and that a sparse update compresses well.
        (float[] old, float[] updated) = Versions(100_000, 1);
        byte[] diff = ModelDiff.Create(old, updated);
        float[] back = ModelDiff.Apply(diff, old);
        Assert.Equal(Bits(updated), Bits(back));
        Assert.True(diff.Length < updated.Length * 4 / 2, $"diff is {diff.Length} bytes for {updated.Length * 4} bytes of model");
        Assert.Equal("POTD"u8.ToArray(), diff[..4]);
        Assert.Equal(ModelDiff.HashFloats(updated), diff[48..80]);
    }

    [Fact]
    public void IdenticalAndEmptyVersionsProduceTinyValidDiffs()
    {
        // Proves the degenerate cases: no change (all-zero XOR) and an empty model.
        (float[] old, _) = Versions(50_000, 2);
        byte[] same = ModelDiff.Create(old, old);
        Assert.True(same.Length < 200, $"{same.Length}");
        Assert.Equal(Bits(old), Bits(ModelDiff.Apply(same, old)));
        Assert.Empty(ModelDiff.Apply(ModelDiff.Create([], []), []));
    }

    [Fact]
    public void WrongBaseIsReportedAsAWrongBase()
    {
        // Proves applying to a different base of the same length fails with a clear wrong-base error, and a
        // base of another length with a length error.
        (float[] old, float[] updated) = Versions(1000, 3);
        byte[] diff = ModelDiff.Create(old, updated);
        float[] other = (float[])old.Clone();
        other[500] = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(other[500]) ^ 1);
        Assert.Contains("wrong base model", Assert.Throws<PotFormatException>(() => ModelDiff.Apply(diff, other)).Message);
        Assert.Contains("the base given has 999", Assert.Throws<PotFormatException>(() => ModelDiff.Apply(diff, old[..999])).Message);
        Assert.Throws<ArgumentException>(() => ModelDiff.Create(old, updated[..10]));
    }

    [Fact]
    public void CorruptPayloadOrResultHashIsDetected()
    {
        // Proves a damaged compressed payload or a damaged result hash never yields a silently wrong model.
        (float[] old, float[] updated) = Versions(5000, 4);
        byte[] diff = ModelDiff.Create(old, updated);
        for (int i = ModelDiff.HeaderBytes; i < diff.Length; i += 7)
        {
            byte[] bad = (byte[])diff.Clone();
            bad[i] ^= 0x5a;
            Assert.Throws<PotFormatException>(() => ModelDiff.Apply(bad, old));
        }
        byte[] badHash = (byte[])diff.Clone();
        badHash[60] ^= 1;
        Assert.Contains("the diff is corrupt", Assert.Throws<PotFormatException>(() => ModelDiff.Apply(badHash, old)).Message);
    }

    [Fact]
    public void DeclaredSizeIsBoundedBeforeAllocationAndBombsAreRefused()
    {
        // Proves the size limit applies before allocating, and a frame inflating past the declared size
        // (a zip bomb behind a small header) is refused.
        (float[] old, float[] updated) = Versions(1000, 5);
        byte[] diff = ModelDiff.Create(old, updated);
        Assert.Contains("the limit is 999", Assert.Throws<PotFormatException>(() => ModelDiff.Apply(diff, old, maxFloats: 999)).Message);
        byte[] huge = (byte[])diff.Clone();
        huge[15] = 0x01; // declares 2^56 + 1000 floats
        Assert.Contains("limit", Assert.Throws<PotFormatException>(() => ModelDiff.Apply(huge, old)).Message);
        // A genuine diff of 1,000,000 zero floats, relabelled as a diff of 1000 floats.
        byte[] bomb = ModelDiff.Create(new float[1_000_000], new float[1_000_000]);
        byte[] relabelled = [.. diff[..ModelDiff.HeaderBytes], .. bomb[ModelDiff.HeaderBytes..]];
        float[] zeros = new float[1000];
        byte[] hashOfZeros = ModelDiff.HashFloats(zeros);
        hashOfZeros.CopyTo(relabelled, 16);
        var ex = Assert.Throws<PotFormatException>(() => ModelDiff.Apply(relabelled, zeros));
        Assert.Contains("inflates", ex.Message);
    }

    [Fact]
    public void DecoderThrowsOnlyPotFormatExceptionOnRandomBytes()
    {
        // Proves random and mutated diffs never escape as any exception other than PotFormatException.
        (float[] old, float[] updated) = Versions(300, 6);
        byte[] valid = ModelDiff.Create(old, updated);
        var rng = new Random(8);
        for (int trial = 0; trial < 2000; trial++)
        {
            byte[] input = Fuzz.Mutate(rng, trial % 4 == 3 ? null : valid);
            Fuzz.OnlyFormatErrors(() => ModelDiff.Apply(input, old));
        }
    }

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();
}
