using System.Text.RegularExpressions;
using Pot.Commitments;
using Pot.Commitments.Keys;

namespace Pot.Node.Tests;

public sealed class ByzantineTests
{
    private static double MetricValue(string metrics, string name)
    {
        var m = Regex.Match(metrics, "^" + Regex.Escape(name) + " ([0-9.e+]+)$", RegexOptions.Multiline);
        return m.Success ? double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }

    // Proves PBFT safety and liveness against an equivocating validator behind the node's real
    // outbound path (config key Byzantine = "equivocate"): as the view-0 primary it sends conflicting
    // pre-prepares (two different valid blocks for one height) to different backups; as a backup it
    // sends conflicting prepare and commit digests. The three honest validators keep finalizing every
    // transfer, and at every height all four chain stores hold the same certified block.
    [Theory]
    [InlineData(0)] // the equivocator is the primary of view 0
    [InlineData(2)] // the equivocator is a backup
    public async Task HonestValidatorsFinalizeAndAgreeDespiteAnEquivocator(int byzantineNodeId)
    {
        await using var net = new TestNetwork(4);
        int byz = net.IndexOfNodeId(byzantineNodeId);
        net.SetConfig(byz, "Byzantine", "equivocate");
        await net.StartAllAsync();
        var honest = Enumerable.Range(0, 4).Where(i => i != byz).ToArray();
        int submitTo = honest[0];
        using var alice = net.Key(submitTo);
        using var bob = Ed25519Keys.Generate();
        ulong nonce = 0;
        for (int round = 0; round < 4; round++)
        {
            for (int i = 0; i < 3; i++, nonce++)
                await net.RpcAsync(submitTo, "pot_sendTransaction", Hex.Encode(TestNetwork.Transfer(alice, nonce, bob.Address, 10).Encode()));
            await Task.Delay(300);
        }
        ulong expected = 10 * nonce;
        foreach (int i in honest)
        {
            ulong balance = 0;
            for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60); DateTime.UtcNow < deadline && balance != expected; await Task.Delay(200))
                balance = (ulong)(await net.GetAsync(i, "/api/account/" + bob.Address))["balance"]!;
            if (balance != expected)
            {
                var states = new List<string>();
                for (int j = 0; j < 4; j++) states.Add((await net.GetAsync(j, "/api/status")).ToJsonString());
                Assert.Fail($"honest node {i} has balance {balance}, expected {expected}: the honest validators stopped finalizing; status: {string.Join(" ", states)}");
            }
        }
        ulong height = honest.Min(i => (ulong)net.GetAsync(i, "/api/head").Result["height"]!);
        Assert.True(height >= 1);
        // One certified block per height across every store, the equivocator's included.
        ulong byzHeight = (ulong)(await net.GetAsync(byz, "/api/head"))["height"]!;
        for (ulong h = 1; h <= height; h++)
        {
            var hashes = new HashSet<string>();
            foreach (int i in Enumerable.Range(0, 4))
            {
                if (i == byz && h > byzHeight) continue;
                var block = await net.GetAsync(i, "/api/block/" + h);
                hashes.Add((string)block["header"]!["hash"]!);
                Assert.True(block["certificate"]!.AsArray().Count >= 3);
            }
            Assert.True(hashes.Count == 1, $"height {h} has {hashes.Count} different certified blocks");
        }
        // The switch really equivocated, and honest nodes did not.
        string byzMetrics = await net.Http.GetStringAsync(net.Nodes[byz].ApiUrl + "/metrics");
        Assert.True(MetricValue(byzMetrics, "pot_byzantine_conflicting_messages_total") > 0, "the equivocator sent no conflicting message");
        foreach (int i in honest)
            Assert.Equal(0, MetricValue(await net.Http.GetStringAsync(net.Nodes[i].ApiUrl + "/metrics"), "pot_byzantine_conflicting_messages_total"));
    }
}
