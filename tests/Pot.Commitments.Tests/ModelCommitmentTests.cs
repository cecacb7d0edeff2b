using Pot.Commitments.Merkle;

namespace Pot.Commitments.Tests;

public class ModelCommitmentTests
{
    private static float[] RandomFloats(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }

    private static byte[] LittleEndianBytes(float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        }
        return bytes;
    }

    [Fact]
    public void RootIsTheRfc6962RootOf4KiBLittleEndianLeavesRegardlessOfTensorSplit()
    {
        // Proves the model root equals the reference Merkle root of the fp32 LE stream cut into 4096-byte
        // leaves (last one short), and that how the stream is split into tensors does not matter.
        float[] all = RandomFloats(5 * 1024 + 300, 1);
        byte[] expected = ReferenceMerkle.Mth(LittleEndianBytes(all).Chunk(4096).ToList());
        Assert.Equal(expected, ModelCommitment.ComputeRoot([all]));
        var split = new List<ReadOnlyMemory<float>> { all.AsMemory(0, 1), all.AsMemory(1, 2000), all.AsMemory(2001, 0), all.AsMemory(2001) };
        Assert.Equal(expected, ModelCommitment.ComputeRoot(split));
        Assert.Equal(expected, ModelCommitment.BuildTree(split).Root);
        Assert.Equal(6, ModelCommitment.LeafCount(all.Length));
    }

    [Theory]
    [InlineData(0L, 0)]
    [InlineData(1L, 1)]
    [InlineData(1024L, 1)]
    [InlineData(1025L, 2)]
    [InlineData(1_000_000_000L, 976563)]
    public void LeafCountIsCeilingOfFloatsOver1024(long floats, int leaves)
    {
        // Proves the leaf count formula, including the empty model and a partial last leaf.
        Assert.Equal(leaves, ModelCommitment.LeafCount(floats));
    }

    [Fact]
    public void EmptyModelHasTheEmptyTreeRoot()
    {
        // Proves a model with no parameters commits to SHA-256 of nothing, like any empty RFC 6962 tree.
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Hex.Encode(ModelCommitment.ComputeRoot([])));
    }

    [Fact]
    public void LeafProofsVerifyAcrossTensorBoundariesAndDetectAChangedValue()
    {
        // Proves a leaf straddling two tensors is read and proven correctly, and one changed bit (even -0 vs +0) is caught.
        float[] a = RandomFloats(1500, 2);
        float[] b = RandomFloats(1000, 3);
        var tensors = new List<ReadOnlyMemory<float>> { a, b };
        byte[] root = ModelCommitment.ComputeRoot(tensors);
        for (int leaf = 0; leaf < 3; leaf++)
        {
            float[] values = ModelCommitment.ReadLeaf(tensors, leaf);
            float[] expected = a.Concat(b).Skip(leaf * 1024).Take(1024).ToArray();
            Assert.Equal(expected, values);
            MerkleProof proof = ModelCommitment.ProveLeaf(tensors, leaf);
            Assert.True(ModelCommitment.VerifyLeaf(root, proof, values));
            values[values.Length - 1] = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(values[^1]) ^ 1);
            Assert.False(ModelCommitment.VerifyLeaf(root, proof, values));
        }
        Assert.Equal(452, ModelCommitment.ReadLeaf(tensors, 2).Length);
        float[] zeros = new float[10];
        float[] negativeZeros = Enumerable.Repeat(-0.0f, 10).ToArray();
        Assert.NotEqual(ModelCommitment.ComputeRoot([zeros]), ModelCommitment.ComputeRoot([negativeZeros]));
        Assert.Throws<ArgumentOutOfRangeException>(() => ModelCommitment.ProveLeaf(tensors, 3));
    }

    [Fact]
    public void ParallelLeafHashingOfALargeModelEqualsTheReferenceForAnyTensorSplit()
    {
        // Proves the multi-threaded path (used from 256 leaves up) gives the reference root, including tensors
        // that are empty, shorter than a leaf, or straddle many leaves.
        float[] all = RandomFloats(300 * 1024 + 77, 9);
        byte[] expected = ReferenceMerkle.Mth(LittleEndianBytes(all).Chunk(4096).ToList());
        Assert.Equal(expected, ModelCommitment.ComputeRoot([all]));
        var rng = new Random(4);
        var split = new List<ReadOnlyMemory<float>>();
        int offset = 0;
        while (offset < all.Length)
        {
            int length = Math.Min(all.Length - offset, rng.Next(4) switch { 0 => 0, 1 => rng.Next(1, 50), 2 => rng.Next(1000, 3000), _ => rng.Next(10_000, 40_000) });
            split.Add(all.AsMemory(offset, length));
            offset += length;
        }
        split.Add(ReadOnlyMemory<float>.Empty);
        Assert.Equal(expected, ModelCommitment.ComputeRoot(split));
        Assert.Equal(expected, ModelCommitment.BuildTree(split).Root);
    }
}
