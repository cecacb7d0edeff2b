using Pot.Learning.Data;

namespace Pot.Learning.Tests;

public class KjvTaskTests
{
    // Creating the task runs `bible`; without bible-kjv this throws DataSetUnavailableException whose
    // message says "sudo apt-get install bible-kjv" — the tests then fail with that message on purpose.
    private static readonly Lazy<KjvTask> Task = new(() => new KjvTask(64));

    [Fact]
    public void StripsVerseLabelsOfEveryBookFormat()
    {
        // Proves label stripping on the real output shapes: plain, numbered and two-capital book names,
        // multi-digit chapters and verses, and that verses are joined by '\n' without a trailing newline.
        string output = "Ge1:1 In the beginning.\n1Chr12:34 Numbered book.\nSSol1:1 The song of songs, 1:1 stays.\nPsa119:176 Last.\n";
        string text = KjvTask.StripVerseLabels(output, 4);
        Assert.Equal("In the beginning.\nNumbered book.\nThe song of songs, 1:1 stays.\nLast.", text);
    }

    [Fact]
    public void RejectsLinesWithoutLabelsAndWrongVerseCounts()
    {
        // Proves a change in the program's output format is detected instead of silently training on it.
        var e = Assert.Throws<DataFormatException>(() => KjvTask.StripVerseLabels("Ge1:1 ok\nno label here\n", 2));
        Assert.Contains("line 2", e.Message);
        Assert.Throws<DataFormatException>(() => KjvTask.StripVerseLabels("Ge1:1x ok\n", 1));
        var count = Assert.Throws<DataFormatException>(() => KjvTask.StripVerseLabels("Ge1:1 a\nGe1:2 b\n", 3));
        Assert.Contains("expected 3", count.Message);
    }

    [Fact]
    public void MissingProgramNamesTheInstallCommand()
    {
        // Proves a machine without the bible program gets DataSetUnavailableException with the install command.
        var e = Assert.Throws<DataSetUnavailableException>(() => KjvTask.LoadText("pot-test-no-such-bible-program"));
        Assert.Contains("sudo apt-get install bible-kjv", e.Message);
    }

    [Fact]
    public void RealTextHasPinnedSizeVocabularyAndSplit()
    {
        // Proves the loaded Bible is exactly the pinned text: sizes, vocabulary, 90/10 split, first verse.
        var task = Task.Value;
        Assert.Equal(KjvTask.ExpectedTextSha256, task.TextSha256);
        Assert.Equal(4_137_849, task.TextLength);
        Assert.Equal(3_724_064, task.TrainLength);
        Assert.Equal(413_785, task.ValidationLength);
        Assert.Equal(63, task.VocabSize);
        Assert.Equal("\n !'(),-.:;?ABCDEFGHIJKLMNOPQRSTUVWYZabcdefghijklmnopqrstuvwxyz", task.Vocabulary);
        string start = "In the beginning God created the heaven and the earth.\nAnd the earth";
        Assert.Equal(start, task.Decode(task.Encode(start)));
        Assert.StartsWith(start, KjvTask.LoadText());
        Assert.Equal(5, task.Decode(task.Encode("Amen.")).Length);
        Assert.Throws<ArgumentException>(() => task.Encode("X")); // 'X' never occurs in the KJV.
    }

    [Fact]
    public void TrainBatchesAreDeterministicWindowsOfTheTrainingText()
    {
        // Proves batches are pure functions of the key, differ per key component, and are next-character windows.
        var task = Task.Value;
        var key = new BatchKey(9, 1, 2, 3);
        var a = task.TrainBatch(key, 16);
        Assert.Equal(a.Inputs, task.TrainBatch(key, 16).Inputs);
        Assert.NotEqual(a.Inputs, task.TrainBatch(key with { Step = 4 }, 16).Inputs);
        Assert.NotEqual(a.Inputs, task.TrainBatch(key with { Miner = 3 }, 16).Inputs);
        Assert.NotEqual(a.Inputs, task.TrainBatch(key with { Round = 2 }, 16).Inputs);
        Assert.NotEqual(a.Inputs, task.TrainBatch(key with { Seed = 10 }, 16).Inputs);
        int t = task.SeqLen;
        for (int r = 0; r < a.BatchSize; r++)
        {
            for (int i = 0; i + 1 < t; i++)
            {
                Assert.Equal(a.Inputs[r * t + i + 1], a.Targets[r * t + i]);
            }
        }

        Assert.Equal(16 * t, a.CountTargets());
    }

    [Fact]
    public void PinnedTrainingWindow()
    {
        // Proves the window derivation is stable across versions: the first row of a fixed key is pinned.
        var task = Task.Value;
        var batch = task.TrainBatch(new BatchKey(1, 0, 0, 0), 1);
        Assert.Equal("he LORD unto me, Pray no", task.Decode(batch.Inputs.AsSpan(0, 24)));
    }

    [Fact]
    public void ValidationBatchesTileTheValidationText()
    {
        // Proves validation batches are fixed consecutive windows of the last 10% of the text.
        var task = Task.Value;
        int windows = (task.ValidationLength - 1) / task.SeqLen;
        Assert.Equal(windows / 32, task.ValidationBatchCount(32));
        var b0 = task.ValidationBatch(0, 2);
        string text = KjvTask.LoadText();
        string expected = text.Substring(task.TrainLength, 2 * task.SeqLen);
        Assert.Equal(expected, task.Decode(b0.Inputs));
        Assert.Equal(text.Substring(task.TrainLength + 1, task.SeqLen), task.Decode(b0.Targets.AsSpan(0, task.SeqLen)));
        Assert.Throws<ArgumentOutOfRangeException>(() => task.ValidationBatch(task.ValidationBatchCount(32), 32));
    }

    [Fact]
    public void BigramBaselineMatchesTheMeasuredValue()
    {
        // Proves the bigram baseline is computed as documented: measured 2.3227252 nats with k = 0.3
        // (independently reproduced with a Python script over the same text).
        var (loss, k) = Task.Value.BigramBaseline();
        Assert.Equal(0.3, k);
        Assert.InRange(loss, 2.32272, 2.32273);
        Assert.Equal(loss, Task.Value.BigramValidationLoss());
    }
}
