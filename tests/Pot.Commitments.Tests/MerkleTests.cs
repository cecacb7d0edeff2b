using Pot.Commitments.Merkle;

namespace Pot.Commitments.Tests;

public class MerkleTests
{
    private static readonly byte[][] RfcLeaves =
    [
        [], [0x00], [0x10], [0x20, 0x21], [0x30, 0x31], [0x40, 0x41, 0x42, 0x43],
        [0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        [0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f],
    ];

    private static readonly string[] RfcRoots =
    [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    [Fact]
    public void RootsMatchThePublishedRfc6962VectorsForSizes0To8()
    {
        // Proves the hashing (prefixes, split rule, empty tree) agrees with Certificate Transparency's published vectors.
        for (int n = 0; n <= 8; n++)
        {
            Assert.Equal(RfcRoots[n], Hex.Encode(MerkleTree.ComputeRoot(RfcLeaves.Take(n).ToList())));
            Assert.Equal(RfcRoots[n], Hex.Encode(MerkleTree.FromLeaves(RfcLeaves.Take(n).ToList()).Root));
        }
    }

    [Theory]
    [InlineData(0, 8, "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7,5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e,6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]
    [InlineData(5, 8, "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b,ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0,d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]
    [InlineData(2, 3, "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]
    public void AuditPathsMatchThePublishedRfc6962Vectors(int index, int size, string expectedPath)
    {
        // Proves the audit path (order and content of sibling hashes) matches the published CT vectors.
        var tree = MerkleTree.FromLeaves(RfcLeaves.Take(size).ToList());
        MerkleProof proof = tree.ProveInclusion(index);
        Assert.Equal(expectedPath, string.Join(",", proof.Path.Select(p => Hex.Encode(p))));
        Assert.True(proof.Verify(MerkleHash.HashLeaf(RfcLeaves[index]), Hex.Decode(RfcRoots[size], "root")));
    }

    [Fact]
    public void EveryTreeSize0To70MatchesTheRecursiveReferenceRootAndPaths()
    {
        // Proves the bottom-up builder equals the recursive RFC definition for every shape up to 70 leaves,
        // for roots and for every leaf's audit path, and that each path verifies.
        for (int n = 0; n <= 70; n++)
        {
            var leaves = ReferenceMerkle.Leaves(n);
            byte[] expectedRoot = ReferenceMerkle.Mth(leaves);
            var tree = MerkleTree.FromLeaves(leaves);
            Assert.Equal(expectedRoot, tree.Root);
            Assert.Equal(expectedRoot, MerkleTree.ComputeRoot(leaves));
            byte[] leafHashes = leaves.SelectMany(ReferenceMerkle.LeafHash).ToArray();
            Assert.Equal(expectedRoot, MerkleTree.ComputeRootFromLeafHashes(leafHashes));
            for (int m = 0; m < n; m++)
            {
                MerkleProof proof = tree.ProveInclusion(m);
                var expectedPath = ReferenceMerkle.Path(m, leaves);
                Assert.Equal(expectedPath.Count, proof.Path.Count);
                Assert.Equal(expectedPath.Count, MerkleProof.ExpectedPathLength(m, n));
                for (int i = 0; i < expectedPath.Count; i++)
                {
                    Assert.Equal(expectedPath[i], proof.Path[i]);
                }
                Assert.True(proof.Verify(ReferenceMerkle.LeafHash(leaves[m]), expectedRoot), $"leaf {m} of {n}");
            }
        }
    }

    [Fact]
    public void LargeLeavesUseThePooledBufferAndStillHashAsRfc6962Leaves()
    {
        // Proves leaves above the 1 KiB stack limit hash to SHA-256(0x00 || leaf) like small ones.
        foreach (int size in new[] { 1024, 1025, 5000, 70_000 })
        {
            var leaf = new byte[size];
            new Random(size).NextBytes(leaf);
            Assert.Equal(System.Security.Cryptography.SHA256.HashData([0x00, .. leaf]), MerkleHash.HashLeaf(leaf));
        }
    }

    [Fact]
    public void FixedLeafFastPathEqualsGenericPathIncludingShortLastLeaf()
    {
        // Proves the allocation-free fixed-size leaf path cuts data the documented way (last leaf short).
        var data = new byte[10 * 100 + 37];
        new Random(5).NextBytes(data);
        var leaves = data.Chunk(100).ToList();
        Assert.Equal(11, leaves.Count);
        Assert.Equal(ReferenceMerkle.Mth(leaves), MerkleTree.ComputeRootOfFixedLeaves(data, 100));
        Assert.Equal(ReferenceMerkle.Mth(leaves), MerkleTree.FromFixedLeaves(data, 100).Root);
        Assert.Equal(11, MerkleTree.CountLeaves(data.Length, 100));
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Hex.Encode(MerkleTree.ComputeRootOfFixedLeaves([], 100)));
    }

    [Fact]
    public void TamperedPathHashLeafOrRootIsRejected()
    {
        // Proves verification fails when any bit of any path hash, the leaf hash, or the root changes.
        var leaves = ReferenceMerkle.Leaves(37);
        var tree = MerkleTree.FromLeaves(leaves);
        byte[] root = tree.Root;
        for (int m = 0; m < 37; m += 5)
        {
            MerkleProof proof = tree.ProveInclusion(m);
            byte[] leafHash = ReferenceMerkle.LeafHash(leaves[m]);
            for (int i = 0; i < proof.Path.Count; i++)
            {
                var path = proof.Path.Select(p => (byte[])p.Clone()).ToList();
                path[i][i % 32] ^= 0x01;
                Assert.False(new MerkleProof(m, 37, path).Verify(leafHash, root));
            }
            byte[] badLeaf = (byte[])leafHash.Clone();
            badLeaf[31] ^= 0x80;
            Assert.False(proof.Verify(badLeaf, root));
            byte[] badRoot = (byte[])root.Clone();
            badRoot[0] ^= 0x01;
            Assert.False(proof.Verify(leafHash, badRoot));
            Assert.False(proof.Verify(leafHash, root.AsSpan(0, 31)));
        }
    }

    [Fact]
    public void ProofClaimingAnotherIndexOrSizeIsRejected()
    {
        // Proves a valid path does not verify for a different leaf index or tree size of the same shape,
        // and that a path of the wrong length for the claimed shape is refused outright.
        var leaves = ReferenceMerkle.Leaves(16);
        var tree = MerkleTree.FromLeaves(leaves);
        MerkleProof proof = tree.ProveInclusion(6);
        byte[] leafHash = ReferenceMerkle.LeafHash(leaves[6]);
        Assert.True(proof.Verify(leafHash, tree.Root));
        for (int other = 0; other < 16; other++)
        {
            if (other != 6)
            {
                Assert.False(new MerkleProof(other, 16, proof.Path).Verify(leafHash, tree.Root));
            }
        }
        // RFC 6962 roots bind the size only through the shape: leaf 6 has the same path shape in trees of
        // 15 and 16 leaves, so the size must come from a trusted source (documented). Against the real
        // 15-leaf root the 16-leaf path fails, and a size with another shape is refused outright.
        byte[] root15 = MerkleTree.FromLeaves(leaves.Take(15).ToList()).Root;
        Assert.False(new MerkleProof(6, 15, proof.Path).Verify(leafHash, root15));
        Assert.Throws<PotFormatException>(() => new MerkleProof(6, 7, proof.Path));
        Assert.Throws<PotFormatException>(() => new MerkleProof(6, 40, proof.Path));
        var extra = proof.Path.Append(new byte[32]).ToList();
        Assert.Contains("expected exactly 4", Assert.Throws<PotFormatException>(() => new MerkleProof(6, 16, extra)).Message);
        var missing = proof.Path.Take(3).ToList();
        Assert.Contains("expected exactly 4", Assert.Throws<PotFormatException>(() => new MerkleProof(6, 16, missing)).Message);
        Assert.Contains("outside [0, 16)", Assert.Throws<PotFormatException>(() => new MerkleProof(16, 16, proof.Path)).Message);
        Assert.Contains("tree size 0", Assert.Throws<PotFormatException>(() => new MerkleProof(0, 0, [])).Message);
        Assert.Contains("expected 32", Assert.Throws<PotFormatException>(() => new MerkleProof(6, 16, proof.Path.Select((p, i) => i == 2 ? p[..31] : p).ToList())).Message);
    }

    [Fact]
    public void InclusionProofEncodingRoundTripsAndRejectsEveryCorruption()
    {
        // Proves the proof encoding round-trips and that every truncation fails to decode and every single-byte
        // change either fails to decode or yields a proof that no longer verifies.
        var leaves = ReferenceMerkle.Leaves(45);
        var tree = MerkleTree.FromLeaves(leaves);
        MerkleProof proof = tree.ProveInclusion(41);
        byte[] encoded = proof.Encode();
        MerkleProof back = MerkleProof.Decode(encoded);
        Assert.Equal(41, back.LeafIndex);
        Assert.Equal(45, back.TreeSize);
        Assert.Equal(encoded, back.Encode());
        byte[] leafHash = ReferenceMerkle.LeafHash(leaves[41]);
        for (int cut = 0; cut < encoded.Length; cut++)
        {
            Assert.Throws<PotFormatException>(() => MerkleProof.Decode(encoded.AsSpan(0, cut)));
        }
        Assert.Throws<PotFormatException>(() => MerkleProof.Decode([.. encoded, 0]));
        for (int i = 0; i < encoded.Length; i++)
        {
            foreach (byte flip in new byte[] { 0x01, 0x80, 0xff })
            {
                byte[] bad = (byte[])encoded.Clone();
                bad[i] ^= flip;
                try
                {
                    Assert.False(MerkleProof.Decode(bad).Verify(leafHash, tree.Root), $"byte {i} ^ {flip:x2} still verifies");
                }
                catch (PotFormatException)
                {
                }
            }
        }
    }

    [Fact]
    public void MultiProofsVerifyForEverySubsetShapeAndAreCompact()
    {
        // Proves multi-proofs verify for random leaf sets over many tree sizes and never carry more hashes
        // than separate audit paths would.
        var rng = new Random(11);
        for (int n = 1; n <= 40; n++)
        {
            var leaves = ReferenceMerkle.Leaves(n);
            var tree = MerkleTree.FromLeaves(leaves);
            for (int trial = 0; trial < 6; trial++)
            {
                int[] chosen = Enumerable.Range(0, n).Where(_ => rng.Next(3) == 0).DefaultIfEmpty(rng.Next(n)).ToArray();
                MerkleMultiProof proof = tree.ProveMany(chosen);
                var hashes = proof.LeafIndices.Select(i => ReferenceMerkle.LeafHash(leaves[(int)i])).ToList();
                Assert.True(proof.Verify(hashes, tree.Root), $"n={n} leaves={string.Join(',', chosen)}");
                int separate = chosen.Sum(i => tree.ProveInclusion(i).Path.Count);
                Assert.True(proof.Hashes.Count <= separate);
                MerkleMultiProof decoded = MerkleMultiProof.Decode(proof.Encode());
                Assert.True(decoded.Verify(hashes, tree.Root));
            }
        }
        // All leaves of a tree need no extra hash at all.
        Assert.Empty(MerkleTree.FromLeaves(ReferenceMerkle.Leaves(13)).ProveMany(Enumerable.Range(0, 13)).Hashes);
    }

    [Fact]
    public void MultiProofRejectsTamperingAndMalformedShapes()
    {
        // Proves every tampered hash, a wrong leaf, a wrong leaf set, and extra or missing hashes are rejected.
        var leaves = ReferenceMerkle.Leaves(29);
        var tree = MerkleTree.FromLeaves(leaves);
        MerkleMultiProof proof = tree.ProveMany([3, 4, 17, 28]);
        var leafHashes = proof.LeafIndices.Select(i => ReferenceMerkle.LeafHash(leaves[(int)i])).ToList();
        Assert.True(proof.Verify(leafHashes, tree.Root));
        for (int i = 0; i < proof.Hashes.Count; i++)
        {
            var tampered = proof.Hashes.Select(h => (byte[])h.Clone()).ToList();
            tampered[i][7] ^= 0x10;
            Assert.False(new MerkleMultiProof(29, proof.LeafIndices, tampered).Verify(leafHashes, tree.Root));
        }
        var wrongLeaf = leafHashes.Select(h => (byte[])h.Clone()).ToList();
        wrongLeaf[2][0] ^= 1;
        Assert.False(proof.Verify(wrongLeaf, tree.Root));
        Assert.False(proof.Verify(leafHashes.Take(3).ToList(), tree.Root));
        Assert.False(new MerkleMultiProof(29, [3, 4, 16, 28], proof.Hashes).Verify(leafHashes, tree.Root));
        Assert.Throws<PotFormatException>(() => new MerkleMultiProof(29, [3, 4, 17, 27], proof.Hashes));
        Assert.Throws<PotFormatException>(() => new MerkleMultiProof(29, proof.LeafIndices, proof.Hashes.Append(new byte[32]).ToList()));
        Assert.Throws<PotFormatException>(() => new MerkleMultiProof(29, proof.LeafIndices, proof.Hashes.Skip(1).ToList()));
        Assert.Contains("strictly increasing", Assert.Throws<PotFormatException>(() => new MerkleMultiProof(29, [4, 3], [])).Message);
        Assert.Contains("outside [0, 29)", Assert.Throws<PotFormatException>(() => new MerkleMultiProof(29, [29], [])).Message);
    }

    [Fact]
    public void DecodersThrowOnlyPotFormatExceptionOnRandomBytes()
    {
        // Proves random and mutated byte strings never crash the proof decoders with any other exception type.
        var rng = new Random(1234);
        byte[] validSingle = MerkleTree.FromLeaves(ReferenceMerkle.Leaves(9)).ProveInclusion(3).Encode();
        byte[] validMulti = MerkleTree.FromLeaves(ReferenceMerkle.Leaves(9)).ProveMany([1, 5]).Encode();
        for (int trial = 0; trial < 3000; trial++)
        {
            byte[] input = Fuzz.Mutate(rng, trial % 3 == 0 ? validSingle : trial % 3 == 1 ? validMulti : null);
            Fuzz.OnlyFormatErrors(() => MerkleProof.Decode(input));
            Fuzz.OnlyFormatErrors(() => MerkleMultiProof.Decode(input));
        }
    }
}
