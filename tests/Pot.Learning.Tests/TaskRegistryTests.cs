using Pot.Learning.Data;

namespace Pot.Learning.Tests;

public class TaskRegistryTests
{
    [Fact]
    public void KnownNamesCreateTheRightTasks()
    {
        // Proves every registered name creates a task of the right kind whose Name is that name.
        Assert.Equal("addition", Tasks.CreateToken("addition").Name);
        Assert.Equal(11, Tasks.CreateToken("addition3").SeqLen);
        Assert.Equal("kjv", Tasks.CreateToken("kjv").Name);
        Assert.Equal("fashion-mnist", Tasks.CreateImage("fashion-mnist").Name);
        Assert.IsType<AdditionTask>(Tasks.Create("addition"));
        Assert.IsType<FashionMnistTask>(Tasks.Create("fashion-mnist"));
        Assert.Equal(["addition", "addition3", "kjv", "fashion-mnist"], Tasks.Names);
    }

    [Fact]
    public void UnknownNamesListTheValidOnes()
    {
        // Proves an unknown or wrong-kind name fails with a message listing the valid names.
        var e = Assert.Throws<ArgumentException>(() => Tasks.Create("mnist"));
        Assert.Contains("unknown task 'mnist'", e.Message);
        Assert.Contains("addition, addition3, kjv, fashion-mnist", e.Message);
        var kind = Assert.Throws<ArgumentException>(() => Tasks.CreateToken("fashion-mnist"));
        Assert.Contains("another kind", kind.Message);
        Assert.False(Tasks.TryCreateImage("addition", out var none));
        Assert.Null(none);
    }

    [Fact]
    public void DataKeyDependsOnEveryComponentAndTheTask()
    {
        // Proves the documented key derivation and that task name, seed, round and miner all change the key.
        var key = new BatchKey(5, 6, 7, 8);
        ulong expected = Pot.Learning.Randomness.Philox.DeriveKey(
            Pot.Learning.Randomness.Philox.DeriveKey(Pot.Learning.Randomness.Philox.DeriveKey(5, "pot/data/addition"), 6UL), 7UL);
        Assert.Equal(expected, key.DataKey("addition"));
        var keys = new HashSet<ulong>
        {
            key.DataKey("addition"), key.DataKey("kjv"), (key with { Seed = 6 }).DataKey("addition"),
            (key with { Round = 7 }).DataKey("addition"), (key with { Miner = 8 }).DataKey("addition"),
        };
        Assert.Equal(5, keys.Count);
        Assert.Equal(key.DataKey("addition"), (key with { Step = 99 }).DataKey("addition")); // Step is the stream.
    }

    [Fact]
    public void BatchConstructorsValidateSizes()
    {
        // Proves batches refuse arrays that do not match their declared shape.
        Assert.Throws<ArgumentException>(() => new TokenBatch(2, 3, new int[6], new int[5]));
        Assert.Throws<ArgumentException>(() => new ImageBatch(2, 4, new float[8], new int[3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenBatch(0, 3, [], []));
    }
}
