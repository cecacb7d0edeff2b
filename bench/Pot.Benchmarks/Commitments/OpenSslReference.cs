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
    public static double? MeasureSha256GigabytesPerSecond()
    {
        try
        {
            var start = new ProcessStartInfo("openssl", "speed -evp sha256 -bytes 4096 -seconds 1")
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
        double? reference = MeasureSha256GigabytesPerSecond();
        Console.WriteLine(reference is double gbps
            ? $"// openssl speed -evp sha256 -bytes 4096 (1 core): {gbps:F3} GB/s"
            : "// openssl not found: no SHA-256 reference measured");
    }

    [GeneratedRegex(@"^sha256\s+([0-9.]+)k", RegexOptions.Multiline)]
    private static partial Regex ResultLine();
}
