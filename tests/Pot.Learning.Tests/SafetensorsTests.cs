using System.Buffers.Binary;
using System.Text;
using Pot.Learning.Checkpoints;
using Pot.Learning.Randomness;

namespace Pot.Learning.Tests;

public class SafetensorsTests
{
    private const string HandHeader =
        "{\"__metadata__\":{\"format\":\"pt\"}," +
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}," +
        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";

    private static byte[] WriteToBytes(IReadOnlyList<(string, int[], ReadOnlyMemory<float>)> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var ms = new MemoryStream();
        Safetensors.Write(ms, tensors, metadata);
        return ms.ToArray();
    }

    private static byte[] HandFile()
    {
        // 139 header bytes padded with 5 spaces to 144 = 0x90; data: 1f, 2f, -0.5f little-endian.
        var bytes = new List<byte> { 0x90, 0, 0, 0, 0, 0, 0, 0 };
        bytes.AddRange(Encoding.ASCII.GetBytes(HandHeader + "     "));
        bytes.AddRange([0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0xBF]);
        return bytes.ToArray();
    }

    private static byte[] RawFile(string header, int dataBytes)
    {
        byte[] h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);
        return bytes;
    }

    [Fact]
    public void WriterProducesTheHandComputedBytes()
    {
        // Proves the exact byte layout: LE length, compact JSON with metadata first, space padding to 8, LE floats.
        byte[] written = WriteToBytes(
            [("a", [2], new float[] { 1f, 2f }), ("b", [1], new float[] { -0.5f })],
            new Dictionary<string, string> { ["format"] = "pt" });
        Assert.Equal(HandFile(), written);
        Assert.Equal(0, (written.Length - 12) % 8);
    }

    [Fact]
    public void ReaderParsesTheHandComputedBytes()
    {
        // Proves the reader decodes an independently built file: names, shapes, values, metadata, order.
        var file = Safetensors.Read(new MemoryStream(HandFile()));
        Assert.Equal(["a", "b"], file.Tensors.Select(t => t.Name));
        Assert.Equal([2], file.Get("a").Shape);
        Assert.Equal([1f, 2f], file.Get("a").Data);
        Assert.Equal([-0.5f], file.Get("b").Data);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Single(file.Metadata);
        Assert.Throws<KeyNotFoundException>(() => file.Get("c"));
    }

    [Fact]
    public void RoundTripPreservesBitsShapesOrderAndMetadata()
    {
        // Proves write→read is lossless, including NaN payloads, -0, subnormals, scalars and empty tensors,
        // and that writing the result again gives identical bytes (deterministic writer).
        float nan = BitConverter.Int32BitsToSingle(0x7FC0_1234);
        var data = new float[] { 0f, -0f, float.Epsilon, float.MaxValue, float.NegativeInfinity, nan };
        var weights = Enumerable.Range(0, 24).Select(i => i * 0.25f - 3f).ToArray();
        (string, int[], ReadOnlyMemory<float>)[] tensors =
        [
            ("z.weights", [2, 3, 4], weights),
            ("special", [6], data),
            ("scalar", [], new float[] { 7f }),
            ("empty", [0, 5], Array.Empty<float>()),
            ("quote\"back\\slash\nünï", [1], new float[] { 1f }),
        ];
        var metadata = new SortedDictionary<string, string> { ["step"] = "12", ["task"] = "addition", ["note"] = "a \"quoted\" ✓" };
        byte[] bytes = WriteToBytes(tensors, metadata);
        var file = Safetensors.Read(new MemoryStream(bytes));
        Assert.Equal(tensors.Select(t => t.Item1), file.Tensors.Select(t => t.Name));
        for (int i = 0; i < tensors.Length; i++)
        {
            Assert.Equal(tensors[i].Item2, file.Tensors[i].Shape);
            Assert.Equal(
                tensors[i].Item3.ToArray().Select(BitConverter.SingleToInt32Bits),
                file.Tensors[i].Data.Select(BitConverter.SingleToInt32Bits));
        }

        Assert.Equal(metadata, file.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal));
        var again = new MemoryStream();
        Safetensors.Write(again, new SafetensorsFile(file.Tensors, new SortedDictionary<string, string>(file.Metadata.ToDictionary(), StringComparer.Ordinal)));
        Assert.Equal(bytes, again.ToArray());
    }

    [Fact]
    public void FileRoundTripThroughPath()
    {
        // Proves the path overloads write (via a temporary file) and read the same contents.
        string path = Path.Combine(Path.GetTempPath(), $"pot-st-{Environment.ProcessId}.safetensors");
        try
        {
            Safetensors.Write(path, [("w", [2], new float[] { 3f, 4f })], null);
            var file = Safetensors.Read(path);
            Assert.Equal([3f, 4f], file.Get("w").Data);
            Assert.Empty(file.Metadata);
            Assert.False(File.Exists(path + ".tmp"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ReaderAcceptsForeignOrderAndNonSeekableStreams()
    {
        // Proves offsets, not header order, define data order (the reference writer may reorder), and that
        // unseekable streams work.
        string header = "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        byte[] bytes = RawFile(header, 8);
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(bytes.Length - 8), 1f);
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(bytes.Length - 4), 2f);
        var file = Safetensors.Read(new NonSeekable(bytes));
        Assert.Equal(["a", "b"], file.Tensors.Select(t => t.Name));
        Assert.Equal([2f], file.Get("b").Data);
    }

    public static TheoryData<string, string, int, string> MalformedHeaders() => new()
    {
        { "not json", "{not json}", 0, "not valid UTF-8 JSON" },
        { "array root", "[1]     ", 0, "does not start with '{'" },
        { "duplicate names", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "twice" },
        { "f16 dtype", "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "only F32" },
        { "negative dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape[0]" },
        { "fractional dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "shape[0]" },
        { "shape/bytes mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "needs 8" },
        { "offsets reversed", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4, "end before" },
        { "three offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4, "at most 2" },
        { "overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "overlaps" },
        { "gap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "gap" },
        { "past the end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "run past" },
        { "trailing bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "trailing" },
        { "missing dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "no dtype" },
        { "unknown field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "unknown field 'x'" },
        { "metadata not strings", "{\"__metadata__\":{\"k\":1}}", 0, "expected a string" },
        { "metadata array", "{\"__metadata__\":[]}", 0, "__metadata__" },
        { "tensor not object", "{\"a\":3}", 0, "expected an object" },
        { "too deep", "{\"a\":{\"dtype\":\"F32\",\"shape\":[[1]],\"data_offsets\":[0,4]}}", 4, "" },
        { "huge shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[65536,65536],\"data_offsets\":[0,4]}}", 4, "elements" },
        { "empty name", "{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "empty name" },
    };

    [Theory]
    [MemberData(nameof(MalformedHeaders))]
    public void MalformedHeadersAreRejectedWithClearMessages(string why, string header, int dataBytes, string messagePart)
    {
        // Proves every listed violation raises CheckpointFormatException whose message names the problem.
        var e = Assert.Throws<CheckpointFormatException>(() => Safetensors.Read(new MemoryStream(RawFile(header, dataBytes))));
        Assert.True(e.Message.Contains(messagePart, StringComparison.Ordinal), $"{why}: message was '{e.Message}'");
    }

    [Fact]
    public void BadLengthPrefixesAreRejected()
    {
        // Proves the header-length limits: shorter than 8 bytes, over 100 MB, and past the end of the file.
        Assert.Contains("shorter than", Assert.Throws<CheckpointFormatException>(() => Safetensors.Read(new MemoryStream(new byte[5]))).Message);
        var huge = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(huge, 100_000_001);
        Assert.Contains("limit", Assert.Throws<CheckpointFormatException>(() => Safetensors.Read(new MemoryStream(huge))).Message);
        var past = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(past, 9);
        Assert.Contains("past the end", Assert.Throws<CheckpointFormatException>(() => Safetensors.Read(new MemoryStream(past))).Message);
        var max = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(max, ulong.MaxValue);
        Assert.Throws<CheckpointFormatException>(() => Safetensors.Read(new MemoryStream(max)));
    }

    [Fact]
    public void InvalidUtf8HeaderIsRejected()
    {
        // Proves a header with invalid UTF-8 inside a name is a format error, not a crash.
        byte[] bytes = RawFile("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0);
        bytes[10] = 0xFF; // The name "a".
        Assert.Throws<CheckpointFormatException>(() => Safetensors.Read(new MemoryStream(bytes)));
    }

    [Fact]
    public void WriterRejectsInvalidInput()
    {
        // Proves the writer refuses what the reader would refuse: duplicate, empty or reserved names,
        // shape/data mismatch, negative dimensions.
        var ms = new MemoryStream();
        Assert.Throws<ArgumentException>(() => Safetensors.Write(ms, [("a", [1], new float[1]), ("a", [1], new float[1])]));
        Assert.Throws<ArgumentException>(() => Safetensors.Write(ms, [("", [1], new float[1])]));
        Assert.Throws<ArgumentException>(() => Safetensors.Write(ms, [("__metadata__", [1], new float[1])]));
        Assert.Throws<ArgumentException>(() => Safetensors.Write(ms, [("a", [2], new float[1])]));
        Assert.Throws<ArgumentException>(() => Safetensors.Write(ms, [("a", [-1], new float[0])]));
        Assert.Throws<ArgumentException>(() => Safetensors.Write(ms, [("bad\uD800", [1], new float[1])]));
    }

    [Fact]
    public void FuzzedCorruptionsOnlyRaiseCheckpointFormatException()
    {
        // Proves robustness: 3,000 random byte flips, truncations, insertions and header rewrites of a valid
        // file either read successfully or raise CheckpointFormatException — never any other exception.
        byte[] valid = WriteToBytes(
            [("layer.0.w", [3, 4], Enumerable.Range(0, 12).Select(i => (float)i).ToArray()), ("layer.0.b", [4], new float[4]), ("s", [], new float[] { 1f })],
            new Dictionary<string, string> { ["round"] = "3" });
        ulong key = Philox.DeriveKey(2024, "test/safetensors-fuzz");
        int accepted = 0, rejected = 0;
        for (ulong trial = 0; trial < 3000; trial++)
        {
            var (x0, x1, x2, x3) = Philox.Words(key, 0, trial);
            byte[] bytes = (x0 % 4) switch
            {
                0 => Flip(valid, x1, x2, x3),
                1 => valid[..Philox.ToRange(x1, valid.Length)],
                2 => Insert(valid, Philox.ToRange(x1, valid.Length), (byte)x2),
                _ => HeaderDigit(valid, x1, x2),
            };
            try
            {
                Safetensors.Read(new MemoryStream(bytes));
                accepted++;
            }
            catch (CheckpointFormatException)
            {
                rejected++;
            }
        }

        Assert.True(rejected > 1000, $"only {rejected} corruptions were rejected");
        Assert.True(accepted > 0, "no corruption left the file readable (data-only flips should)");
    }

    private static byte[] Flip(byte[] valid, uint x1, uint x2, uint x3)
    {
        byte[] b = (byte[])valid.Clone();
        int flips = 1 + (int)(x3 % 3);
        for (int i = 0; i < flips; i++)
        {
            var (y0, y1, _, _) = Philox.Words(x1, x2, (ulong)i);
            b[Philox.ToRange(y0, b.Length)] ^= (byte)(1 << (int)(y1 % 8));
        }

        return b;
    }

    private static byte[] Insert(byte[] valid, int at, byte value) => [.. valid[..at], value, .. valid[at..]];

    private static byte[] HeaderDigit(byte[] valid, uint x1, uint x2)
    {
        // Replace one header character with a digit, '-', '[', '"' or '}' to reach deeper validation paths.
        byte[] b = (byte[])valid.Clone();
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(b);
        const string choices = "0123456789-[\"},";
        b[8 + Philox.ToRange(x1, headerLength)] = (byte)choices[Philox.ToRange(x2, choices.Length)];
        return b;
    }

    private sealed class NonSeekable(byte[] bytes) : Stream
    {
        private readonly MemoryStream _inner = new(bytes);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 3));

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
