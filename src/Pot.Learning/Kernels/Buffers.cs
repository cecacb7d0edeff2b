using System.Runtime.CompilerServices;

namespace Pot.Learning.Kernels;

/// <summary>A pinned float buffer whose address never moves, so kernels can use raw pointers.</summary>
public sealed unsafe class PinnedBuffer
{
    /// <summary>Allocates <paramref name="length"/> zeroed floats on the pinned object heap.</summary>
    /// <param name="length">Number of floats.</param>
    public PinnedBuffer(long length)
    {
        if (length < 0 || length > System.Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"buffer length {length} is outside [0, {System.Array.MaxLength}]");
        }

        Array = GC.AllocateArray<float>((int)length, pinned: true);
        Pointer = length == 0 ? null : (float*)Unsafe.AsPointer(ref Array[0]);
    }

    /// <summary>The managed array (pinned).</summary>
    public float[] Array { get; }

    /// <summary>Address of element 0.</summary>
    public float* Pointer { get; }

    /// <summary>Number of floats.</summary>
    public int Length => Array.Length;

    /// <summary>The buffer as a span.</summary>
    public Span<float> Span => Array;

    /// <summary>Sets every element to +0.0.</summary>
    public void Clear() => System.Array.Clear(Array);
}
