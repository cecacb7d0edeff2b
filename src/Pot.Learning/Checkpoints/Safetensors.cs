using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Pot.Learning.Checkpoints;

/// <summary>A safetensors file or header is malformed; the message names the problem.</summary>
public sealed class CheckpointFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CheckpointFormatException() : base("malformed checkpoint")
    {
    }

    /// <summary>Creates the exception with a message naming what was wrong and what was expected.</summary>
    /// <param name="message">The problem.</param>
    public CheckpointFormatException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the underlying failure.</summary>
    /// <param name="message">The problem.</param>
    /// <param name="inner">The underlying failure.</param>
    public CheckpointFormatException(string message, Exception inner) : base(message, inner)
    {
    }
}

/// <summary>One float32 tensor of a safetensors file.</summary>
public sealed class SafetensorsTensor
{
    /// <summary>Creates a tensor after checking that the shape's product equals the data length.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="shape">Dimensions, each ≥ 0.</param>
    /// <param name="data">Values, row-major.</param>
    public SafetensorsTensor(string name, int[] shape, float[] data)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        long count = Safetensors.ElementCount(shape, name);
        if (count != data.Length)
        {
            throw new ArgumentException($"tensor '{name}': shape [{string.Join(",", shape)}] holds {count} values but data has {data.Length}", nameof(data));
        }

        Name = name;
        Shape = shape;
        Data = data;
    }

    /// <summary>The tensor's name.</summary>
    public string Name { get; }

    /// <summary>Dimensions, outermost first.</summary>
    public int[] Shape { get; }

    /// <summary>Values, row-major.</summary>
    public float[] Data { get; }
}

/// <summary>The contents of a safetensors file: tensors in data order and string metadata.</summary>
public sealed class SafetensorsFile
{
    /// <summary>Creates the contents.</summary>
    /// <param name="tensors">Tensors in data-section order.</param>
    /// <param name="metadata">The <c>__metadata__</c> entries (empty when absent).</param>
    public SafetensorsFile(IReadOnlyList<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(metadata);
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>Tensors in the order of their data (which is the order they were written in).</summary>
    public IReadOnlyList<SafetensorsTensor> Tensors { get; }

    /// <summary>The string→string metadata of the header's <c>__metadata__</c> entry.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensor called <paramref name="name"/>.</summary>
    /// <param name="name">The name.</param>
    /// <returns>The tensor.</returns>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    public SafetensorsTensor Get(string name) =>
        TryGet(name, out var t) ? t! : throw new KeyNotFoundException($"checkpoint has no tensor '{name}'; it has: {string.Join(", ", Tensors.Select(x => x.Name))}");

    /// <summary>Looks a tensor up by name.</summary>
    /// <param name="name">The name.</param>
    /// <param name="tensor">The tensor, or null.</param>
    /// <returns>True when found.</returns>
    public bool TryGet(string name, out SafetensorsTensor? tensor)
    {
        foreach (var t in Tensors)
        {
            if (t.Name == name)
            {
                tensor = t;
                return true;
            }
        }

        tensor = null;
        return false;
    }
}

/// <summary>
/// Reader and writer of the safetensors format (Hugging Face): an 8-byte little-endian header
/// length N, N bytes of UTF-8 JSON header, then the raw little-endian tensor data. Only float32
/// (<c>"F32"</c>) tensors are supported.
/// </summary>
/// <remarks>
/// <para>Writer: the header is <c>{"__metadata__":{…},"name":{"dtype":"F32","shape":[…],"data_offsets":[b,e]},…}</c>
/// with no whitespace, metadata first (as the reference implementation writes it; omitted when
/// null or empty) and metadata keys in the order the dictionary enumerates them — pass a
/// <see cref="SortedDictionary{TKey,TValue}"/> for byte-identical files from equal metadata. Tensors
/// keep the given order; their data is contiguous in that order. The header is padded with spaces
/// to a multiple of 8 bytes, as the reference implementation does, so the data starts 8-aligned.
/// Strings are escaped minimally: <c>"</c>, <c>\</c> and control characters; everything else is
/// written as UTF-8.</para>
/// <para>Reader: rejects, with <see cref="CheckpointFormatException"/>, a header length over
/// <see cref="MaxHeaderBytes"/> or past the end of the file, a header that is not a UTF-8 JSON object
/// starting with '{', duplicate names, unknown fields, dtypes other than F32, negative or non-integer
/// dimensions, more than <see cref="MaxRank"/> dimensions, a byte length that is not 4·product(shape),
/// offsets out of order, overlapping, leaving gaps or not ending exactly at the end of the file.</para>
/// </remarks>
public static class Safetensors
{
    /// <summary>The largest header accepted: 100,000,000 bytes.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>The most dimensions a tensor may have.</summary>
    public const int MaxRank = 16;

    /// <summary>The largest name or metadata string accepted, in UTF-16 code units.</summary>
    public const int MaxStringLength = 1 << 16;

    /// <summary>The largest non-seekable stream the reader buffers: 2 GiB.</summary>
    public const long MaxBufferedBytes = int.MaxValue;

    private const string MetadataKey = "__metadata__";

    /// <summary>Writes tensors and metadata as a safetensors file.</summary>
    /// <param name="stream">The destination, written from its current position.</param>
    /// <param name="tensors">Tensors in order; names unique and non-empty; <c>Data.Length</c> = product(<c>Shape</c>).</param>
    /// <param name="metadata">String metadata, or null for none.</param>
    /// <exception cref="ArgumentException">A tensor or metadata entry is invalid.</exception>
    public static void Write(Stream stream, IReadOnlyList<(string Name, int[] Shape, ReadOnlyMemory<float> Data)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        byte[] header = BuildHeader(tensors, metadata);
        Span<byte> lengthBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(lengthBytes, (ulong)header.Length);
        stream.Write(lengthBytes);
        stream.Write(header);
        foreach (var (_, _, data) in tensors)
        {
            WriteFloats(stream, data.Span);
        }
    }

    /// <summary>Writes a safetensors file at <paramref name="path"/> (through a temporary file, then renamed).</summary>
    /// <param name="path">The destination file.</param>
    /// <param name="tensors">Tensors in order.</param>
    /// <param name="metadata">String metadata, or null for none.</param>
    public static void Write(string path, IReadOnlyList<(string Name, int[] Shape, ReadOnlyMemory<float> Data)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            Write(file, tensors, metadata);
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Writes a <see cref="SafetensorsFile"/> (e.g. one that was read).</summary>
    /// <param name="stream">The destination.</param>
    /// <param name="file">The contents.</param>
    public static void Write(Stream stream, SafetensorsFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        Write(stream, file.Tensors.Select(t => (t.Name, t.Shape, (ReadOnlyMemory<float>)t.Data)).ToArray(), file.Metadata);
    }

    /// <summary>Reads and validates a safetensors file.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The contents.</returns>
    /// <exception cref="CheckpointFormatException">The file is malformed.</exception>
    public static SafetensorsFile Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return Read(file);
    }

    /// <summary>
    /// Reads and validates a safetensors file from <paramref name="stream"/>, which must end where
    /// the file ends. A non-seekable stream is buffered first (up to <see cref="MaxBufferedBytes"/>).
    /// </summary>
    /// <param name="stream">The source.</param>
    /// <returns>The contents.</returns>
    /// <exception cref="CheckpointFormatException">The data is malformed.</exception>
    public static SafetensorsFile Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek)
        {
            var buffer = new MemoryStream();
            var chunk = new byte[1 << 16];
            int n;
            while ((n = stream.Read(chunk)) > 0)
            {
                if (buffer.Length + n > MaxBufferedBytes)
                {
                    throw new CheckpointFormatException($"checkpoint stream is longer than {MaxBufferedBytes} bytes");
                }

                buffer.Write(chunk, 0, n);
            }

            buffer.Position = 0;
            stream = buffer;
        }

        long fileLength = stream.Length - stream.Position;
        if (fileLength < 8)
        {
            throw new CheckpointFormatException($"checkpoint is {fileLength} bytes, shorter than the 8-byte header length");
        }

        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > MaxHeaderBytes)
        {
            throw new CheckpointFormatException($"header length {headerLength} exceeds the limit of {MaxHeaderBytes} bytes");
        }

        if ((long)headerLength > fileLength - 8)
        {
            throw new CheckpointFormatException($"header length {headerLength} runs past the end of the {fileLength}-byte file");
        }

        var header = new byte[headerLength];
        stream.ReadExactly(header);
        long dataLength = fileLength - 8 - (long)headerLength;
        List<Entry> entries;
        IReadOnlyDictionary<string, string> metadata;
        try
        {
            entries = ParseHeader(header, out metadata);
        }
        catch (InvalidOperationException e)
        {
            // System.Text.Json reports invalid UTF-8 inside strings this way.
            throw new CheckpointFormatException($"header is not valid UTF-8 JSON: {e.Message}", e);
        }

        // Data order: by begin offset (ties between empty tensors: header order, kept by a stable sort).
        var ordered = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long expected = 0;
        foreach (var e in ordered)
        {
            if (e.Begin != expected)
            {
                string problem = e.Begin < expected ? "overlaps the previous tensor" : "leaves a gap after the previous tensor";
                throw new CheckpointFormatException($"tensor '{e.Name}': data_offsets [{e.Begin},{e.End}] {problem} (expected begin {expected})");
            }

            if (e.End > dataLength)
            {
                throw new CheckpointFormatException($"tensor '{e.Name}': data_offsets [{e.Begin},{e.End}] run past the {dataLength}-byte data section");
            }

            expected = e.End;
        }

        if (expected != dataLength)
        {
            throw new CheckpointFormatException($"tensors cover {expected} bytes but the data section has {dataLength}; the file has trailing bytes");
        }

        var tensors = new List<SafetensorsTensor>(ordered.Count);
        foreach (var e in ordered)
        {
            var data = new float[(e.End - e.Begin) / 4];
            stream.ReadExactly(MemoryMarshal.AsBytes(data.AsSpan()));
            if (!BitConverter.IsLittleEndian)
            {
                var words = MemoryMarshal.Cast<float, int>(data.AsSpan());
                BinaryPrimitives.ReverseEndianness(words, words);
            }

            tensors.Add(new SafetensorsTensor(e.Name, e.Shape, data));
        }

        return new SafetensorsFile(tensors, metadata);
    }

    /// <summary>The number of elements of <paramref name="shape"/>, checked against the array size limit.</summary>
    internal static long ElementCount(int[] shape, string name)
    {
        if (shape.Length > MaxRank)
        {
            throw new ArgumentException($"tensor '{name}' has {shape.Length} dimensions; at most {MaxRank} are supported");
        }

        long count = 1;
        foreach (int d in shape)
        {
            if (d < 0)
            {
                throw new ArgumentException($"tensor '{name}' has negative dimension {d} in shape [{string.Join(",", shape)}]");
            }

            count *= d;
            if (count > Array.MaxLength)
            {
                throw new ArgumentException($"tensor '{name}' with shape [{string.Join(",", shape)}] has more than {Array.MaxLength} elements");
            }
        }

        return count;
    }

    private static byte[] BuildHeader(IReadOnlyList<(string Name, int[] Shape, ReadOnlyMemory<float> Data)> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var sb = new StringBuilder();
        sb.Append('{');
        bool first = true;
        if (metadata is { Count: > 0 })
        {
            sb.Append('"').Append(MetadataKey).Append("\":{");
            bool firstEntry = true;
            foreach (var (key, value) in metadata)
            {
                CheckString(key, "metadata key");
                CheckString(value, $"metadata value of '{key}'");
                if (!firstEntry)
                {
                    sb.Append(',');
                }

                AppendJsonString(sb, key);
                sb.Append(':');
                AppendJsonString(sb, value);
                firstEntry = false;
            }

            sb.Append('}');
            first = false;
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        long offset = 0;
        foreach (var (name, shape, data) in tensors)
        {
            ArgumentNullException.ThrowIfNull(name);
            ArgumentNullException.ThrowIfNull(shape);
            CheckString(name, "tensor name");
            if (name.Length == 0 || name == MetadataKey)
            {
                throw new ArgumentException($"tensor name '{name}' is not allowed (empty or reserved)", nameof(tensors));
            }

            if (!names.Add(name))
            {
                throw new ArgumentException($"tensor name '{name}' appears twice", nameof(tensors));
            }

            long count = ElementCount(shape, name);
            if (count != data.Length)
            {
                throw new ArgumentException($"tensor '{name}': shape [{string.Join(",", shape)}] holds {count} values but data has {data.Length}", nameof(tensors));
            }

            if (!first)
            {
                sb.Append(',');
            }

            first = false;
            long end = offset + 4 * count;
            AppendJsonString(sb, name);
            sb.Append(":{\"dtype\":\"F32\",\"shape\":[");
            for (int i = 0; i < shape.Length; i++)
            {
                if (i > 0)
                {
                    sb.Append(',');
                }

                sb.Append(shape[i].ToString(CultureInfo.InvariantCulture));
            }

            sb.Append("],\"data_offsets\":[")
              .Append(offset.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(end.ToString(CultureInfo.InvariantCulture)).Append("]}");
            offset = end;
        }

        sb.Append('}');
        int length = Encoding.UTF8.GetByteCount(sb.ToString());
        sb.Append(' ', (8 - length % 8) % 8);
        byte[] header = Encoding.UTF8.GetBytes(sb.ToString());
        if (header.Length > MaxHeaderBytes)
        {
            throw new ArgumentException($"safetensors header of {header.Length} bytes exceeds the limit of {MaxHeaderBytes}", nameof(tensors));
        }

        return header;
    }

    private static void CheckString(string s, string what)
    {
        ArgumentNullException.ThrowIfNull(s, what);
        if (s.Length > MaxStringLength)
        {
            throw new ArgumentException($"{what} is {s.Length} characters long; at most {MaxStringLength} are allowed");
        }

        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsSurrogate(s[i]))
            {
                if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                {
                    i++;
                    continue;
                }

                throw new ArgumentException($"{what} '{s}' contains an unpaired surrogate at position {i} and cannot be encoded as UTF-8");
            }
        }
    }

    private static void AppendJsonString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20)
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        sb.Append('"');
    }

    private static void WriteFloats(Stream stream, ReadOnlySpan<float> data)
    {
        if (BitConverter.IsLittleEndian)
        {
            stream.Write(MemoryMarshal.AsBytes(data));
            return;
        }

        Span<byte> word = stackalloc byte[4];
        foreach (float f in data)
        {
            BinaryPrimitives.WriteSingleLittleEndian(word, f);
            stream.Write(word);
        }
    }

    private sealed record Entry(string Name, int[] Shape, long Begin, long End);

    private static List<Entry> ParseHeader(byte[] header, out IReadOnlyDictionary<string, string> metadata)
    {
        if (header.Length == 0 || header[0] != (byte)'{')
        {
            throw new CheckpointFormatException("header does not start with '{'; not a safetensors file");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 4, AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException($"header is not valid UTF-8 JSON: {e.Message}", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new CheckpointFormatException($"header is a JSON {root.ValueKind}, expected an object");
            }

            var names = new HashSet<string>(StringComparer.Ordinal);
            var entries = new List<Entry>();
            var meta = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                string name = property.Name;
                if (!names.Add(name))
                {
                    throw new CheckpointFormatException($"header names '{name}' twice");
                }

                if (name == MetadataKey)
                {
                    ParseMetadata(property.Value, meta);
                    continue;
                }

                if (name.Length == 0)
                {
                    throw new CheckpointFormatException("header has a tensor with an empty name");
                }

                entries.Add(ParseEntry(name, property.Value));
            }

            metadata = meta;
            return entries;
        }
    }

    private static void ParseMetadata(JsonElement value, Dictionary<string, string> meta)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new CheckpointFormatException($"__metadata__ is a JSON {value.ValueKind}, expected an object of strings");
        }

        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
            {
                throw new CheckpointFormatException($"__metadata__ entry '{entry.Name}' is a JSON {entry.Value.ValueKind}, expected a string");
            }

            if (!meta.TryAdd(entry.Name, entry.Value.GetString()!))
            {
                throw new CheckpointFormatException($"__metadata__ names '{entry.Name}' twice");
            }
        }
    }

    private static Entry ParseEntry(string name, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new CheckpointFormatException($"tensor '{name}' is a JSON {value.ValueKind}, expected an object with dtype, shape and data_offsets");
        }

        string? dtype = null;
        int[]? shape = null;
        long[]? offsets = null;
        foreach (var field in value.EnumerateObject())
        {
            switch (field.Name)
            {
                case "dtype" when dtype is null:
                    if (field.Value.ValueKind != JsonValueKind.String)
                    {
                        throw new CheckpointFormatException($"tensor '{name}': dtype is a JSON {field.Value.ValueKind}, expected a string");
                    }

                    dtype = field.Value.GetString()!;
                    break;
                case "shape" when shape is null:
                    shape = ParseIntegers(name, "shape", field.Value, MaxRank, int.MaxValue).Select(x => (int)x).ToArray();
                    break;
                case "data_offsets" when offsets is null:
                    offsets = ParseIntegers(name, "data_offsets", field.Value, 2, long.MaxValue);
                    if (offsets.Length != 2)
                    {
                        throw new CheckpointFormatException($"tensor '{name}': data_offsets has {offsets.Length} entries, expected 2");
                    }

                    break;
                case "dtype" or "shape" or "data_offsets":
                    throw new CheckpointFormatException($"tensor '{name}' names the field '{field.Name}' twice");
                default:
                    throw new CheckpointFormatException($"tensor '{name}' has unknown field '{field.Name}' (expected dtype, shape, data_offsets)");
            }
        }

        if (dtype is null || shape is null || offsets is null)
        {
            string missing = dtype is null ? "dtype" : shape is null ? "shape" : "data_offsets";
            throw new CheckpointFormatException($"tensor '{name}' has no {missing}");
        }

        if (dtype != "F32")
        {
            throw new CheckpointFormatException($"tensor '{name}' has dtype '{dtype}'; only F32 is supported");
        }

        long count = 1;
        foreach (int d in shape)
        {
            count *= d;
            if (count > Array.MaxLength)
            {
                throw new CheckpointFormatException($"tensor '{name}' with shape [{string.Join(",", shape)}] has more than {Array.MaxLength} elements");
            }
        }

        long begin = offsets[0], end = offsets[1];
        if (end < begin)
        {
            throw new CheckpointFormatException($"tensor '{name}': data_offsets [{begin},{end}] end before they begin");
        }

        if (end - begin != 4 * count)
        {
            throw new CheckpointFormatException($"tensor '{name}': data_offsets [{begin},{end}] span {end - begin} bytes but F32 shape [{string.Join(",", shape)}] needs {4 * count}");
        }

        return new Entry(name, shape, begin, end);
    }

    private static long[] ParseIntegers(string name, string field, JsonElement value, int maxCount, long maxValue)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            throw new CheckpointFormatException($"tensor '{name}': {field} is a JSON {value.ValueKind}, expected an array of integers");
        }

        int length = value.GetArrayLength();
        if (length > maxCount)
        {
            throw new CheckpointFormatException($"tensor '{name}': {field} has {length} entries, at most {maxCount} allowed");
        }

        var result = new long[length];
        int i = 0;
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long x) || x < 0 || x > maxValue)
            {
                throw new CheckpointFormatException($"tensor '{name}': {field}[{i}] = {item.GetRawText()} is not an integer in 0 … {maxValue}");
            }

            result[i++] = x;
        }

        return result;
    }
}
