using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Pot.Learning.Tests;

/// <summary>Runs the real <c>pot</c> tool (the built pot.dll) as a child process.</summary>
internal static class ChildProcess
{
    public static string PotDll => Path.Combine(AppContext.BaseDirectory, "pot.dll");

    public static (int ExitCode, string StdOut, string StdErr) RunPot(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, int timeoutMs = 300_000)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(PotDll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeoutMs))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"pot {string.Join(' ', args)} did not finish in {timeoutMs} ms");
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    public static JsonObject LastJsonLine(string stdout)
    {
        var line = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
        return JsonNode.Parse(line)!.AsObject();
    }
}
