namespace Pot.Network;

/// <summary>Outcome of reading a Range header against a chunk of known length.</summary>
internal enum RangeParse
{
    /// <summary>No Range header: the whole chunk is sent with 200.</summary>
    None,

    /// <summary>One satisfiable range: sent with 206.</summary>
    Satisfiable,

    /// <summary>Well-formed but outside the chunk: 416.</summary>
    NotSatisfiable,

    /// <summary>Not a single well-formed byte range: 400.</summary>
    Malformed,
}

/// <summary>
/// Strict parser of a single HTTP byte range (RFC 9110 §14.1.2): <c>bytes=first-last</c>,
/// <c>bytes=first-</c> or <c>bytes=-suffixLength</c>, decimal digits only, no spaces, one range.
/// </summary>
internal static class ByteRange
{
    // 18 digits keep every value below long.MaxValue without overflow checks.
    private const int MaxDigits = 18;

    /// <summary>Resolves a Range header against a chunk length.</summary>
    /// <param name="header">The header value, or null when absent.</param>
    /// <param name="length">The chunk length.</param>
    /// <param name="offset">First byte of the satisfiable range.</param>
    /// <param name="count">Number of bytes of the satisfiable range.</param>
    /// <param name="error">Why the header was rejected.</param>
    /// <returns>The outcome.</returns>
    public static RangeParse Parse(string? header, long length, out long offset, out long count, out string? error)
    {
        offset = 0;
        count = length;
        error = null;
        if (header is null)
        {
            return RangeParse.None;
        }
        const string unit = "bytes=";
        if (!header.StartsWith(unit, StringComparison.Ordinal))
        {
            error = "Range must use the 'bytes' unit: bytes=FIRST-LAST, bytes=FIRST- or bytes=-SUFFIX";
            return RangeParse.Malformed;
        }
        string spec = header[unit.Length..];
        if (spec.Contains(','))
        {
            error = "only a single byte range per request is supported";
            return RangeParse.Malformed;
        }
        int dash = spec.IndexOf('-');
        if (dash < 0)
        {
            error = $"Range '{header}' has no '-'";
            return RangeParse.Malformed;
        }
        string firstText = spec[..dash];
        string lastText = spec[(dash + 1)..];
        if (firstText.Length == 0)
        {
            if (!TryDigits(lastText, out long suffix))
            {
                error = $"Range '{header}': suffix length must be 1 to {MaxDigits} decimal digits";
                return RangeParse.Malformed;
            }
            if (suffix == 0 || length == 0)
            {
                error = $"suffix range of {suffix} bytes cannot be satisfied by a chunk of {length} bytes";
                return RangeParse.NotSatisfiable;
            }
            count = Math.Min(suffix, length);
            offset = length - count;
            return RangeParse.Satisfiable;
        }
        if (!TryDigits(firstText, out long first))
        {
            error = $"Range '{header}': first byte must be 1 to {MaxDigits} decimal digits";
            return RangeParse.Malformed;
        }
        long last = long.MaxValue;
        if (lastText.Length > 0)
        {
            if (!TryDigits(lastText, out last))
            {
                error = $"Range '{header}': last byte must be 1 to {MaxDigits} decimal digits";
                return RangeParse.Malformed;
            }
            if (last < first)
            {
                error = $"Range '{header}': last byte {last} is before first byte {first}";
                return RangeParse.Malformed;
            }
        }
        if (first >= length)
        {
            error = $"range starts at byte {first} but the chunk has {length} bytes";
            return RangeParse.NotSatisfiable;
        }
        offset = first;
        count = Math.Min(last, length - 1) - first + 1;
        return RangeParse.Satisfiable;
    }

    private static bool TryDigits(string text, out long value)
    {
        value = 0;
        if (text.Length is 0 or > MaxDigits)
        {
            return false;
        }
        foreach (char c in text)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
            value = value * 10 + (c - '0');
        }
        return true;
    }
}
