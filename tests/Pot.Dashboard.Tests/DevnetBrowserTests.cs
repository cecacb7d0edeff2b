using System.Diagnostics;
using System.Globalization;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Pot.Dashboard.Tests;

/// <summary>
/// The dashboard end to end against a real <c>pot devnet</c>: validator and miner <c>pot node</c> OS processes training the
/// tiny task through the protocol, one miner cheating, the page in headless Debian chromium driven by Playwright.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class DevnetBrowserTests(ITestOutputHelper output)
{
    // Proves the page served by a validator of a real devnet shows the chain and the training live: it loads without
    // console or page errors, the head height it shows grows, task 0's loss curve gets two points from rounds the
    // validators trained, evaluated and finalized, and the wrong-data miner (identified by the address the devnet
    // prints) is in the slashes table while the honest miner is not. Killing the devnet's process tree leaves no
    // node process behind.
    [Fact]
    public async Task Browser_AgainstARunningDevnet_ShowsGrowingHeadLossCurveAndTheSlashedCheater()
    {
        string chromium = DashboardTests.ChromiumPath();
        Assert.True(File.Exists(chromium), $"chromium not found at {chromium}: install it with `apt-get install chromium` (the .ci/run script does) or set POT_CHROMIUM");
        var clock = Stopwatch.StartNew();
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pot.dll"));
        // 40 rounds: far more than the test waits for, so the devnet keeps training while the page is watched.
        foreach (string a in new[] { "devnet", "--task", "tiny", "--validators", "4", "--miners", "2", "--cheaters", "wrong-data", "--inner-steps", "4",
            "--window-blocks", "20", "--block-interval-ms", "400", "--eval-batches", "2", "--rounds", "40", "--timeout-s", "400" })
            psi.ArgumentList.Add(a);
        using var devnet = Process.Start(psi)!;
        var lines = new List<string>();
        var stderr = new List<string>();
        devnet.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
        devnet.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.Add(e.Data); };
        devnet.BeginOutputReadLine();
        devnet.BeginErrorReadLine();
        string Transcript()
        {
            lock (lines) lock (stderr) return "stdout:\n" + string.Join("\n", lines) + "\nstderr:\n" + string.Join("\n", stderr);
        }
        string? directory = null;
        var descendants = new HashSet<int>();
        try
        {
            // The devnet prints its directory, each miner's strategy and address, then the dashboard URL once the nodes are up.
            string dashboard = await WaitForLineAsync(devnet, lines, "dashboard: ", TimeSpan.FromSeconds(180), Transcript);
            string url = dashboard["dashboard: ".Length..].Split(' ')[0];
            Assert.StartsWith("http://127.0.0.1:", url);
            string cheater = MinerAddress(lines, "wrong-data");
            string honest = MinerAddress(lines, "honest");
            output.WriteLine($"[{clock.Elapsed.TotalSeconds:F0} s] dashboard {url}; cheater {cheater}");

            await using var browser = await DashboardBrowser.StartAsync(60_000);
            var page = browser.Page;

            var response = await page.GotoAsync(url);
            Assert.Equal(200, response!.Status);
            Assert.Equal("PoT node dashboard", await page.TitleAsync());

            // The head grows live (an empty block every 400 ms at most).
            await page.WaitForFunctionAsync("() => Number(document.getElementById('head-height').textContent) > 0");
            ulong before = ulong.Parse(await page.InnerTextAsync("#head-height"), CultureInfo.InvariantCulture);
            await page.WaitForFunctionAsync("() => document.getElementById('sse-status').textContent === 'live'");
            await page.WaitForFunctionAsync($"() => Number(document.getElementById('head-height').textContent) >= {before + 3}");
            ulong after = ulong.Parse(await page.InnerTextAsync("#head-height"), CultureInfo.InvariantCulture);
            Assert.True(after > before, $"height did not increase: {before} → {after}");
            output.WriteLine($"[{clock.Elapsed.TotalSeconds:F0} s] head {before} → {after}");

            // Two finalized and evaluated rounds on task 0's curve, each with a row in its table.
            var slow = new PageWaitForFunctionOptions { Timeout = 240_000, PollingInterval = 500 };
            await page.WaitForFunctionAsync("() => document.querySelectorAll('#task-0 svg.chart circle.pt-loss').length >= 2", null, slow);
            Assert.True(await page.Locator("#task-0 table.rounds tbody tr").CountAsync() >= 2);
            output.WriteLine($"[{clock.Elapsed.TotalSeconds:F0} s] two rounds on the loss curve");

            // The cheater's slash: in the slashes panel (offender cell carries the full address) and in its participant row.
            await page.WaitForFunctionAsync("a => [...document.querySelectorAll('#slashes tbody td.bad')].some(td => td.title === a)", cheater, slow);
            var offenders = await page.Locator("#slashes tbody td.bad").EvaluateAllAsync<string[]>("tds => tds.map(td => td.title)");
            Assert.Contains(cheater, offenders);
            Assert.DoesNotContain(honest, offenders);
            Assert.Contains("reject", await page.InnerTextAsync("#attestations"), StringComparison.Ordinal);
            await page.WaitForFunctionAsync("a => [...document.querySelectorAll('#participants tr')].some(tr => [...tr.cells].some(td => td.title === a) && tr.querySelector('td.bad'))", cheater, slow);
            output.WriteLine($"[{clock.Elapsed.TotalSeconds:F0} s] cheater slashed on the page");

            string dir = Path.Combine(DashboardTests.RepositoryRoot(), "TestResults", "dashboard");
            Directory.CreateDirectory(dir);
            string shot = Path.Combine(dir, "devnet.png");
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });
            output.WriteLine("screenshot: " + shot);
            Assert.True(new FileInfo(shot).Length > 10_000);

            browser.AssertNoErrors();
            await page.CloseAsync();
            if (devnet.HasExited) Assert.Fail("the devnet stopped while the page was watched:\n" + Transcript());
        }
        finally
        {
            if (!devnet.HasExited) descendants.UnionWith(Descendants(devnet.Id));
            devnet.Kill(entireProcessTree: true);
            devnet.WaitForExit(30_000);
            lock (lines)
            {
                // "devnet: … ; directory /tmp/pot-devnet-…"
                if (lines.Count > 0 && lines[0].LastIndexOf("directory ", StringComparison.Ordinal) is int at and >= 0) directory = lines[0][(at + "directory ".Length)..];
            }
        }
        output.WriteLine($"[{clock.Elapsed.TotalSeconds:F0} s] devnet killed ({descendants.Count} descendant processes)");

        // Every node the devnet started was its descendant and is gone (or a zombie waiting to be reaped).
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        List<int> alive;
        while ((alive = Survivors(descendants, directory)).Count > 0 && DateTime.UtcNow < until) await Task.Delay(200);
        foreach (int pid in alive)
        {
            try
            {
                using var survivor = Process.GetProcessById(pid);
                survivor.Kill(); // clean up for the next tests, then fail
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
            }
        }
        Assert.True(alive.Count == 0, "processes survived the kill: " + string.Join(", ", alive));
        Assert.True(descendants.Count >= 6, $"expected the 6 node processes among the devnet's descendants, found {descendants.Count}");
        if (directory is not null)
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static List<int> Survivors(IEnumerable<int> descendants, string? directory) =>
        descendants.Where(Running).Concat(directory is null ? [] : NodesOf(directory)).Distinct().ToList();

    private static async Task<string> WaitForLineAsync(Process process, List<string> lines, string prefix, TimeSpan within, Func<string> transcript)
    {
        var until = DateTime.UtcNow + within;
        while (true)
        {
            lock (lines)
            {
                if (lines.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal)) is { } line) return line;
            }
            if (process.HasExited) Assert.Fail($"the devnet exited ({process.ExitCode}) before printing '{prefix}':\n{transcript()}");
            if (DateTime.UtcNow > until) Assert.Fail($"no '{prefix}' line within {within.TotalSeconds} s:\n{transcript()}");
            await Task.Delay(200);
        }
    }

    // "  miner 1 (wrong-data): pot1…"
    private static string MinerAddress(List<string> lines, string strategy)
    {
        lock (lines)
        {
            string line = Assert.Single(lines, l => l.StartsWith("  miner ", StringComparison.Ordinal) && l.Contains($"({strategy}): ", StringComparison.Ordinal));
            return line[(line.LastIndexOf(' ') + 1)..];
        }
    }

    // Linux: /proc/<pid>/stat is "pid (comm) state ppid …"; comm may contain spaces and parentheses.
    private static (char State, int Parent)? Stat(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            string[] rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (rest[0][0], int.Parse(rest[1], CultureInfo.InvariantCulture));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    private static IEnumerable<int> AllPids() =>
        Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Select(n => int.TryParse(n, out int pid) ? pid : 0).Where(pid => pid > 0);

    private static HashSet<int> Descendants(int root)
    {
        var parents = new Dictionary<int, int>();
        foreach (int pid in AllPids())
            if (Stat(pid) is { } s) parents[pid] = s.Parent;
        var found = new HashSet<int>();
        bool grew = true;
        while (grew)
        {
            grew = false;
            foreach (var (pid, parent) in parents)
                if ((parent == root || found.Contains(parent)) && found.Add(pid)) grew = true;
        }
        return found;
    }

    private static bool Running(int pid) => Stat(pid) is { } s && s.State != 'Z' && s.State != 'X';

    // Any live process whose command line names the devnet's directory (every `pot node --config DIR/…`).
    private static IEnumerable<int> NodesOf(string directory) => AllPids().Where(pid =>
    {
        try
        {
            return Running(pid) && File.ReadAllText($"/proc/{pid}/cmdline").Contains(directory, StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    });
}

/// <summary>The browser tests start chromium and node networks: they run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class BrowserCollection
{
    public const string Name = "Browser and nodes";
}
