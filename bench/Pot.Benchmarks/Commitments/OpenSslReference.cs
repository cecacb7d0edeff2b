using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Pot.Benchmarks.Commitments;

/// <summary>One run of <c>openssl speed -seconds S -bytes 4096 -evp sha256</c> (single core).</summary>
/// <param name="Hashes">Number of 4096-byte SHA-256 digests computed.</param>
/// <param name="CpuSeconds">CPU time openssl reports for them (its default timing).</param>
/// <param name="WallSeconds">Wall-clock time of the loop (the requested <c>-seconds</c>; openssl stops on an alarm).</param>
public sealed record OpenSslSpeed(long Hashes, double CpuSeconds, double WallSeconds)
{
    /// <summary>Bytes per input.</summary>
    public const int BlockBytes = 4096;

    /// <summary>GB/s (10⁹ bytes) per CPU second: what <c>openssl speed</c> prints.</summary>
    public double CpuGigabytesPerSecond => Hashes * (double)BlockBytes / CpuSeconds / 1e9;

    /// <summary>GB/s per wall-clock second (what <c>openssl speed -elapsed</c> would print).</summary>
    public double WallGigabytesPerSecond => Hashes * (double)BlockBytes / WallSeconds / 1e9;

    /// <summary>Share of one core openssl got during the run (CPU time ÷ wall time).</summary>
    public double CoreShare => CpuSeconds / WallSeconds;
}

/// <summary>
/// Runs the system <c>openssl speed</c> for SHA-256 over 4096-byte inputs and parses its count and CPU
/// time, so the Merkle benchmarks can put openssl's figure next to theirs from the same run.
/// </summary>
public static partial class OpenSslReference
{
    private static readonly List<OpenSslSpeed> s_runs = [];

    /// <summary>Every successful measurement of this process, in order.</summary>
    public static IReadOnlyList<OpenSslSpeed> Runs
    {
        get
        {
            lock (s_runs)
            {
                return [.. s_runs];
            }
        }
    }

    /// <summary>Runs <c>openssl speed -seconds <paramref name="seconds"/> -bytes 4096 -evp sha256</c>.</summary>
    /// <param name="seconds">Duration of openssl's loop.</param>
    /// <returns>The measurement, or null if openssl is missing or its output was not understood.</returns>
    public static OpenSslSpeed? Measure(int seconds = 3)
    {
        string arguments = $"speed -seconds {seconds} -bytes {OpenSslSpeed.BlockBytes} -evp sha256";
        try
        {
            var start = new ProcessStartInfo("openssl", arguments)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using Process process = Process.Start(start)!;
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            process.WaitForExit();
            // openssl 3 writes "Doing sha256 for 3s on 4096 size blocks: 1163391 sha256's in 2.99s" to
            // stderr: the count, and the CPU (user) time it took; the loop itself ran for 'seconds'.
            Match match = DoingLine().Match(stderr.Result + stdout.Result);
            if (!match.Success)
            {
                Console.WriteLine($"// openssl {arguments}: output not understood");
                return null;
            }
            var speed = new OpenSslSpeed(
                long.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture),
                double.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture),
                int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture));
            lock (s_runs)
            {
                s_runs.Add(speed);
            }
            Console.WriteLine(
                $"// openssl {arguments}: {speed.Hashes} hashes in {speed.CpuSeconds:F2} s CPU / {speed.WallSeconds:F0} s wall = " +
                $"{speed.CpuGigabytesPerSecond:F3} GB/s per CPU-second, {speed.WallGigabytesPerSecond:F3} GB/s wall-clock (it got {speed.CoreShare:P0} of a core)");
            return speed;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Console.WriteLine("// openssl not found: no SHA-256 reference measured");
            return null;
        }
    }

    /// <summary>Median of this process's measurements, per CPU second or per wall-clock second; null if none.</summary>
    /// <param name="cpu">True for the CPU-time figure, false for the wall-clock figure.</param>
    /// <returns>GB/s.</returns>
    public static double? Median(bool cpu)
    {
        double[] values = Runs.Select(r => cpu ? r.CpuGigabytesPerSecond : r.WallGigabytesPerSecond).Order().ToArray();
        return values.Length == 0 ? null : values.Length % 2 == 1 ? values[values.Length / 2] : (values[values.Length / 2 - 1] + values[values.Length / 2]) / 2;
    }

    [GeneratedRegex(@"Doing sha256 for (\d+)s on 4096 size blocks: (\d+) sha256's in ([0-9.]+)s")]
    private static partial Regex DoingLine();
}
