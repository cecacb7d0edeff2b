using Microsoft.Playwright;

namespace Pot.Dashboard.Tests;

/// <summary>
/// Headless Debian chromium driven by Playwright, one page of 1400 × 1800, collecting the page's console errors and
/// uncaught exceptions (a dashboard test asserts there are none).
/// </summary>
internal sealed class DashboardBrowser : IAsyncDisposable
{
    private readonly IPlaywright _playwright;
    private readonly IBrowser _browser;
    private readonly List<string> _errors = [];

    private DashboardBrowser(IPlaywright playwright, IBrowser browser, IPage page)
    {
        _playwright = playwright;
        _browser = browser;
        Page = page;
        page.Console += (_, m) =>
        {
            if (m.Type == "error") lock (_errors) _errors.Add("console: " + m.Text);
        };
        page.PageError += (_, e) =>
        {
            lock (_errors) _errors.Add("page error: " + e);
        };
    }

    /// <summary>The page.</summary>
    public IPage Page { get; }

    /// <summary>Console errors and page errors so far.</summary>
    public IReadOnlyList<string> Errors
    {
        get
        {
            lock (_errors) return _errors.ToArray();
        }
    }

    /// <summary>Starts chromium (<see cref="DashboardTests.ChromiumPath"/>) and opens a page with the given default timeout.</summary>
    /// <param name="timeoutMs">Default timeout of the page's waits.</param>
    /// <returns>The browser.</returns>
    public static async Task<DashboardBrowser> StartAsync(float timeoutMs)
    {
        string chromium = DashboardTests.ChromiumPath();
        Assert.True(File.Exists(chromium), $"chromium not found at {chromium}: install it with `apt-get install chromium` (the .ci/run script does) or set POT_CHROMIUM");
        var playwright = await Playwright.CreateAsync();
        try
        {
            var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = chromium, Headless = true, Args = ["--no-sandbox"] });
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1800 } });
            page.SetDefaultTimeout(timeoutMs);
            return new DashboardBrowser(playwright, browser, page);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    /// <summary>Fails the test when the page logged an error or threw.</summary>
    public void AssertNoErrors()
    {
        var errors = Errors;
        Assert.True(errors.Count == 0, "browser errors:\n" + string.Join("\n", errors));
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
    }
}
