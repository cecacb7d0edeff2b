using BenchmarkDotNet.Attributes;
using Pot.Commitments.Diffs;
using Pot.Commitments.Quantization;

namespace Pot.Benchmarks.Commitments;

/// <summary>
/// Q4_0 encode/decode and XOR+zstd diff throughput over 16 MiB of fp32 (4 Mi floats).
/// Throughput = 16 MiB / mean time (fp32 side); <see cref="MemoryCopy"/> is the memory-bandwidth reference.
/// </summary>
[ShortRunJob]
[MemoryDiagnoser]
public class CodecBenchmarks
{
    private const int Floats = 4 * 1024 * 1024;
    private float[] _values = [];
    private float[] _updated = [];
    private byte[] _blocks = [];
    private float[] _decoded = [];
    private byte[] _diff = [];

    /// <summary>Random values and an update that changes a quarter of them slightly (a typical round).</summary>
    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(2);
        _values = new float[Floats];
        _updated = new float[Floats];
        for (int i = 0; i < Floats; i++)
        {
            _values[i] = (float)(rng.NextDouble() - 0.5) * 0.1f;
            _updated[i] = rng.Next(4) == 0 ? _values[i] - 1e-4f * (float)(rng.NextDouble() - 0.5) : _values[i];
        }
        _blocks = new byte[Floats / Q4Codec.BlockFloats * Q4Codec.BlockBytes];
        _decoded = new float[Floats];
        Q4Codec.QuantizeBlocks(_values, _blocks);
        _diff = ModelDiff.Create(_values, _updated);
        Console.WriteLine($"// diff size: {_diff.Length} bytes for {Floats * 4} bytes of model ({100.0 * _diff.Length / (Floats * 4):F1}%)");
    }

    /// <summary>Reference: a plain copy of the 16 MiB of fp32 (memory bandwidth of one core).</summary>
    /// <returns>The copy.</returns>
    [Benchmark]
    public float[] MemoryCopy()
    {
        _values.AsSpan().CopyTo(_decoded);
        return _decoded;
    }

    /// <summary>Q4_0 quantization of 16 MiB of fp32.</summary>
    [Benchmark]
    public byte[] Q4Encode()
    {
        Q4Codec.QuantizeBlocks(_values, _blocks);
        return _blocks;
    }

    /// <summary>Q4_0 dequantization back to 16 MiB of fp32.</summary>
    [Benchmark]
    public float[] Q4Decode()
    {
        Q4Codec.DequantizeBlocks(_blocks, _decoded);
        return _decoded;
    }

    /// <summary>XOR + zstd diff creation (includes hashing base and result).</summary>
    [Benchmark]
    public byte[] DiffCreate() => ModelDiff.Create(_values, _updated);

    /// <summary>Diff application (includes base and result hash checks).</summary>
    [Benchmark]
    public float[] DiffApply() => ModelDiff.Apply(_diff, _values);
}
