namespace Pot.Chain;

/// <summary>
/// Explicit byte-wise ordering and equality for byte arrays: every sort that can reach a hash in this
/// library goes through <see cref="Comparer"/>, never a hash-set or dictionary enumeration order.
/// </summary>
public static class ByteOrder
{
    /// <summary>Lexicographic unsigned byte comparison (shorter prefix first).</summary>
    /// <param name="a">First array.</param>
    /// <param name="b">Second array.</param>
    /// <returns>Negative, zero or positive.</returns>
    public static int Compare(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) => a.SequenceCompareTo(b);

    /// <summary>An <see cref="IComparer{T}"/> for lexicographic byte order.</summary>
    public static IComparer<byte[]> Comparer { get; } = new LexComparer();

    /// <summary>An <see cref="IEqualityComparer{T}"/> comparing contents.</summary>
    public static IEqualityComparer<byte[]> Equality { get; } = new ContentEquality();

    private sealed class LexComparer : IComparer<byte[]>
    {
        public int Compare(byte[]? x, byte[]? y) => x is null || y is null ? (x is null ? (y is null ? 0 : -1) : 1) : x.AsSpan().SequenceCompareTo(y);
    }

    private sealed class ContentEquality : IEqualityComparer<byte[]>
    {
        public bool Equals(byte[]? x, byte[]? y) => x is null || y is null ? x == y : x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj)
        {
            var h = new HashCode();
            h.AddBytes(obj);
            return h.ToHashCode();
        }
    }
}
