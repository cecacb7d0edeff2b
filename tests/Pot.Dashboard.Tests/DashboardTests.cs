using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Playwright;
using Pot.Node;
using Xunit.Abstractions;

namespace Pot.Dashboard.Tests;

/// <summary>
/// The dashboard against a real four-validator network (<see cref="DashboardNetwork"/>): its JSON routes,
/// its event stream, and the page itself in headless Debian chromium driven by Playwright.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class DashboardTests(DashboardNetwork net, ITestOutputHelper output) : IClassFixture<DashboardNetwork>
{
    /// <summary>Chromium binary: $POT_CHROMIUM, else Debian's /usr/bin/chromium (apt package "chromium"; .ci/run installs it).</summary>
    internal static string ChromiumPath() => Environment.GetEnvironmentVariable("POT_CHROMIUM") is { Length: > 0 } p ? p : "/usr/bin/chromium";

    internal static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pot.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Pot.slnx not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public async Task Browser_ShowsLiveHeadValidatorsLossCurveAndTheSlashedMiner()
    {
        await using var browser = await DashboardBrowser.StartAsync(30_000);
        var page = browser.Page;

        var response = await page.GotoAsync(net.ApiUrl(0) + "/");
        Assert.Equal(200, response!.Status);
        Assert.Equal("PoT node dashboard", await page.TitleAsync());

        // Head, then live growth through the event stream.
        await page.WaitForFunctionAsync("() => Number(document.getElementById('head-height').textContent) > 0");
        ulong before = ulong.Parse(await page.InnerTextAsync("#head-height"));
        await page.WaitForFunctionAsync("() => document.getElementById('sse-status').textContent === 'live'");
        for (int i = 0; i < 3; i++) await net.PumpAsync();
        await page.WaitForFunctionAsync($"() => Number(document.getElementById('head-height').textContent) >= {before + 3}");
        ulong after = ulong.Parse(await page.InnerTextAsync("#head-height"));
        Assert.True(after > before, $"height did not increase: {before} → {after}");
        Assert.True(await page.Locator("#blocks tbody tr").CountAsync() >= 3);
        StringAssert(await page.InnerTextAsync("#finality"), "certificate with");

        // Validators: four rows, this node, the peers probed reachable.
        await page.WaitForFunctionAsync("() => document.querySelectorAll('#validators tbody tr').length === 4");
        await page.WaitForFunctionAsync("() => [...document.querySelectorAll('#validators tbody td.ok')].filter(td => td.textContent.startsWith('yes')).length === 4", null,
            new PageWaitForFunctionOptions { Timeout = 20_000 });
        StringAssert(await page.InnerTextAsync("#validators"), "this node");

        // Miner with its stake and its slash; the slashes table names it with the fraud-proof evidence.
        await page.WaitForFunctionAsync("a => [...document.querySelectorAll('#participants td')].some(td => td.title === a)", net.MinerAddress);
        string slashes = await page.InnerTextAsync("#slashes tbody");
        Assert.Contains("fraud proof", slashes);
        Assert.Equal(net.MinerAddress, await page.GetAttributeAsync("#slashes tbody td.bad", "title"));
        StringAssert(await page.InnerTextAsync("#participants"), "Miner");
        StringAssert(await page.InnerTextAsync("#attestations"), "reject");

        // Loss curve from node 0's real round history: the one finalized round, with the loss the fixture
        // recorded, one point on the chart and one table row that shows the slash.
        var rounds = (JsonArray)await net.GetAsync(0, "/api/task/0/rounds");
        var round = Assert.Single(rounds)!;
        Assert.Equal(DashboardNetwork.RecordedLoss.Loss, (double)round["validationLoss"]!);
        Assert.Equal(net.FinalizedAt, (ulong)round["height"]!);
        await page.WaitForFunctionAsync("() => document.querySelectorAll('#task-0 svg.chart circle.pt-loss').length === 1");
        string row = await page.InnerTextAsync("#task-0 table.rounds tbody tr");
        StringAssert(row, DashboardNetwork.RecordedLoss.Loss.ToString("F4", System.Globalization.CultureInfo.InvariantCulture));
        StringAssert(row, DashboardNetwork.RecordedLoss.Accuracy.ToString("F4", System.Globalization.CultureInfo.InvariantCulture));

        string dir = Path.Combine(RepositoryRoot(), "TestResults", "dashboard");
        Directory.CreateDirectory(dir);
        string shot = Path.Combine(dir, "dashboard.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });
        output.WriteLine("screenshot: " + shot);
        Assert.True(new FileInfo(shot).Length > 10_000);

        browser.AssertNoErrors();
        await page.CloseAsync();
    }

    private static void StringAssert(string text, string expected) => Assert.Contains(expected, text, StringComparison.Ordinal);

    [Fact]
    public async Task EventStream_SendsHelloThenOneEventPerCommittedBlock()
    {
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var response = await http.GetAsync(net.ApiUrl(2) + "/api/events", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        async Task<(string Event, JsonObject Data)> Next()
        {
            string? ev = null;
            while (true)
            {
                string line = await reader.ReadLineAsync(cts.Token) ?? throw new EndOfStreamException("stream ended");
                if (line.StartsWith("event: ", StringComparison.Ordinal)) ev = line["event: ".Length..];
                else if (line.StartsWith("data: ", StringComparison.Ordinal)) return (ev!, (JsonObject)JsonNode.Parse(line["data: ".Length..])!);
            }
        }
        var (helloEvent, hello) = await Next();
        Assert.Equal("hello", helloEvent);
        ulong start = (ulong)hello["height"]!;
        ulong committed = await net.PumpAsync();
        // Blocks arrive in height order, each with the fields of the documented format.
        ulong last = start;
        while (last < committed)
        {
            var (ev, data) = await Next();
            Assert.Equal("block", ev);
            ulong h = (ulong)data["height"]!;
            Assert.True(h > last, $"event height {h} after {last}");
            Assert.Equal(64, ((string)data["hash"]!).Length);
            Assert.True((int)data["txCount"]! >= 1);
            Assert.True((int)data["certificateSigners"]! >= 3);
            Assert.True((ulong)data["timeMs"]! > 0);
            last = h;
        }
        Assert.Equal(committed, last);
    }

    [Fact]
    public async Task EventStream_RefusesClientsBeyondItsBound_AndFreesTheSlotOnDisconnect()
    {
        var hub = new BlockEvents(maxClients: 1);
        using var firstGone = new CancellationTokenSource();
        var first = new DefaultHttpContext { RequestAborted = firstGone.Token };
        var firstBody = new MemoryStream();
        first.Response.Body = firstBody;
        Task serving = hub.ServeAsync(first, new JsonObject { ["type"] = "hello", ["height"] = 1 }, CancellationToken.None);
        while (hub.ClientCount == 0) await Task.Delay(10);

        var second = new DefaultHttpContext();
        second.Response.Body = new MemoryStream();
        await hub.ServeAsync(second, new JsonObject { ["type"] = "hello" }, CancellationToken.None);
        Assert.Equal(503, second.Response.StatusCode);
        Assert.Equal("5", second.Response.Headers.RetryAfter.ToString());

        hub.Publish(new JsonObject { ["type"] = "block", ["height"] = 2 });
        // The stream writes the event asynchronously; wait for it before the client goes away.
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < until && !System.Text.Encoding.UTF8.GetString(firstBody.ToArray()).Contains("event: block", StringComparison.Ordinal)) await Task.Delay(20);
        await firstGone.CancelAsync();
        await serving;
        Assert.Equal(0, hub.ClientCount);
        string text = System.Text.Encoding.UTF8.GetString(firstBody.ToArray());
        Assert.Contains("event: hello\ndata: {\"type\":\"hello\",\"height\":1}", text);
        Assert.Contains("event: block\ndata: {\"type\":\"block\",\"height\":2}", text);

        var third = new DefaultHttpContext { RequestAborted = new CancellationToken(canceled: true) };
        third.Response.Body = new MemoryStream();
        await hub.ServeAsync(third, new JsonObject { ["type"] = "hello" }, CancellationToken.None);
        Assert.NotEqual(503, third.Response.StatusCode);
        Assert.Throws<ArgumentOutOfRangeException>(() => new BlockEvents(maxClients: 0));
    }

    [Fact]
    public async Task ActivityRoute_ReportsTheSlashWithItsEvidence_AndRejectsBadParameters()
    {
        var a = (JsonObject)await net.GetAsync(0, "/api/activity?blocks=1024");
        var fin = Assert.Single((JsonArray)a["finalizations"]!, f => (ulong)f!["height"]! == net.FinalizedAt);
        var slash = Assert.Single((JsonArray)fin!["slashes"]!);
        Assert.Equal(net.MinerAddress, (string)slash!["offender"]!);
        Assert.True((ulong)slash["amount"]! > 0);
        Assert.Single((JsonArray)fin["rejected"]!);
        var proof = Assert.Single((JsonArray)a["fraudProofs"]!);
        Assert.Equal((string)fin["rejected"]![0]!, (string)proof!["submissionId"]!);
        var reject = Assert.Single((JsonArray)a["attestations"]!);
        Assert.False((bool)reject!["accept"]!);
        var record = Assert.Single((JsonArray)a["slashRecords"]!);
        Assert.Equal(net.MinerAddress, (string)record!["address"]!);

        foreach (string bad in new[] { "0", "1025", "-1", "abc", "1e3" })
        {
            using var r = await net.Http.GetAsync(net.ApiUrl(0) + "/api/activity?blocks=" + bad);
            Assert.Equal(400, (int)r.StatusCode);
            Assert.Contains("must be an integer from 1 to 1024", await r.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task ParticipantsTasksAndValidators_DescribeTheChain()
    {
        var p = (JsonObject)await net.GetAsync(1, "/api/participants");
        var miner = ((JsonArray)p["participants"]!).Single(x => (string)x!["address"]! == net.MinerAddress)!;
        Assert.Equal("Miner", (string)miner["roles"]!);
        Assert.True((ulong)miner["stake"]! < 1_000_000, "the slash cut the stake");
        Assert.Equal(1UL, (ulong)miner["slashed"]!["count"]!);
        var verifier = ((JsonArray)p["participants"]!).Single(x => (string)x!["roles"]! == "Verifier")!;
        Assert.Null(verifier["slashed"]);

        var t = (JsonObject)await net.GetAsync(1, "/api/tasks");
        var task = Assert.Single((JsonArray)t["tasks"]!);
        Assert.Equal(0UL, (ulong)task!["id"]!);
        Assert.Equal(1UL, (ulong)task["round"]!["round"]!);
        Assert.False((bool)task["roundsAvailable"]!); // node 1 records no round history (only node 0 has one)
        var t0 = (JsonObject)await net.GetAsync(0, "/api/tasks");
        Assert.True((bool)((JsonArray)t0["tasks"]!)[0]!["roundsAvailable"]!);
        using (var missing = await net.Http.GetAsync(net.ApiUrl(1) + "/api/task/0/rounds"))
            Assert.Equal(404, (int)missing.StatusCode);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        JsonObject v;
        while (true)
        {
            v = (JsonObject)await net.GetAsync(1, "/api/validators");
            var list = (JsonArray)v["validators"]!;
            if (list.Count(x => (bool?)x!["reachable"] == true) == 4 || DateTime.UtcNow > deadline) break;
            await Task.Delay(300);
        }
        var validators = (JsonArray)v["validators"]!;
        Assert.Equal(4, validators.Count);
        // Consensus ids are positions in the ascending address order, not the layout's index.
        int self = validators.Select(x => (string)x!["address"]!).ToList().IndexOf(net.Nodes[1].Address);
        Assert.Equal(self, (int)v["self"]!);
        Assert.Single(validators, x => (bool)x!["self"]!);
        Assert.True((bool)validators[self]!["self"]!);
        Assert.All(validators, x => Assert.True((bool?)x!["reachable"] == true, x!.ToJsonString()));
        Assert.True(validators.Count(x => x!["lastSignedHeight"] is not null) >= 3, "a quorum signs every certificate");
        Assert.Single(validators, x => (bool)x!["primary"]!);
    }

    [Fact]
    public async Task Assets_AreServedFromTheAssembly_AndUnknownOnesAre404()
    {
        foreach (var (path, type) in new[] { ("/", "text/html"), ("/dashboard", "text/html"), ("/dashboard/app.js", "text/javascript"), ("/dashboard/app.css", "text/css") })
        {
            using var r = await net.Http.GetAsync(net.ApiUrl(3) + path);
            Assert.Equal(200, (int)r.StatusCode);
            Assert.Equal(type, r.Content.Headers.ContentType?.MediaType);
            Assert.Contains("default-src 'self'", r.Headers.GetValues("Content-Security-Policy").Single());
        }
        foreach (string path in new[] { "/dashboard/nope.js", "/dashboard/index.htm", "/dashboard/..%2fPot.Node.dll" })
        {
            using var r = await net.Http.GetAsync(net.ApiUrl(3) + path);
            Assert.Equal(404, (int)r.StatusCode);
        }
        // The page is not on the peer port.
        using var p2p = new HttpClient { DefaultRequestVersion = System.Net.HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var onPeer = await p2p.GetAsync(net.Nodes[3].P2pUrl + "/dashboard");
        Assert.Equal(404, (int)onPeer.StatusCode);
        Assert.Null(DashboardEndpoints.Asset("Pot.Node.dll"));
        Assert.NotNull(DashboardEndpoints.Asset("app.js"));
    }
}
