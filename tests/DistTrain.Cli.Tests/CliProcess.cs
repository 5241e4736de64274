using System.Diagnostics;

namespace DistTrain.Cli.Tests;

/// <summary>Runs the real disttrain binary (or another program: dotnet itself) as a child process, bounded in time and
/// killed (by PID, whole tree) on timeout.</summary>
internal static class CliProcess
{
    private static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "disttrain.dll");

    /// <summary>The dotnet host's full path, so that a test may hand the child a PATH without dotnet (or npm) on it.</summary>
    public static string Dotnet => Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string LastLine => Stdout.TrimEnd().Split('\n')[^1];

        /// <summary>Both streams, for a failure message.</summary>
        public string Output => $"stdout:\n{Stdout}\nstderr:\n{Stderr}";
    }

    public static Result Run(string[] args, IDictionary<string, string>? env = null, int timeoutSeconds = 120) =>
        RunProgram(Dotnet, ["exec", Dll, .. args], env?.ToDictionary(e => e.Key, e => (string?)e.Value), TimeSpan.FromSeconds(timeoutSeconds),
            name: $"disttrain {string.Join(' ', args)}");

    /// <summary>
    /// Runs <paramref name="file"/> to its end, or fails the test once <paramref name="timeout"/> has passed, after
    /// killing it and its children, with what it printed so far.
    /// </summary>
    /// <param name="env">Variables to set, or to remove where the value is null.</param>
    /// <param name="name">How the failure names the command (default: the file and its arguments).</param>
    public static Result RunProgram(string file, IEnumerable<string> args, IDictionary<string, string?>? env, TimeSpan timeout,
        string? workingDirectory = null, string? name = null)
    {
        var psi = new ProcessStartInfo(file, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (var (k, v) in env ?? new Dictionary<string, string?>())
            if (v is null) psi.Environment.Remove(k);
            else psi.Environment[k] = v;
        name ??= $"{file} {string.Join(' ', psi.ArgumentList)}";
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            Task.WaitAll([stdout, stderr], TimeSpan.FromSeconds(10));
            string So(Task<string> t) => t.IsCompletedSuccessfully ? t.Result : "(still open)";
            Assert.Fail($"{name} did not finish within {timeout.TotalSeconds:0}s (killed pid {p.Id})\n{new Result(-1, So(stdout), So(stderr)).Output}");
        }
        p.WaitForExit();
        // Its output ends with it, unless a child it left running (a build server) holds the pipes open.
        if (!Task.WaitAll([stdout, stderr], TimeSpan.FromSeconds(30)))
            Assert.Fail($"{name} exited ({p.ExitCode}) but its output stayed open: a process it started still holds it");
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
