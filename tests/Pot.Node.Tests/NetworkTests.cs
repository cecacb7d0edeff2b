using Pot.Commitments;

namespace Pot.Node.Tests;

public sealed class NetworkTests
{
    // Proves the composition end to end: four nodes over real HTTP/2 order a user's transactions with
    // PBFT, certify each block with 2f+1 block-commit signatures, and report the same head.
    [Fact]
    public async Task FourNodesFinalizeTransactionsAndAgreeOnTheHead()
    {
        await using var net = new TestNetwork(4);
        await net.StartAllAsync();
        using var alice = net.Key(0);
        using var bobKey = Pot.Commitments.Keys.Ed25519Keys.Generate();
        string bob = bobKey.Address;
        var ids = new List<string>();
        for (ulong nonce = 0; nonce < 5; nonce++)
        {
            var tx = TestNetwork.Transfer(alice, nonce, bob, 1000 + nonce);
            var result = await net.RpcAsync(0, "pot_sendTransaction", Hex.Encode(tx.Encode()));
            ids.Add((string)result!["id"]!);
        }
        Assert.True(await net.WaitForHeightAsync([0, 1, 2, 3], 1, TimeSpan.FromSeconds(30)), "no block was committed on every node within 30 s");
        // Wait until all five are committed everywhere.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            bool done = true;
            for (int i = 0; i < 4 && done; i++)
                foreach (var id in ids)
                    if ((string)(await net.GetAsync(i, "/api/tx/" + id))["status"]! != "committed") { done = false; break; }
            if (done) break;
            await Task.Delay(100);
        }
        ulong height = (ulong)(await net.GetAsync(0, "/api/head"))["height"]!;
        Assert.True(await net.WaitForHeightAsync([0, 1, 2, 3], height, TimeSpan.FromSeconds(10)));
        var hashes = new HashSet<string>();
        for (int i = 0; i < 4; i++)
        {
            foreach (var id in ids) Assert.Equal("committed", (string)(await net.GetAsync(i, "/api/tx/" + id))["status"]!);
            var block = await net.GetAsync(i, "/api/block/" + height);
            hashes.Add((string)block["header"]!["hash"]!);
            Assert.True(block["certificate"]!.AsArray().Count >= 3, "certificate has fewer than 2f+1 = 3 signers");
        }
        Assert.Single(hashes);
        var account = await net.GetAsync(2, "/api/account/" + bob);
        Assert.Equal(1000UL + 1001 + 1002 + 1003 + 1004, (ulong)account["balance"]!);
    }

    // Proves n = 1 finalizes: a lone validator is its own quorum (2f+1 = 1), so its pre-prepare is
    // prepared with zero prepares, commits with its own commit, and its own block signature certifies.
    // (Before the fix the replica waited for a prepare entry that never exists when 2f = 0.)
    [Fact]
    public async Task SingleValidatorNetworkFinalizes()
    {
        await using var net = new TestNetwork(1);
        await net.StartAllAsync();
        using var alice = net.Key(0);
        using var bob = Pot.Commitments.Keys.Ed25519Keys.Generate();
        for (ulong nonce = 0; nonce < 3; nonce++)
            await net.RpcAsync(0, "pot_sendTransaction", Hex.Encode(TestNetwork.Transfer(alice, nonce, bob.Address, 10).Encode()));
        ulong balance = 0;
        for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30); DateTime.UtcNow < deadline && balance != 30; await Task.Delay(100))
            balance = (ulong)(await net.GetAsync(0, "/api/account/" + bob.Address))["balance"]!;
        Assert.Equal(30UL, balance);
        var head = await net.GetAsync(0, "/api/head");
        Assert.True((ulong)head["height"]! >= 1);
        var block = await net.GetAsync(0, "/api/block/1");
        Assert.Single(block["certificate"]!.AsArray());
    }
}
