using Pot.Node.Training;

namespace Pot.Node.Tests;

public sealed class BackgroundRoleTests
{
    // Proves: a timeout inside a role's work (TaskCanceledException, an OperationCanceledException that is not the
    // node's stop) is logged as a failure and the role keeps working on later ticks; only the node's own
    // cancellation ends the loop. (It used to end the loop silently: a validator stopped verifying mid-devnet.)
    [Fact]
    public async Task TimeoutsInsideTheWorkDoNotStopTheRole()
    {
        var lines = new List<string>();
        using var role = new FlakyRole(line => { lock (lines) lines.Add(line); });
        using var stop = new CancellationTokenSource();
        await role.StartAsync(new FakeNode(), stop.Token);
        for (int i = 0; i < 5; i++) await role.OnCommittedAsync(null!, stop.Token);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (Volatile.Read(ref role.Acts) < 3 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.True(Volatile.Read(ref role.Acts) >= 3, $"acts: {role.Acts}");
        Assert.True(role.Failures >= 1);
        lock (lines) Assert.Contains(lines, l => l.Contains("work failed (retried on the next block): TaskCanceledException", StringComparison.Ordinal));
        stop.Cancel();
    }

    private sealed class FlakyRole(Action<string> log) : BackgroundRole(log)
    {
        public int Acts;

        public override string Name => "flaky";

        protected override void Observe(CommittedBlock block)
        {
        }

        protected override void Act(ChainSnapshot head, CancellationToken cancellation)
        {
            if (Interlocked.Increment(ref Acts) == 1) throw new TaskCanceledException("an HTTP request timed out");
        }
    }

    private sealed class FakeNode : INodeApi
    {
        public IChunkService Chunks => throw new NotSupportedException();
        public string ChainId => "test";
        public bool IsValidator => true;
        public string? SubmitTransaction(byte[] transaction) => "not supported";
        public string? SubmitPayload(Pot.Commitments.Keys.Ed25519Keys key, Pot.Chain.Transactions.TransactionPayload payload, out byte[]? id)
        {
            id = null;
            return "not supported";
        }
        public bool HasPending(byte[] sender) => false;
        public ChainSnapshot Snapshot() => new(null!, null!, []);
    }
}
