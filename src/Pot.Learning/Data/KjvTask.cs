using System.ComponentModel;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Pot.Learning.Randomness;

namespace Pot.Learning.Data;

/// <summary>
/// Character-level language modelling on the King James Bible from the Debian package
/// <c>bible-kjv</c> (<c>sudo apt-get install bible-kjv</c>).
/// </summary>
/// <remarks>
/// <para>Text: the output of <c>bible -f gen1:1-rev22:21</c> (one verse per line, e.g.
/// <c>"Ge1:1 In the beginning …"</c>) with each verse label (book abbreviation, chapter, ':', verse,
/// one space) removed, verses joined with '\n' and no trailing newline: 31,102 verses,
/// 4,137,849 characters. Its SHA-256 is pinned (<see cref="ExpectedTextSha256"/>) so every miner
/// trains on the same bytes; a different text is refused.</para>
/// <para>Vocabulary: the distinct characters of the whole text in ordinal order (63 of them);
/// token = rank in that order.</para>
/// <para>Split by position: the first floor(0.9·N) characters are training text, the rest
/// validation text.</para>
/// <para>Training batch for <see cref="BatchKey"/> k: with <c>key = k.DataKey(Name)</c> and
/// <c>(X0, X1, _, _) = Philox.Words(key, k.Step, i)</c>, row i is the window of T+1 training
/// characters starting at <c>Uniform(X0, X1, trainLength − T)</c>: inputs are its first T, targets its
/// last T.</para>
/// <para>Validation: non-overlapping windows of T+1 characters starting at w·T (w = 0, 1, …) inside the
/// validation text; batch j holds windows j·B … j·B+B−1; only full batches exist.</para>
/// </remarks>
public sealed class KjvTask : ITokenTask
{
    /// <summary>The SHA-256 (lower-case hex) of the UTF-8 text after label stripping.</summary>
    public const string ExpectedTextSha256 = "26b9aa01235f35949ed880a62250516940faa4e66930aa9440ec195d5ad0a80c";

    /// <summary>The number of verses the Bible text must have.</summary>
    public const int ExpectedVerseCount = 31102;

    /// <summary>The install command quoted when the <c>bible</c> program is missing.</summary>
    public const string InstallHint = "sudo apt-get install bible-kjv";

    /// <summary>The default sequence length.</summary>
    public const int DefaultSeqLen = 128;

    /// <summary>The smoothing constants tried by <see cref="BigramBaseline"/>.</summary>
    public static readonly IReadOnlyList<double> BigramSmoothingGrid = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0];

    private static readonly Lazy<Corpus> SharedCorpus = new(() => new Corpus(LoadText()), LazyThreadSafetyMode.PublicationOnly);

    private readonly Corpus _corpus;

    /// <summary>Creates the task; runs the <c>bible</c> program once per process.</summary>
    /// <param name="seqLen">T: positions per sequence, 1 … 65,536.</param>
    /// <exception cref="DataSetUnavailableException"><c>bible-kjv</c> is not installed.</exception>
    /// <exception cref="DataFormatException">The program's output is not the expected text.</exception>
    public KjvTask(int seqLen = DefaultSeqLen)
        : this(seqLen, SharedCorpus.Value)
    {
    }

    private KjvTask(int seqLen, Corpus corpus)
    {
        if (seqLen < 1 || seqLen > 65536)
        {
            throw new ArgumentOutOfRangeException(nameof(seqLen), seqLen, "sequence length must be in 1 … 65536");
        }

        _corpus = corpus;
        if (corpus.Validation.Length < seqLen + 1 || corpus.Train.Length < seqLen + 1)
        {
            throw new ArgumentOutOfRangeException(nameof(seqLen), seqLen, $"sequence length leaves no full window in {corpus.Train.Length} training / {corpus.Validation.Length} validation characters");
        }

        SeqLen = seqLen;
    }

    /// <summary>"kjv".</summary>
    public string Name => "kjv";

    /// <summary>Number of distinct characters (63 for the pinned text).</summary>
    public int VocabSize => _corpus.Vocabulary.Length;

    /// <summary>T.</summary>
    public int SeqLen { get; }

    /// <summary>The vocabulary: distinct characters in ordinal order; token = index.</summary>
    public string Vocabulary => _corpus.Vocabulary;

    /// <summary>Characters of the whole text.</summary>
    public int TextLength => _corpus.Train.Length + _corpus.Validation.Length;

    /// <summary>Characters of the training part: floor(0.9 · TextLength).</summary>
    public int TrainLength => _corpus.Train.Length;

    /// <summary>Characters of the validation part.</summary>
    public int ValidationLength => _corpus.Validation.Length;

    /// <summary>SHA-256 (lower-case hex) of the text in UTF-8.</summary>
    public string TextSha256 => _corpus.Sha256;

    /// <summary>Creates a task over an arbitrary text (tests and other corpora), split and batched like the Bible.</summary>
    /// <param name="text">The text, at least 2·(seqLen+1)·10 characters.</param>
    /// <param name="seqLen">T.</param>
    /// <returns>The task.</returns>
    internal static KjvTask FromText(string text, int seqLen) => new(seqLen, new Corpus(text));

    /// <summary>
    /// Runs <c>bible -f gen1:1-rev22:21</c>, strips the verse labels and checks verse count and
    /// SHA-256. Slow (a second or so); the task caches the result per process.
    /// </summary>
    /// <returns>The text: verses joined with '\n'.</returns>
    /// <exception cref="DataSetUnavailableException"><c>bible-kjv</c> is not installed.</exception>
    /// <exception cref="DataFormatException">The output is not the expected text.</exception>
    public static string LoadText() => LoadText("bible");

    /// <summary>As <see cref="LoadText()"/> with another program name (tests of the missing-program path).</summary>
    internal static string LoadText(string program)
    {
        var psi = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        psi.ArgumentList.Add("-f");
        psi.ArgumentList.Add("gen1:1-rev22:21");
        string output, error;
        int exitCode;
        try
        {
            using var process = Process.Start(psi)
                ?? throw new DataSetUnavailableException($"could not start the '{program}' program; install it with: {InstallHint}");
            process.StandardInput.Close();
            var errorTask = process.StandardError.ReadToEndAsync();
            output = process.StandardOutput.ReadToEnd();
            error = errorTask.GetAwaiter().GetResult();
            process.WaitForExit();
            exitCode = process.ExitCode;
        }
        catch (Win32Exception e)
        {
            throw new DataSetUnavailableException(
                $"the King James Bible data set is not available: the '{program}' program was not found ({e.Message}); install it with: {InstallHint}", e);
        }

        if (exitCode != 0)
        {
            throw new DataSetUnavailableException(
                $"'bible -f gen1:1-rev22:21' exited with code {exitCode}: {error.Trim()}; reinstall the data set with: {InstallHint}");
        }

        string text = StripVerseLabels(output);
        string sha = Sha256Hex(text);
        if (sha != ExpectedTextSha256)
        {
            throw new DataFormatException(
                $"the bible-kjv text has SHA-256 {sha}, expected {ExpectedTextSha256}; this machine's bible-kjv package differs from the one the network trains on");
        }

        return text;
    }

    /// <summary>
    /// Removes the verse label from every line of <c>bible -f</c> output and joins the verses with
    /// '\n'. A label is an optional digit 1–3, a book abbreviation of ASCII letters, the chapter
    /// number, ':', the verse number and one space (<c>"Ge1:1 "</c>, <c>"1Chr2:3 "</c>,
    /// <c>"SSol1:1 "</c>). Every non-empty line must carry one; the output must hold exactly
    /// <see cref="ExpectedVerseCount"/> verses.
    /// </summary>
    /// <param name="bibleOutput">The program's standard output.</param>
    /// <returns>The verse texts joined with '\n'.</returns>
    /// <exception cref="DataFormatException">A line has no label, or the verse count is wrong.</exception>
    public static string StripVerseLabels(string bibleOutput) => StripVerseLabels(bibleOutput, ExpectedVerseCount);

    /// <summary>As <see cref="StripVerseLabels(string)"/> with a given verse count (tests).</summary>
    internal static string StripVerseLabels(string bibleOutput, int expectedVerses)
    {
        ArgumentNullException.ThrowIfNull(bibleOutput);
        var sb = new StringBuilder(bibleOutput.Length);
        int verses = 0;
        int lineNumber = 0;
        foreach (var range in bibleOutput.AsSpan().Split('\n'))
        {
            lineNumber++;
            ReadOnlySpan<char> line = bibleOutput.AsSpan(range);
            if (line.EndsWith("\r"))
            {
                line = line[..^1];
            }

            if (line.IsEmpty)
            {
                continue;
            }

            int labelLength = VerseLabelLength(line);
            if (labelLength < 0)
            {
                string shown = line.Length > 60 ? line[..60].ToString() + "…" : line.ToString();
                throw new DataFormatException(
                    $"bible output line {lineNumber} has no verse label like \"Ge1:1 \": \"{shown}\"");
            }

            if (verses > 0)
            {
                sb.Append('\n');
            }

            sb.Append(line[labelLength..]);
            verses++;
        }

        if (verses != expectedVerses)
        {
            throw new DataFormatException($"bible output has {verses} verses, expected {expectedVerses}");
        }

        return sb.ToString();
    }

    /// <summary>Length of the label at the start of <paramref name="line"/> including its space, or -1.</summary>
    private static int VerseLabelLength(ReadOnlySpan<char> line)
    {
        int p = 0;
        if (p < line.Length && line[p] >= '1' && line[p] <= '3')
        {
            p++;
        }

        int start = p;
        while (p < line.Length && char.IsAsciiLetter(line[p]))
        {
            p++;
        }

        if (p == start)
        {
            return -1;
        }

        start = p;
        while (p < line.Length && char.IsAsciiDigit(line[p]))
        {
            p++;
        }

        if (p == start || p >= line.Length || line[p] != ':')
        {
            return -1;
        }

        p++;
        start = p;
        while (p < line.Length && char.IsAsciiDigit(line[p]))
        {
            p++;
        }

        if (p == start || p >= line.Length || line[p] != ' ')
        {
            return -1;
        }

        return p + 1;
    }

    /// <inheritdoc />
    public TokenBatch TrainBatch(BatchKey key, int batchSize)
    {
        DataRandom.CheckBatchSize(batchSize);
        ulong dataKey = key.DataKey(Name);
        int t = SeqLen;
        byte[] train = _corpus.Train;
        int starts = train.Length - t;
        var inputs = new int[batchSize * t];
        var targets = new int[batchSize * t];
        for (int i = 0; i < batchSize; i++)
        {
            var (x0, x1, _, _) = Philox.Words(dataKey, key.Step, (ulong)i);
            int s = DataRandom.Uniform(x0, x1, starts);
            CopyWindow(train, s, inputs.AsSpan(i * t, t), targets.AsSpan(i * t, t));
        }

        return new TokenBatch(batchSize, t, inputs, targets);
    }

    /// <inheritdoc />
    public TokenBatch ValidationBatch(int index, int batchSize)
    {
        int count = ValidationBatchCount(batchSize);
        if ((uint)index >= (uint)count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{Name} has {count} validation batches of {batchSize} × {SeqLen}");
        }

        int t = SeqLen;
        var inputs = new int[batchSize * t];
        var targets = new int[batchSize * t];
        for (int i = 0; i < batchSize; i++)
        {
            int w = index * batchSize + i;
            CopyWindow(_corpus.Validation, w * t, inputs.AsSpan(i * t, t), targets.AsSpan(i * t, t));
        }

        return new TokenBatch(batchSize, t, inputs, targets);
    }

    /// <inheritdoc />
    public int ValidationBatchCount(int batchSize)
    {
        DataRandom.CheckBatchSize(batchSize);
        int windows = (_corpus.Validation.Length - 1) / SeqLen;
        return windows / batchSize;
    }

    /// <inheritdoc />
    public string Decode(ReadOnlySpan<int> tokens)
    {
        string vocab = _corpus.Vocabulary;
        var chars = new char[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
        {
            int t = tokens[i];
            if ((uint)t >= (uint)vocab.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), t, $"token {t} at position {i} is outside the {Name} vocabulary 0 … {vocab.Length - 1}");
            }

            chars[i] = vocab[t];
        }

        return new string(chars);
    }

    /// <inheritdoc />
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokens = new int[text.Length];
        for (int i = 0; i < text.Length; i++)
        {
            tokens[i] = _corpus.TokenOf(text[i], i);
        }

        return tokens;
    }

    /// <summary>
    /// Validation loss of a count-based bigram model: see <see cref="BigramBaseline"/>.
    /// </summary>
    /// <returns>Mean cross-entropy in nats per predicted character.</returns>
    public double BigramValidationLoss() => BigramBaseline().Loss;

    /// <summary>
    /// A reference number for models on this task: a bigram model p(b | a) = (c(a,b) + k) /
    /// (c(a) + k·V) fitted on the adjacent character pairs of the training text, with the add-k
    /// constant chosen from <see cref="BigramSmoothingGrid"/> as the one with the lowest validation
    /// loss (ties: the smaller k). The loss is the mean of −ln p(b | a) over the adjacent pairs inside
    /// the validation text, in float64. It is a report, not consensus data, so platform
    /// <see cref="Math.Log(double)"/> is fine.
    /// </summary>
    /// <returns>The loss in nats and the chosen k.</returns>
    public (double Loss, double K) BigramBaseline() => _corpus.Bigram.Value;

    private static void CopyWindow(byte[] text, int start, Span<int> inputs, Span<int> targets)
    {
        for (int j = 0; j < inputs.Length; j++)
        {
            inputs[j] = text[start + j];
            targets[j] = text[start + j + 1];
        }
    }

    private static string Sha256Hex(string text) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>The tokenized text, shared by all task instances of a process.</summary>
    private sealed class Corpus
    {
        private readonly int[] _tokenOfChar;

        public Corpus(string text)
        {
            if (text.Length < 20)
            {
                throw new DataFormatException($"corpus of {text.Length} characters is too short to split 90/10");
            }

            var seen = new bool[char.MaxValue + 1];
            foreach (char c in text)
            {
                seen[c] = true;
            }

            var vocab = new StringBuilder();
            for (int c = 0; c <= char.MaxValue; c++)
            {
                if (seen[c])
                {
                    vocab.Append((char)c);
                }
            }

            Vocabulary = vocab.ToString();
            if (Vocabulary.Length > 256)
            {
                throw new DataFormatException($"corpus has {Vocabulary.Length} distinct characters; at most 256 are supported");
            }

            _tokenOfChar = new int[char.MaxValue + 1];
            Array.Fill(_tokenOfChar, -1);
            for (int i = 0; i < Vocabulary.Length; i++)
            {
                _tokenOfChar[Vocabulary[i]] = i;
            }

            var tokens = new byte[text.Length];
            for (int i = 0; i < text.Length; i++)
            {
                tokens[i] = (byte)_tokenOfChar[text[i]];
            }

            int trainLength = (int)((long)text.Length * 9 / 10);
            Train = tokens[..trainLength];
            Validation = tokens[trainLength..];
            Sha256 = Sha256Hex(text);
            Bigram = new Lazy<(double, double)>(FitBigram);
        }

        public string Vocabulary { get; }

        public byte[] Train { get; }

        public byte[] Validation { get; }

        public string Sha256 { get; }

        public Lazy<(double Loss, double K)> Bigram { get; }

        public int TokenOf(char c, int position)
        {
            int t = _tokenOfChar[c];
            if (t < 0)
            {
                throw new ArgumentException(
                    $"character '{c}' (U+{(int)c:X4}) at position {position} is not in the kjv vocabulary", "text");
            }

            return t;
        }

        private (double, double) FitBigram()
        {
            int v = Vocabulary.Length;
            var trainPairs = CountPairs(Train, v);
            var valPairs = CountPairs(Validation, v);
            var rowTotals = new long[v];
            for (int a = 0; a < v; a++)
            {
                for (int b = 0; b < v; b++)
                {
                    rowTotals[a] += trainPairs[a * v + b];
                }
            }

            long valCount = Validation.Length - 1;
            double bestLoss = double.PositiveInfinity, bestK = double.NaN;
            foreach (double k in BigramSmoothingGrid)
            {
                double sum = 0;
                for (int a = 0; a < v; a++)
                {
                    double denominator = rowTotals[a] + k * v;
                    for (int b = 0; b < v; b++)
                    {
                        long n = valPairs[a * v + b];
                        if (n != 0)
                        {
                            sum -= n * Math.Log((trainPairs[a * v + b] + k) / denominator);
                        }
                    }
                }

                double loss = sum / valCount;
                if (loss < bestLoss)
                {
                    bestLoss = loss;
                    bestK = k;
                }
            }

            return (bestLoss, bestK);
        }

        private static long[] CountPairs(byte[] tokens, int v)
        {
            var counts = new long[v * v];
            for (int i = 0; i + 1 < tokens.Length; i++)
            {
                counts[tokens[i] * v + tokens[i + 1]]++;
            }

            return counts;
        }
    }
}
