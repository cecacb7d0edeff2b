using Pot.Learning.Randomness;

namespace Pot.Learning.Data;

/// <summary>
/// Fashion-MNIST image classification (28×28 grey images, 10 classes) from the Debian package
/// <c>dataset-fashion-mnist</c> (<c>sudo apt-get install dataset-fashion-mnist</c>).
/// </summary>
/// <remarks>
/// <para>Files: <c>{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz</c> in
/// <see cref="DefaultDirectory"/>, parsed strictly by <see cref="Idx"/>: 60,000 training and 10,000 test
/// images, labels 0 … 9. Pixels are <c>byte / 255f</c>.</para>
/// <para>Training batch for <see cref="BatchKey"/> k: with <c>key = k.DataKey(Name)</c> and
/// <c>(X0, X1, _, _) = Philox.Words(key, k.Step, i)</c>, row i is training image
/// <c>Uniform(X0, X1, 60000)</c> (sampling with replacement). Test batches are sequential.</para>
/// </remarks>
public sealed class FashionMnistTask : IImageTask
{
    /// <summary>Where the Debian package installs the files.</summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>The install command quoted when files are missing.</summary>
    public const string InstallHint = "sudo apt-get install dataset-fashion-mnist";

    /// <summary>Image side in pixels.</summary>
    public const int Side = 28;

    private static readonly Lazy<Data> DefaultData = new(() => Data.Load(DefaultDirectory), LazyThreadSafetyMode.PublicationOnly);

    private readonly Data _data;

    /// <summary>Creates the task from <see cref="DefaultDirectory"/> (loaded once per process).</summary>
    /// <exception cref="DataSetUnavailableException">The package is not installed.</exception>
    /// <exception cref="DataFormatException">A file is malformed.</exception>
    public FashionMnistTask()
    {
        _data = DefaultData.Value;
    }

    /// <summary>Creates the task from the four IDX files in <paramref name="directory"/> (not cached).</summary>
    /// <param name="directory">The directory holding the .gz files.</param>
    /// <exception cref="DataSetUnavailableException">A file is missing.</exception>
    /// <exception cref="DataFormatException">A file is malformed.</exception>
    public FashionMnistTask(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        _data = Data.Load(directory);
    }

    /// <summary>"fashion-mnist".</summary>
    public string Name => "fashion-mnist";

    /// <summary>784 = 28·28.</summary>
    public int Features => Side * Side;

    /// <summary>10.</summary>
    public int Classes => 10;

    /// <summary>Number of training images (60,000).</summary>
    public int TrainCount => _data.TrainLabels.Length;

    /// <summary>Number of test images (10,000).</summary>
    public int TestCount => _data.TestLabels.Length;

    /// <inheritdoc />
    public ImageBatch TrainBatch(BatchKey key, int batchSize)
    {
        DataRandom.CheckBatchSize(batchSize);
        ulong dataKey = key.DataKey(Name);
        var indices = new int[batchSize];
        for (int i = 0; i < batchSize; i++)
        {
            var (x0, x1, _, _) = Philox.Words(dataKey, key.Step, (ulong)i);
            indices[i] = DataRandom.Uniform(x0, x1, TrainCount);
        }

        return Gather(_data.TrainImages, _data.TrainLabels, indices);
    }

    /// <summary>The training images at the given positions, in that order (verifiers, tests).</summary>
    /// <param name="indices">Positions in 0 … TrainCount-1.</param>
    /// <returns>A new batch.</returns>
    public ImageBatch TrainImages(ReadOnlySpan<int> indices)
    {
        foreach (int i in indices)
        {
            if ((uint)i >= (uint)TrainCount)
            {
                throw new ArgumentOutOfRangeException(nameof(indices), i, $"training image index must be in 0 … {TrainCount - 1}");
            }
        }

        return Gather(_data.TrainImages, _data.TrainLabels, indices);
    }

    /// <inheritdoc />
    public ImageBatch TestBatch(int index, int batchSize)
    {
        DataRandom.CheckBatchSize(batchSize);
        int batches = (TestCount + batchSize - 1) / batchSize;
        if ((uint)index >= (uint)batches)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{Name} has {batches} test batches of {batchSize}");
        }

        int start = index * batchSize;
        int count = Math.Min(batchSize, TestCount - start);
        var indices = new int[count];
        for (int i = 0; i < count; i++)
        {
            indices[i] = start + i;
        }

        return Gather(_data.TestImages, _data.TestLabels, indices);
    }

    private ImageBatch Gather(byte[] images, byte[] labels, ReadOnlySpan<int> indices)
    {
        int f = Features;
        var pixels = new float[indices.Length * f];
        var outLabels = new int[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            int src = indices[i] * f;
            for (int j = 0; j < f; j++)
            {
                pixels[i * f + j] = images[src + j] / 255f;
            }

            outLabels[i] = labels[indices[i]];
        }

        return new ImageBatch(indices.Length, f, pixels, outLabels);
    }

    /// <summary>The four arrays, checked against each other.</summary>
    private sealed class Data
    {
        private Data(byte[] trainImages, byte[] trainLabels, byte[] testImages, byte[] testLabels)
        {
            TrainImages = trainImages;
            TrainLabels = trainLabels;
            TestImages = testImages;
            TestLabels = testLabels;
        }

        public byte[] TrainImages { get; }

        public byte[] TrainLabels { get; }

        public byte[] TestImages { get; }

        public byte[] TestLabels { get; }

        public static Data Load(string directory)
        {
            var (trainImages, trainLabels) = LoadPair(directory, "train", 60000);
            var (testImages, testLabels) = LoadPair(directory, "t10k", 10000);
            return new Data(trainImages, trainLabels, testImages, testLabels);
        }

        private static (byte[] Images, byte[] Labels) LoadPair(string directory, string prefix, int expectedCount)
        {
            string imagesPath = Path.Combine(directory, prefix + "-images-idx3-ubyte.gz");
            string labelsPath = Path.Combine(directory, prefix + "-labels-idx1-ubyte.gz");
            foreach (string path in new[] { imagesPath, labelsPath })
            {
                if (!File.Exists(path))
                {
                    throw new DataSetUnavailableException(
                        $"the Fashion-MNIST data set is not available: {path} does not exist; install it with: {InstallHint}");
                }
            }

            IdxArray images = Idx.ReadGzipFile(imagesPath, 3);
            IdxArray labels = Idx.ReadGzipFile(labelsPath, 1);
            if (images.Shape[1] != Side || images.Shape[2] != Side)
            {
                throw new DataFormatException($"{imagesPath}: images are {images.Shape[1]}×{images.Shape[2]}, expected {Side}×{Side}");
            }

            if (images.Shape[0] != expectedCount)
            {
                throw new DataFormatException($"{imagesPath}: {images.Shape[0]} images, expected {expectedCount}");
            }

            if (labels.Shape[0] != images.Shape[0])
            {
                throw new DataFormatException($"{labelsPath}: {labels.Shape[0]} labels for {images.Shape[0]} images in {imagesPath}");
            }

            for (int i = 0; i < labels.Data.Length; i++)
            {
                if (labels.Data[i] > 9)
                {
                    throw new DataFormatException($"{labelsPath}: label {labels.Data[i]} of image {i} is outside 0 … 9");
                }
            }

            return (images.Data, labels.Data);
        }
    }
}
