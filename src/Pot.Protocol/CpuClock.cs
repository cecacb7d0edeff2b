using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Pot.Protocol;

/// <summary>
/// Processor time of the calling thread (Linux <c>CLOCK_THREAD_CPUTIME_ID</c>; elsewhere wall time), so the
/// simulation can charge miners and verifiers for the work they do on a shared machine.
/// </summary>
public readonly struct CpuClock
{
    private readonly double _start;

    private CpuClock(double start) => _start = start;

    /// <summary>Starts measuring.</summary>
    /// <returns>The clock.</returns>
    public static CpuClock Start() => new(Now());

    /// <summary>Seconds of thread processor time since <see cref="Start"/>.</summary>
    public double Seconds => Now() - _start;

    /// <summary>The thread's processor time in seconds (wall time when the platform has no thread clock).</summary>
    /// <returns>Seconds.</returns>
    public static double Now()
    {
        if (OperatingSystem.IsLinux())
        {
            try
            {
                if (NativeMethods.clock_gettime(3, out var ts) == 0)
                {
                    return ts.Seconds + ts.Nanoseconds * 1e-9;
                }
            }
            catch (DllNotFoundException)
            {
            }
            catch (EntryPointNotFoundException)
            {
            }
        }
        return Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;
    }

    private static class NativeMethods
    {
        [StructLayout(LayoutKind.Sequential)]
        internal struct Timespec
        {
            public long Seconds;
            public long Nanoseconds;
        }

        [DllImport("libc", EntryPoint = "clock_gettime")]
        internal static extern int clock_gettime(int clockId, out Timespec ts);
    }
}
