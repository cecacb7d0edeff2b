using Pot.Commitments;

namespace Pot.Node.Tests;

public sealed class RestartTests
{
    // Proves restart from the RocksDB data dir and catch-up: a node stopped while the other three keep
    // committing comes back with its chain and PBFT log, fetches the certified blocks it missed, and
    // ends on the same head; blocks committed after its return reach it too.
    [Fact]
    public async Task StoppedNodeRestartsFromItsDataDirAndCatchesUp()
    {
        await using var net = new TestNetwork(4);
        await net.StartAllAsync();
        using var alice = net.Key(0);
        using var bobKey = Pot.Commitments.Keys.Ed25519Keys.Generate();
        ulong nonce = 0;
        async Task Send(int count)
        {
            for (int i = 0; i < count; i++, nonce++)
                await net.RpcAsync(0, "pot_sendTransaction", Hex.Encode(TestNetwork.Transfer(alice, nonce, bobKey.Address, 10).Encode()));
        }
        await Send(2);
        Assert.True(await net.WaitForHeightAsync([0, 1, 2, 3], 1, TimeSpan.FromSeconds(30)));
        ulong before = (ulong)(await net.GetAsync(3, "/api/head"))["height"]!;

        await net.StopAsync(3);
        for (int round = 0; round < 3; round++)
        {
            await Send(2);
            ulong h = (ulong)(await net.GetAsync(0, "/api/head"))["height"]!;
            Assert.True(await net.WaitForHeightAsync([0, 1, 2], h + 1, TimeSpan.FromSeconds(30)), "three of four validators stopped committing");
        }
        ulong target = (ulong)(await net.GetAsync(0, "/api/head"))["height"]!;
        Assert.True(target > before);

        await net.StartAsync(3);
        // It restarts at its persisted head, not from genesis.
        Assert.True((ulong)(await net.GetAsync(3, "/api/head"))["height"]! >= before);
        Assert.True(await net.WaitForHeightAsync([3], target, TimeSpan.FromSeconds(30)), "restarted node did not catch up");
        await Send(2);
        ulong last = target + 1;
        Assert.True(await net.WaitForHeightAsync([0, 1, 2, 3], last, TimeSpan.FromSeconds(30)), "network with the restarted node did not commit");
        var hashes = new HashSet<string>();
        for (int i = 0; i < 4; i++) hashes.Add((string)(await net.GetAsync(i, "/api/block/" + last))["header"]!["hash"]!);
        Assert.Single(hashes);
        // Every one of the 10 transfers of 10 reaches the restarted node's state.
        ulong balance = 0;
        for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20); DateTime.UtcNow < deadline && balance != 100; await Task.Delay(100))
            balance = (ulong)(await net.GetAsync(3, "/api/account/" + bobKey.Address))["balance"]!;
        Assert.Equal(100UL, balance);
    }

    // Proves liveness across a view change: with the view-0 primary stopped, the other three time it
    // out, move to a later view and keep committing the user's transactions.
    [Fact]
    public async Task StoppedPrimaryIsReplacedByAViewChange()
    {
        await using var net = new TestNetwork(4);
        await net.StartAllAsync();
        int primary = -1;
        for (int i = 0; i < 4; i++) if ((int)(await net.GetAsync(i, "/api/status"))["nodeId"]! == 0) primary = i;
        Assert.True(primary >= 0);
        await net.StopAsync(primary);
        int sender = (primary + 1) % 4;
        using var key = net.Key(sender);
        using var bob = Pot.Commitments.Keys.Ed25519Keys.Generate();
        await net.RpcAsync(sender, "pot_sendTransaction", Hex.Encode(TestNetwork.Transfer(key, 0, bob.Address, 3).Encode()));
        var live = Enumerable.Range(0, 4).Where(i => i != primary).ToArray();
        Assert.True(await net.WaitForHeightAsync(live, 1, TimeSpan.FromSeconds(40)), "no commit after the primary stopped");
        foreach (int i in live) Assert.True((long)(await net.GetAsync(i, "/api/status"))["view"]! >= 1);
    }
}
