using Pot.Learning.Data;

namespace Pot.Learning.Tests;

public class AdditionTaskTests
{
    private static readonly BatchKey Key = new(Seed: 42, Round: 3, Miner: 7, Step: 5);

    [Fact]
    public void SameKeyGivesIdenticalBatch()
    {
        // Proves a batch is a pure function of its key: two task instances produce identical arrays.
        var a = new AdditionTask().TrainBatch(Key, 64);
        var b = new AdditionTask().TrainBatch(Key, 64);
        Assert.Equal(a.Inputs, b.Inputs);
        Assert.Equal(a.Targets, b.Targets);
    }

    [Fact]
    public void EachKeyComponentChangesTheBatch()
    {
        // Proves seed, round, miner and step each enter the data order (no two keys share a batch).
        var task = new AdditionTask();
        var baseline = task.TrainBatch(Key, 32).Inputs;
        BatchKey[] others =
        [
            Key with { Seed = 43 }, Key with { Round = 4 }, Key with { Miner = 8 }, Key with { Step = 6 },
        ];
        foreach (var other in others)
        {
            Assert.NotEqual(baseline, task.TrainBatch(other, 32).Inputs);
        }
    }

    [Fact]
    public void BatchRowsArePrefixesOfLargerBatches()
    {
        // Proves row i depends only on (key, i): a batch of 8 is the first 8 rows of a batch of 64.
        var task = new AdditionTask();
        var small = task.TrainBatch(Key, 8);
        var large = task.TrainBatch(Key, 64);
        Assert.Equal(small.Inputs, large.Inputs[..small.Inputs.Length]);
    }

    [Fact]
    public void PinnedBatchValues()
    {
        // Proves the derivation is stable across versions: the first row for a fixed key is pinned
        // (changing key derivation, sampling or encoding breaks every miner's replay).
        var task = new AdditionTask();
        var batch = task.TrainBatch(new BatchKey(1, 0, 0, 0), 2);
        string row0 = task.Decode(batch.Inputs.AsSpan(0, task.SeqLen));
        string row1 = task.Decode(batch.Inputs.AsSpan(task.SeqLen, task.SeqLen));
        Assert.Equal(Pinned, (row0, row1));
    }

    private static readonly (string, string) Pinned = ("64+40=40", "94+60=45");

    [Fact]
    public void TrainingNeverSamplesHeldOutProblems()
    {
        // Proves the held-out split is respected: 20,000 sampled training problems contain no held-out one,
        // while roughly 10% rejection means the rejection loop was actually exercised.
        var task = new AdditionTask();
        int rows = 0;
        var seen = new HashSet<(int, int)>();
        for (ulong step = 0; step < 20; step++)
        {
            var batch = task.TrainBatch(Key with { Step = step }, 1000);
            for (int r = 0; r < batch.BatchSize; r++)
            {
                var (a, b) = Operands(task, batch.Inputs.AsSpan(r * task.SeqLen, task.SeqLen));
                Assert.False(task.IsHeldOut(a, b), $"training sampled held-out problem {a}+{b}");
                seen.Add((a, b));
                rows++;
            }
        }

        Assert.Equal(20000, rows);
        // 9,000 training problems, 20,000 draws: about 8,000 distinct expected.
        Assert.InRange(seen.Count, 7500, 8500);
    }

    [Fact]
    public void HeldOutSplitIsExactlyTenPercent()
    {
        // Proves the split sizes: exactly 1,000 of 10,000 (D=2) and 100,000 of 1,000,000 (D=3).
        var two = new AdditionTask(2);
        var three = new AdditionTask(3);
        Assert.Equal(1000, two.HeldOutCount);
        Assert.Equal(100_000, three.HeldOutCount);
        int count = 0;
        for (int a = 0; a < 100; a++)
        {
            for (int b = 0; b < 100; b++)
            {
                count += two.IsHeldOut(a, b) ? 1 : 0;
            }
        }

        Assert.Equal(1000, count);
        var distinct = two.HeldOut(1000).Select(p => p.Prompt).Distinct().Count();
        Assert.Equal(1000, distinct);
    }

    [Fact]
    public void HeldOutListIsDeterministicAndCorrect()
    {
        // Proves HeldOut(count) is a stable prefix of one fixed order and every answer is the reversed sum.
        var task = new AdditionTask();
        var all = task.HeldOut(1000);
        Assert.Equal(all.Take(10), task.HeldOut(10));
        foreach (var (prompt, answer) in all)
        {
            Assert.Matches("^[0-9]{2}\\+[0-9]{2}=$", prompt);
            int a = int.Parse(prompt[..2]), b = int.Parse(prompt[3..5]);
            Assert.True(task.IsHeldOut(a, b));
            Assert.True(AdditionTask.TryParseAnswer(answer, 2, out int sum));
            Assert.Equal(a + b, sum);
        }
    }

    [Fact]
    public void FormatAndAnswersFollowTheSpecification()
    {
        // Proves the text format: zero-padded operands, reversed D+1-digit answers, and the parser.
        Assert.Equal("05+37=", AdditionTask.FormatPrompt(5, 37, 2));
        Assert.Equal("240", AdditionTask.ExpectedAnswer(5, 37, 2));
        Assert.Equal("891", AdditionTask.ExpectedAnswer(99, 99, 2));
        Assert.Equal("000", AdditionTask.ExpectedAnswer(0, 0, 2));
        Assert.Equal("8991", AdditionTask.ExpectedAnswer(999, 999, 3));
        Assert.Equal("007+020=", AdditionTask.FormatPrompt(7, 20, 3));
        Assert.True(AdditionTask.TryParseAnswer("240", 2, out int s));
        Assert.Equal(42, s);
        Assert.False(AdditionTask.TryParseAnswer("24", 2, out _));
        Assert.False(AdditionTask.TryParseAnswer("2400", 2, out _));
        Assert.False(AdditionTask.TryParseAnswer("2+0", 2, out _));
        var task = new AdditionTask();
        Assert.True(task.TryParseAnswer([2, 4, 0], out s));
        Assert.Equal(42, s);
        Assert.False(task.TryParseAnswer([2, 4, AdditionTask.EqualsToken], out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => AdditionTask.ExpectedAnswer(100, 0, 2));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void SequencesHaveTargetsOnlyAtAnswerPositions(int digits)
    {
        // Proves the training layout: inputs = sequence minus last token, targets = next token at the
        // D+1 answer positions and -1 elsewhere, and the targets spell the reversed sum.
        var task = new AdditionTask(digits);
        Assert.Equal(3 * digits + 2, task.SeqLen);
        Assert.Equal(12, task.VocabSize);
        var batch = task.TrainBatch(Key, 50);
        int t = task.SeqLen;
        for (int r = 0; r < batch.BatchSize; r++)
        {
            var inputs = batch.Inputs.AsSpan(r * t, t);
            var targets = batch.Targets.AsSpan(r * t, t);
            var (a, b) = Operands(task, inputs);
            string answer = AdditionTask.ExpectedAnswer(a, b, digits);
            for (int i = 0; i < t; i++)
            {
                if (i < 2 * digits + 1)
                {
                    Assert.Equal(-1, targets[i]);
                }
                else
                {
                    Assert.Equal(answer[i - (2 * digits + 1)] - '0', targets[i]);
                }

                if (i + 1 < t)
                {
                    // The next input is the current target wherever a target exists.
                    if (targets[i] >= 0)
                    {
                        Assert.Equal(targets[i], inputs[i + 1]);
                    }
                }
            }
        }

        Assert.Equal(50 * (digits + 1), batch.CountTargets());
    }

    [Fact]
    public void ValidationBatchesAreTheHeldOutProblemsInOrder()
    {
        // Proves validation batches walk the held-out list in order and count only full batches.
        var task = new AdditionTask();
        Assert.Equal(15, task.ValidationBatchCount(64));
        var held = task.HeldOut(1000);
        var batch = task.ValidationBatch(1, 64);
        for (int r = 0; r < 64; r++)
        {
            string text = task.Decode(batch.Inputs.AsSpan(r * task.SeqLen, task.SeqLen));
            var (prompt, answer) = held[64 + r];
            Assert.Equal(prompt + answer[..^1], text);
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => task.ValidationBatch(15, 64));
    }

    [Fact]
    public void EncodeDecodeRoundTripAndRejectForeignCharacters()
    {
        // Proves the 12-token vocabulary and clear errors for anything outside it.
        var task = new AdditionTask();
        Assert.Equal("05+37=240", task.Decode(task.Encode("05+37=240")));
        var e = Assert.Throws<ArgumentException>(() => task.Encode("1-2"));
        Assert.Contains("'-'", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => task.Decode([12]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdditionTask(4));
        Assert.Throws<ArgumentOutOfRangeException>(() => task.TrainBatch(Key, 0));
    }

    private static (int A, int B) Operands(AdditionTask task, ReadOnlySpan<int> inputs)
    {
        int d = task.Digits, a = 0, b = 0;
        for (int i = 0; i < d; i++)
        {
            a = a * 10 + inputs[i];
            b = b * 10 + inputs[d + 1 + i];
        }

        Assert.Equal(AdditionTask.PlusToken, inputs[d]);
        Assert.Equal(AdditionTask.EqualsToken, inputs[2 * d + 1]);
        return (a, b);
    }
}
