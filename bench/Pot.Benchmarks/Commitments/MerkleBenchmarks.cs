using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Pot.Commitments;
using Pot.Commitments.Merkle;

namespace Pot.Benchmarks.Commitments;

/// <summary>
/// Merkle root throughput over a 64 MiB model (16 Mi floats, 16 384 leaves of 4 KiB), next to the raw
/// cost of SHA-256 over the same 4 KiB blocks, which is what <c>openssl speed</c> measures.
/// Throughput = 64 MiB / mean time.
/// </summary>
[ShortRunJob]
[MemoryDiagnoser]
public class MerkleBenchmarks
{
    private const int ModelFloats = 16 * 1024 * 1024;
    private float[] _model = [];
    private byte[] _bytes = [];
    private readonly byte[] _digest = new byte[32];

    /// <summary>Fills the model with random values and prints the openssl reference.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _model = new float[ModelFloats];
        for (int i = 0; i < _model.Length; i++)
        {
            _model[i] = (float)rng.NextDouble();
        }
        _bytes = new byte[ModelFloats * 4];
        ModelCommitment.WriteLittleEndian(_model, _bytes);
        OpenSslReference.Report();
    }

    /// <summary>SHA-256 of each 4 KiB block, no tree: the ceiling for the Merkle root.</summary>
    [Benchmark(Baseline = true)]
    public byte[] Sha256Of4KiBBlocks()
    {
        for (int offset = 0; offset < _bytes.Length; offset += 4096)
        {
            SHA256.HashData(_bytes.AsSpan(offset, 4096), _digest);
        }
        return _digest;
    }

    /// <summary>Model commitment of 64 MiB of floats (what the engine calls).</summary>
    [Benchmark]
    public byte[] ModelCommitmentRoot() => ModelCommitment.ComputeRoot([_model]);

    /// <summary>Fixed-leaf fast path over the same bytes.</summary>
    [Benchmark]
    public byte[] FixedLeafRoot() => MerkleTree.ComputeRootOfFixedLeaves(_bytes, 4096);
}
