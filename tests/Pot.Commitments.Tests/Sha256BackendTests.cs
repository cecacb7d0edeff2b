using System.Security.Cryptography;
using Pot.Commitments.Merkle;

namespace Pot.Commitments.Tests;

/// <summary>
/// The Merkle code hashes through a per-thread SHA-256 context that is either OpenSSL's EVP interface
/// (libcrypto.so.3, the fast default on Linux) or .NET's IncrementalHash (portable fallback). These tests
/// run the same known answers through both and require identical results.
/// </summary>
public class Sha256BackendTests
{
    public static TheoryData<string> Backends => new() { nameof(Sha256Backend.OpenSsl), nameof(Sha256Backend.Managed) };

    private static void WithBackend(string backend, Action body)
    {
        var chosen = Enum.Parse<Sha256Backend>(backend);
        if (chosen == Sha256Backend.OpenSsl && !Sha256Context.OpenSslAvailable)
        {
            Assert.False(OperatingSystem.IsLinux(), "libcrypto.so.3 must be usable on Linux (the .NET runtime itself loads it)");
            return;
        }
        MerkleHash.ThreadBackend = chosen;
        try
        {
            Assert.Equal(chosen, MerkleHash.ThreadBackend);
            body();
        }
        finally
        {
            MerkleHash.ThreadBackend = Sha256Context.DefaultBackend;
        }
    }

    [Fact]
    public void OpenSslIsTheDefaultOnLinux()
    {
        // Proves the fast path is really in use where it should be, not silently replaced by the fallback.
        if (OperatingSystem.IsLinux())
        {
            Assert.True(Sha256Context.OpenSslAvailable);
            Assert.Equal("openssl", MerkleHash.Implementation);
        }
        else
        {
            Assert.Equal("managed", MerkleHash.Implementation);
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void ContextHashesPiecesAndIsReusableAfterEveryDigest(string backend)
    {
        // Proves a context gives plain SHA-256 for any split of the message into pieces, including empty
        // pieces and splits across 64-byte block boundaries, and starts afresh after every digest.
        WithBackend(backend, () =>
        {
            Sha256Context context = Sha256Context.Create(Enum.Parse<Sha256Backend>(backend));
            var rng = new Random(11);
            Span<byte> digest = stackalloc byte[32];
            foreach (int length in new[] { 0, 1, 55, 56, 63, 64, 65, 119, 4097, 10_000 })
            {
                var message = new byte[length];
                rng.NextBytes(message);
                int cut1 = length == 0 ? 0 : rng.Next(length);
                int cut2 = cut1 + (length == cut1 ? 0 : rng.Next(length - cut1));
                context.Append(message.AsSpan(0, cut1));
                context.Append([]);
                context.Append(message.AsSpan(cut1, cut2 - cut1));
                context.Append(message.AsSpan(cut2));
                context.Finish(digest);
                Assert.Equal(SHA256.HashData(message), digest.ToArray());
            }
            context.Finish(digest);
            Assert.Equal(SHA256.HashData([]), digest.ToArray());
            Assert.Throws<ArgumentException>(() => context.Finish(new byte[31]));
        });
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void RootsAndPathsOfEveryTreeSize0To70MatchTheReference(string backend)
    {
        // Proves both backends give the RFC 6962 reference roots (generic, fixed-leaf and from-hashes paths)
        // and leaf/node hashes, so switching backend can never change a commitment.
        WithBackend(backend, () =>
        {
            for (int n = 0; n <= 70; n++)
            {
                var leaves = ReferenceMerkle.Leaves(n);
                byte[] expected = ReferenceMerkle.Mth(leaves);
                Assert.Equal(expected, MerkleTree.ComputeRoot(leaves));
                Assert.Equal(expected, MerkleTree.FromLeaves(leaves).Root);
                for (int m = 0; m < n; m++)
                {
                    Assert.True(MerkleTree.FromLeaves(leaves).ProveInclusion(m).Verify(ReferenceMerkle.LeafHash(leaves[m]), expected));
                }
            }
            var data = new byte[70 * 4096 + 123];
            new Random(3).NextBytes(data);
            foreach (int leafSize in new[] { 1, 63, 64, 4096 })
            {
                byte[] expected = ReferenceMerkle.Mth(data.Take(4096 * 3 + 5).Chunk(leafSize).ToList());
                Assert.Equal(expected, MerkleTree.ComputeRootOfFixedLeaves(data.AsSpan(0, 4096 * 3 + 5), leafSize));
            }
            Assert.Equal(ReferenceMerkle.Mth(data.Chunk(4096).ToList()), MerkleTree.ComputeRootOfFixedLeaves(data, 4096));
            byte[] left = SHA256.HashData([1]);
            byte[] right = SHA256.HashData([2]);
            Assert.Equal(ReferenceMerkle.NodeHash(left, right), NodeHash(left, right));
        });
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void ModelRootIsTheSameUnderBothBackends(string backend)
    {
        // Proves the model commitment's in-place leaf streaming (leaves straddling tensors) matches the
        // reference under each backend. 200 leaves stays on the calling thread's (sequential) path.
        var all = new float[200 * 1024 - 300];
        var rng = new Random(9);
        for (int i = 0; i < all.Length; i++)
        {
            all[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        var bytes = new byte[all.Length * 4];
        ModelCommitment.WriteLittleEndian(all, bytes);
        byte[] expected = ReferenceMerkle.Mth(bytes.Chunk(ModelCommitment.LeafBytes).ToList());
        WithBackend(backend, () =>
        {
            var split = new List<ReadOnlyMemory<float>> { all.AsMemory(0, 1000), all.AsMemory(1000, 0), all.AsMemory(1000, 5000), all.AsMemory(6000) };
            Assert.Equal(expected, ModelCommitment.ComputeRoot(split));
            Assert.Equal(expected, ModelCommitment.BuildTree(split).Root);
        });
    }

    [Fact]
    public void ParallelModelRootOnDefaultBackendMatchesManagedSequentialRoot()
    {
        // Proves the multi-threaded path (worker threads use their own default contexts) gives the root the
        // managed fallback computes sequentially over the same bytes.
        var all = new float[600 * 1024 + 17];
        var rng = new Random(21);
        for (int i = 0; i < all.Length; i++)
        {
            all[i] = (float)rng.NextDouble();
        }
        byte[] parallel = ModelCommitment.ComputeRoot([all]);
        var bytes = new byte[all.Length * 4];
        ModelCommitment.WriteLittleEndian(all, bytes);
        WithBackend(nameof(Sha256Backend.Managed), () => Assert.Equal(parallel, MerkleTree.ComputeRootOfFixedLeaves(bytes, ModelCommitment.LeafBytes)));
    }

    private static byte[] NodeHash(byte[] left, byte[] right)
    {
        var destination = new byte[32];
        MerkleHash.HashNode(left, right, destination);
        return destination;
    }
}
