using System.Buffers.Binary;
using System.IO.Compression;
using Pot.Learning.Data;

namespace Pot.Learning.Tests;

public class FashionMnistTaskTests
{
    // Loading throws DataSetUnavailableException ("sudo apt-get install dataset-fashion-mnist") when the
    // package is missing — the tests then fail with that message on purpose.
    private static readonly Lazy<FashionMnistTask> Task = new(() => new FashionMnistTask());

    [Fact]
    public void RealFilesParseWithExpectedSizes()
    {
        // Proves the Debian files parse strictly: 60,000 / 10,000 images of 28×28 with labels 0…9, all classes present.
        var task = Task.Value;
        Assert.Equal(60_000, task.TrainCount);
        Assert.Equal(10_000, task.TestCount);
        Assert.Equal(784, task.Features);
        Assert.Equal(10, task.Classes);
        var counts = new int[10];
        for (int i = 0; i < 10; i++)
        {
            foreach (int label in task.TestBatch(i, 1000).Labels)
            {
                counts[label]++;
            }
        }

        Assert.All(counts, c => Assert.Equal(1000, c)); // Fashion-MNIST's test set is balanced.
        var images = Idx.ReadGzipFile(Path.Combine(FashionMnistTask.DefaultDirectory, "t10k-images-idx3-ubyte.gz"), 3);
        Assert.Equal([10000, 28, 28], images.Shape);
    }

    [Fact]
    public void PixelsAreBytesOver255()
    {
        // Proves pixel conversion is exactly byte/255f and labels match the raw label file.
        var task = Task.Value;
        var batch = task.TestBatch(0, 3);
        var raw = Idx.ReadGzipFile(Path.Combine(FashionMnistTask.DefaultDirectory, "t10k-images-idx3-ubyte.gz"), 3);
        var labels = Idx.ReadGzipFile(Path.Combine(FashionMnistTask.DefaultDirectory, "t10k-labels-idx1-ubyte.gz"), 1);
        for (int i = 0; i < 3 * 784; i++)
        {
            Assert.Equal(raw.Data[i] / 255f, batch.Pixels[i]);
        }

        Assert.Equal(labels.Data[..3].Select(b => (int)b), batch.Labels);
        Assert.All(batch.Pixels, p => Assert.InRange(p, 0f, 1f));
        Assert.Equal(9, batch.Labels[0]); // The first Fashion-MNIST test image is an ankle boot.
    }

    [Fact]
    public void TrainBatchesAreDeterministicPerKey()
    {
        // Proves training batches are pure functions of the key and differ per key component.
        var task = Task.Value;
        var key = new BatchKey(1, 2, 3, 4);
        var a = task.TrainBatch(key, 32);
        var b = task.TrainBatch(key, 32);
        Assert.Equal(a.Pixels, b.Pixels);
        Assert.Equal(a.Labels, b.Labels);
        Assert.NotEqual(a.Pixels, task.TrainBatch(key with { Step = 5 }, 32).Pixels);
        Assert.NotEqual(a.Pixels, task.TrainBatch(key with { Miner = 4 }, 32).Pixels);
        Assert.NotEqual(a.Pixels, task.TrainBatch(key with { Round = 3 }, 32).Pixels);
    }

    [Fact]
    public void PinnedTrainingLabels()
    {
        // Proves the sampling derivation is stable across versions: the labels of a fixed key's batch are pinned.
        var batch = Task.Value.TrainBatch(new BatchKey(1, 0, 0, 0), 12);
        Assert.Equal("0,0,7,1,1,9,2,4,5,6,5,2", string.Join(",", batch.Labels));
    }

    [Fact]
    public void TestBatchesAreSequentialWithShortLastBatch()
    {
        // Proves test batches cover the test set in order, the last one shorter, and out-of-range indices fail.
        var task = Task.Value;
        var last = task.TestBatch(6, 1500);
        Assert.Equal(1000, last.BatchSize);
        Assert.Equal(task.TestBatch(9999, 1).Labels[0], last.Labels[^1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => task.TestBatch(7, 1500));
    }

    [Fact]
    public void MissingDirectoryNamesTheInstallCommand()
    {
        // Proves a missing data set is reported with the command that installs it.
        var e = Assert.Throws<DataSetUnavailableException>(() => new FashionMnistTask("/nonexistent/fashion"));
        Assert.Contains("sudo apt-get install dataset-fashion-mnist", e.Message);
    }

    [Fact]
    public void WellFormedIdxParses()
    {
        // Proves the IDX reader on a hand-built file: magic, big-endian dimensions, data.
        var bytes = Idx3([0x00, 0x00, 0x08, 0x03], [2, 2, 3], 12);
        var array = Idx.Read(new MemoryStream(bytes), 3, "test");
        Assert.Equal([2, 2, 3], array.Shape);
        Assert.Equal(Enumerable.Range(0, 12).Select(i => (byte)i), array.Data);
    }

    public static TheoryData<string, byte[], string> MalformedIdx() => new()
    {
        { "bad magic prefix", Idx3([0x01, 0x00, 0x08, 0x03], [2, 2, 3], 12), "magic" },
        { "float type", Idx3([0x00, 0x00, 0x0D, 0x03], [2, 2, 3], 12), "type code" },
        { "wrong rank", Idx3([0x00, 0x00, 0x08, 0x02], [2, 6], 12), "dimensions, expected 3" },
        { "zero dimension", Idx3([0x00, 0x00, 0x08, 0x03], [0, 2, 3], 0), "dimension 0" },
        { "huge dimension", Idx3([0x00, 0x00, 0x08, 0x03], [unchecked((int)0xFFFFFFFF), 2, 3], 0), "dimension 0" },
        { "over the size limit", Idx3([0x00, 0x00, 0x08, 0x03], [100_000_000, 100, 100], 0), "limit" },
        { "truncated data", Idx3([0x00, 0x00, 0x08, 0x03], [2, 2, 3], 11), "truncated" },
        { "trailing garbage", Idx3([0x00, 0x00, 0x08, 0x03], [2, 2, 3], 13), "trailing" },
        { "truncated header", [0x00, 0x00, 0x08, 0x03, 0x00, 0x00], "truncated" },
        { "empty", [], "truncated" },
    };

    [Theory]
    [MemberData(nameof(MalformedIdx))]
    public void MalformedIdxIsRejected(string why, byte[] bytes, string messagePart)
    {
        // Proves each kind of malformed IDX data raises DataFormatException with a message naming the problem.
        var e = Assert.Throws<DataFormatException>(() => Idx.Read(new MemoryStream(bytes), 3, why));
        Assert.Contains(messagePart, e.Message);
    }

    [Fact]
    public void CorruptGzipIsADataFormatError()
    {
        // Proves a damaged .gz file surfaces as DataFormatException, not a raw decompression exception.
        string path = Path.Combine(Path.GetTempPath(), $"pot-idx-{Environment.ProcessId}.gz");
        try
        {
            var compressed = new MemoryStream();
            using (var gz = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
            {
                gz.Write(Idx3([0x00, 0x00, 0x08, 0x03], [10, 28, 28], 7840));
            }

            byte[] bytes = compressed.ToArray();
            for (int i = 20; i < 40; i++)
            {
                bytes[i] ^= 0x5A;
            }

            File.WriteAllBytes(path, bytes);
            Assert.Throws<DataFormatException>(() => Idx.ReadGzipFile(path, 3));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static byte[] Idx3(byte[] magic, int[] dims, int dataBytes)
    {
        var result = new byte[4 + 4 * dims.Length + dataBytes];
        magic.CopyTo(result, 0);
        for (int i = 0; i < dims.Length; i++)
        {
            BinaryPrimitives.WriteInt32BigEndian(result.AsSpan(4 + 4 * i), dims[i]);
        }

        for (int i = 0; i < dataBytes; i++)
        {
            result[4 + 4 * dims.Length + i] = (byte)i;
        }

        return result;
    }
}
