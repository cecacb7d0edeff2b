using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Pot.Commitments;
using Pot.Commitments.Merkle;
using Pot.Learning.Training;

namespace Pot.Protocol;

/// <summary>
/// The complete training state after some inner step: parameters, optimiser state buffers and the
/// optimiser's step counter. Together with the step index and the data assignment it determines the next
/// step bit for bit.
/// </summary>
public sealed class TrainingState
{
    /// <summary>Size of an encoded trace leaf: parameter root, optimiser root, optimiser step count.</summary>
    public const int TraceLeafBytes = 72;

    private static ReadOnlySpan<byte> Magic => "POTS"u8;

    /// <summary>Creates a state (arrays are taken, not copied).</summary>
    /// <param name="parameters">Parameter values in canonical order.</param>
    /// <param name="optimizerState">Optimiser buffers in the optimiser's fixed order, each as long as the parameters.</param>
    /// <param name="optimizerSteps">The optimiser's step counter.</param>
    public TrainingState(float[] parameters, float[][] optimizerState, long optimizerSteps)
    {
        Parameters = parameters;
        OptimizerState = optimizerState;
        OptimizerSteps = optimizerSteps;
    }

    /// <summary>Parameter values.</summary>
    public float[] Parameters { get; }

    /// <summary>Optimiser buffers.</summary>
    public float[][] OptimizerState { get; }

    /// <summary>Optimiser step counter.</summary>
    public long OptimizerSteps { get; }

    /// <summary>Copies the state out of a trainer.</summary>
    /// <param name="trainer">The trainer.</param>
    /// <returns>A deep copy.</returns>
    public static TrainingState Capture(Trainer trainer) => new(
        (float[])trainer.Trainable.Parameters.Values.Array.Clone(),
        trainer.Optimizer.State.Select(s => (float[])s.Buffer.Array.Clone()).ToArray(),
        trainer.Optimizer.StepCount);

    /// <summary>The fresh state a round starts from: the round's model, zero optimiser buffers, step count 0.</summary>
    /// <param name="model">θ_r.</param>
    /// <param name="optimizerBuffers">Number of optimiser buffers of the inner optimiser.</param>
    /// <returns>The state.</returns>
    public static TrainingState Fresh(float[] model, int optimizerBuffers) =>
        new((float[])model.Clone(), Enumerable.Range(0, optimizerBuffers).Select(_ => new float[model.Length]).ToArray(), 0);

    /// <summary>Copies this state into a trainer (sizes must match).</summary>
    /// <param name="trainer">The trainer.</param>
    public void LoadInto(Trainer trainer)
    {
        var p = trainer.Trainable.Parameters.Values.Array;
        var buffers = trainer.Optimizer.State;
        if (p.Length != Parameters.Length || buffers.Count != OptimizerState.Length)
        {
            throw new ArgumentException($"state has {Parameters.Length} parameters and {OptimizerState.Length} optimiser buffers; the trainer expects {p.Length} and {buffers.Count}");
        }
        Parameters.CopyTo(p, 0);
        for (int i = 0; i < buffers.Count; i++)
        {
            OptimizerState[i].CopyTo(buffers[i].Buffer.Array, 0);
        }
        trainer.Optimizer.StepCount = OptimizerSteps;
    }

    /// <summary>Model commitment of the parameters (docs/commitments.md).</summary>
    /// <returns>32-byte root.</returns>
    public byte[] ParametersRoot() => ModelCommitment.ComputeRoot([Parameters]);

    /// <summary>Model commitment of the optimiser buffers concatenated in their fixed order.</summary>
    /// <returns>32-byte root (SHA-256 of nothing when the optimiser has no state).</returns>
    public byte[] OptimizerRoot() => ModelCommitment.ComputeRoot(OptimizerState.Select(b => (ReadOnlyMemory<float>)b).ToArray());

    /// <summary>The trace leaf of this state: parameter root ‖ optimiser root ‖ optimiser steps (uint64 LE).</summary>
    /// <returns>72 bytes.</returns>
    public byte[] TraceLeaf() => EncodeTraceLeaf(ParametersRoot(), OptimizerRoot(), OptimizerSteps);

    /// <summary>Encodes a trace leaf.</summary>
    /// <param name="parametersRoot">Parameter root.</param>
    /// <param name="optimizerRoot">Optimiser-state root.</param>
    /// <param name="optimizerSteps">Optimiser step count.</param>
    /// <returns>72 bytes.</returns>
    public static byte[] EncodeTraceLeaf(ReadOnlySpan<byte> parametersRoot, ReadOnlySpan<byte> optimizerRoot, long optimizerSteps)
    {
        var leaf = new byte[TraceLeafBytes];
        parametersRoot.CopyTo(leaf);
        optimizerRoot.CopyTo(leaf.AsSpan(32));
        BinaryPrimitives.WriteInt64LittleEndian(leaf.AsSpan(64), optimizerSteps);
        return leaf;
    }

    /// <summary>The parameter root inside a trace leaf.</summary>
    /// <param name="leaf">A 72-byte trace leaf.</param>
    /// <returns>32 bytes.</returns>
    public static byte[] ParametersRootOf(ReadOnlySpan<byte> leaf) => leaf[..32].ToArray();

    /// <summary>The optimiser step count inside a trace leaf.</summary>
    /// <param name="leaf">A 72-byte trace leaf.</param>
    /// <returns>The count.</returns>
    public static long OptimizerStepsOf(ReadOnlySpan<byte> leaf) => BinaryPrimitives.ReadInt64LittleEndian(leaf[64..]);

    /// <summary>
    /// The trace leaf a round starting from <paramref name="modelRoot"/> has at state 0 when it carries the optimiser
    /// state of <paramref name="previousFinalLeaf"/> (state H of the miner's last accepted trace): the model root, then
    /// that leaf's optimiser root and step count.
    /// </summary>
    /// <param name="modelRoot">R_r.</param>
    /// <param name="previousFinalLeaf">Trace leaf H of the earlier submission.</param>
    /// <returns>72 bytes.</returns>
    public static byte[] CarriedStartLeaf(ReadOnlySpan<byte> modelRoot, ReadOnlySpan<byte> previousFinalLeaf) =>
        EncodeTraceLeaf(modelRoot, previousFinalLeaf.Slice(32, 32), OptimizerStepsOf(previousFinalLeaf));

    /// <summary>
    /// The trace root: RFC 6962 Merkle root over the H + 1 trace leaves (state 0 = the round's start, state j =
    /// after inner step j).
    /// </summary>
    /// <param name="leaves">The leaves.</param>
    /// <returns>32-byte root.</returns>
    public static byte[] TraceRoot(IReadOnlyList<byte[]> leaves) => MerkleTree.ComputeRoot(leaves);

    /// <summary>Encodes the trace blob: the leaves back to back.</summary>
    /// <param name="leaves">The leaves.</param>
    /// <returns>72·(H+1) bytes.</returns>
    public static byte[] EncodeTrace(IReadOnlyList<byte[]> leaves) => leaves.SelectMany(l => l).ToArray();

    /// <summary>Decodes a trace blob and checks it against a root.</summary>
    /// <param name="blob">The blob.</param>
    /// <param name="expectedLeaves">H + 1.</param>
    /// <param name="root">The committed trace root.</param>
    /// <returns>The leaves.</returns>
    /// <exception cref="PotFormatException">Wrong length or root mismatch.</exception>
    public static byte[][] DecodeTrace(ReadOnlySpan<byte> blob, int expectedLeaves, ReadOnlySpan<byte> root)
    {
        if (blob.Length != expectedLeaves * TraceLeafBytes)
        {
            throw new PotFormatException($"trace blob is {blob.Length} bytes; expected {expectedLeaves} leaves of {TraceLeafBytes} bytes = {expectedLeaves * TraceLeafBytes}");
        }
        var leaves = new byte[expectedLeaves][];
        for (int i = 0; i < expectedLeaves; i++)
        {
            leaves[i] = blob.Slice(i * TraceLeafBytes, TraceLeafBytes).ToArray();
        }
        byte[] actual = TraceRoot(leaves);
        if (!actual.AsSpan().SequenceEqual(root))
        {
            throw new PotFormatException($"trace blob root {Hex.Encode(actual)} does not match the committed trace root {Hex.Encode(root)}");
        }
        return leaves;
    }

    /// <summary>
    /// Encodes the state blob: "POTS", version 1, 3 zero bytes, parameter count (uint64 LE), buffer count
    /// (uint32 LE), optimiser steps (int64 LE), then the parameters and each buffer as fp32 LE.
    /// </summary>
    /// <returns>The blob.</returns>
    public byte[] Encode()
    {
        int n = Parameters.Length;
        var blob = new byte[28 + (long)n * 4 * (1 + OptimizerState.Length)];
        Magic.CopyTo(blob);
        blob[4] = 1;
        BinaryPrimitives.WriteUInt64LittleEndian(blob.AsSpan(8), (ulong)n);
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(16), (uint)OptimizerState.Length);
        BinaryPrimitives.WriteInt64LittleEndian(blob.AsSpan(20), OptimizerSteps);
        int offset = 28;
        foreach (float[] v in OptimizerState.Prepend(Parameters))
        {
            ModelCommitment.WriteLittleEndian(v, blob.AsSpan(offset));
            offset += n * 4;
        }
        return blob;
    }

    /// <summary>Decodes only the parameters of a state blob (the optimiser buffers are skipped, not copied).</summary>
    /// <param name="blob">The blob.</param>
    /// <param name="parameterCount">Expected parameter count.</param>
    /// <param name="optimizerBuffers">Expected number of optimiser buffers.</param>
    /// <returns>The parameters.</returns>
    /// <exception cref="PotFormatException">The blob is malformed or has other sizes.</exception>
    public static float[] DecodeParameters(ReadOnlySpan<byte> blob, int parameterCount, int optimizerBuffers)
    {
        CheckHeader(blob, parameterCount, optimizerBuffers);
        return MemoryMarshal.Cast<byte, float>(blob.Slice(28, parameterCount * 4)).ToArray();
    }

    internal static void CheckHeader(ReadOnlySpan<byte> blob, int parameterCount, int optimizerBuffers)
    {
        long expected = 28 + (long)parameterCount * 4 * (1 + optimizerBuffers);
        if (blob.Length != expected || !blob[..4].SequenceEqual(Magic) || blob[4] != 1 || blob[5] != 0 || blob[6] != 0 || blob[7] != 0)
        {
            throw new PotFormatException($"state blob: {blob.Length} bytes with magic {Hex.Encode(blob[..Math.Min(4, blob.Length)])}; expected \"POTS\" version 1 of {expected} bytes ({parameterCount} parameters, {optimizerBuffers} optimiser buffers)");
        }
        if (BinaryPrimitives.ReadUInt64LittleEndian(blob[8..]) != (ulong)parameterCount || BinaryPrimitives.ReadUInt32LittleEndian(blob[16..]) != (uint)optimizerBuffers)
        {
            throw new PotFormatException($"state blob declares {BinaryPrimitives.ReadUInt64LittleEndian(blob[8..])} parameters and {BinaryPrimitives.ReadUInt32LittleEndian(blob[16..])} buffers; expected {parameterCount} and {optimizerBuffers}");
        }
    }

    /// <summary>Decodes a state blob with the expected sizes.</summary>
    /// <param name="blob">The blob.</param>
    /// <param name="parameterCount">Expected parameter count.</param>
    /// <param name="optimizerBuffers">Expected number of optimiser buffers.</param>
    /// <returns>The state.</returns>
    /// <exception cref="PotFormatException">The blob is malformed or has other sizes.</exception>
    public static TrainingState Decode(ReadOnlySpan<byte> blob, int parameterCount, int optimizerBuffers)
    {
        long expected = 28 + (long)parameterCount * 4 * (1 + optimizerBuffers);
        if (blob.Length != expected || !blob[..4].SequenceEqual(Magic) || blob[4] != 1 || blob[5] != 0 || blob[6] != 0 || blob[7] != 0)
        {
            throw new PotFormatException($"state blob: {blob.Length} bytes with magic {Hex.Encode(blob[..Math.Min(4, blob.Length)])}; expected \"POTS\" version 1 of {expected} bytes ({parameterCount} parameters, {optimizerBuffers} optimiser buffers)");
        }
        if (BinaryPrimitives.ReadUInt64LittleEndian(blob[8..]) != (ulong)parameterCount || BinaryPrimitives.ReadUInt32LittleEndian(blob[16..]) != (uint)optimizerBuffers)
        {
            throw new PotFormatException($"state blob declares {BinaryPrimitives.ReadUInt64LittleEndian(blob[8..])} parameters and {BinaryPrimitives.ReadUInt32LittleEndian(blob[16..])} buffers; expected {parameterCount} and {optimizerBuffers}");
        }
        long steps = BinaryPrimitives.ReadInt64LittleEndian(blob[20..]);
        var arrays = new float[1 + optimizerBuffers][];
        int offset = 28;
        for (int i = 0; i < arrays.Length; i++)
        {
            arrays[i] = MemoryMarshal.Cast<byte, float>(blob.Slice(offset, parameterCount * 4)).ToArray();
            if (!BitConverter.IsLittleEndian)
            {
                throw new PlatformNotSupportedException("state blobs are decoded on little-endian machines only");
            }
            offset += parameterCount * 4;
        }
        return new TrainingState(arrays[0], arrays[1..], steps);
    }
}
