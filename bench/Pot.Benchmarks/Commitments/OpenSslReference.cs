using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Pot.Benchmarks.Commitments;

/// <summary>
/// Measures the reference SHA-256 throughput with <c>openssl speed -evp sha256 -bytes 4096 -seconds 1</c>
/// (single core), so Merkle throughput can be reported as a ratio to it from the same run.
/// </summary>
public static partial class OpenSslReference
{
    /// <summary>Runs openssl and returns its SHA-256 throughput for 4096-byte inputs in GB/s, or null if openssl is unavailable.</summary>
    /// <param name="elapsed">
    /// Measure wall-clock time (<c>-elapsed</c>) instead of openssl's default CPU time. On a loaded
    /// machine only the wall-clock figure is comparable with BenchmarkDotNet's wall-clock means.
    /// </param>
    public static double? MeasureSha256GigabytesPerSecond(bool elapsed = false)
    {
        try
        {
            var start = new ProcessStartInfo("openssl", (elapsed ? "speed -elapsed" : "speed") + " -evp sha256 -bytes 4096 -seconds 1")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using Process process = Process.Start(start)!;
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            // The result line reads "sha256  1603810.59k": thousands of bytes per second.
            Match match = ResultLine().Match(output);
            return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) * 1000 / 1e9 : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>Prints the reference line that the docs quote.</summary>
    public static void Report()
    {
        double? cpuTime = MeasureSha256GigabytesPerSecond();
        double? wallClock = MeasureSha256GigabytesPerSecond(elapsed: true);
        Console.WriteLine(cpuTime is double gbps && wallClock is double wall
            ? $"// openssl speed -evp sha256 -bytes 4096 (1 core): {gbps:F3} GB/s of CPU time, {wall:F3} GB/s wall-clock (-elapsed)"
            : "// openssl not found: no SHA-256 reference measured");
    }

    [GeneratedRegex(@"^sha256\s+([0-9.]+)k", RegexOptions.Multiline)]
    private static partial Regex ResultLine();
}
