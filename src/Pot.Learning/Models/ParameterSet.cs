using Pot.Learning.Kernels;

namespace Pot.Learning.Models;

/// <summary>One named tensor inside a <see cref="ParameterSet"/>.</summary>
/// <param name="Name">Canonical name (nanoGPT / PyTorch state-dict name).</param>
/// <param name="Shape">Shape, row-major.</param>
/// <param name="Offset">Offset of element 0 in the flat buffer.</param>
/// <param name="Length">Number of elements.</param>
public sealed record ParameterTensor(string Name, int[] Shape, long Offset, long Length);

/// <summary>
/// A model's parameters (and their gradients) as one flat fp32 buffer, tensors laid out
/// back-to-back in the model's canonical order. The flat buffer is exactly what the model
/// commitment hashes, what the optimiser updates, and what checkpoints store.
/// </summary>
public sealed class ParameterSet
{
    private readonly Dictionary<string, ParameterTensor> byName = new(StringComparer.Ordinal);

    /// <summary>Creates the set from (name, shape) pairs in canonical order.</summary>
    /// <param name="tensors">Names and shapes.</param>
    public ParameterSet(IEnumerable<(string Name, int[] Shape)> tensors)
    {
        var list = new List<ParameterTensor>();
        long offset = 0;
        foreach (var (name, shape) in tensors)
        {
            long length = 1;
            foreach (int d in shape)
            {
                if (d <= 0)
                {
                    throw new ArgumentException($"parameter {name}: dimension {d} must be positive");
                }

                length *= d;
            }

            var tensor = new ParameterTensor(name, (int[])shape.Clone(), offset, length);
            if (!byName.TryAdd(name, tensor))
            {
                throw new ArgumentException($"duplicate parameter name {name}");
            }

            list.Add(tensor);
            offset += length;
        }

        Tensors = list;
        Count = offset;
        Values = new PinnedBuffer(offset);
        Gradients = new PinnedBuffer(offset);
    }

    /// <summary>Tensors in canonical order.</summary>
    public IReadOnlyList<ParameterTensor> Tensors { get; }

    /// <summary>Total number of parameters.</summary>
    public long Count { get; }

    /// <summary>Parameter values, flat.</summary>
    public PinnedBuffer Values { get; }

    /// <summary>Gradients, flat, same layout as <see cref="Values"/>.</summary>
    public PinnedBuffer Gradients { get; }

    /// <summary>Looks a tensor up by name.</summary>
    /// <param name="name">Canonical name.</param>
    /// <returns>The tensor's layout.</returns>
    public ParameterTensor this[string name] => byName.TryGetValue(name, out var t)
        ? t
        : throw new KeyNotFoundException($"no parameter named {name}");

    /// <summary>The values of one tensor.</summary>
    /// <param name="tensor">A tensor of this set.</param>
    /// <returns>Its elements.</returns>
    public Span<float> ValuesOf(ParameterTensor tensor) => Values.Span.Slice((int)tensor.Offset, (int)tensor.Length);

    /// <summary>The values of every tensor in canonical order, as memory slices (for commitments).</summary>
    /// <returns>One slice per tensor.</returns>
    public IReadOnlyList<ReadOnlyMemory<float>> ValueSlices() =>
        Tensors.Select(t => (ReadOnlyMemory<float>)Values.Array.AsMemory((int)t.Offset, (int)t.Length)).ToArray();
}
