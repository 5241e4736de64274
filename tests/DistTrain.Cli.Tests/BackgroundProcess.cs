using System.Collections.Concurrent;
using System.Diagnostics;

namespace DistTrain.Cli.Tests;

/// <summary>
/// A long-running child (disttrain, prometheus, redis-server) for multi-process tests: its output lines are kept, it
/// can be waited on with a bound, and disposing kills it by PID (with its children) if it is still running.
/// </summary>
internal sealed class BackgroundProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private BackgroundProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;
    public string Output => string.Join('\n', _lines);
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public static BackgroundProcess Start(string file, IEnumerable<string> args, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        p.StandardInput.Close();
        return new BackgroundProcess(p);
    }

    /// <summary>disttrain ARGS, run as the tests' CliProcess runs it.</summary>
    public static BackgroundProcess Disttrain(IEnumerable<string> args, IDictionary<string, string>? env = null)
    {
        string dotnet = Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";
        return Start(dotnet, ["exec", Path.Combine(AppContext.BaseDirectory, "disttrain.dll"), .. args], env);
    }

    /// <summary>Waits for an output line matching <paramref name="predicate"/>; fails the test with the output so far on timeout or exit.</summary>
    public string WaitForLine(Func<string, bool> predicate, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_lines.FirstOrDefault(predicate) is { } line) return line;
            if (_process.HasExited && _lines.FirstOrDefault(predicate) is null)
                Assert.Fail($"pid {Pid} exited ({_process.ExitCode}) before the expected line:\n{Output}");
            Thread.Sleep(100);
        }
        Assert.Fail($"pid {Pid} did not print the expected line within {timeout.TotalSeconds:0} s:\n{Output}");
        return "";
    }

    public void WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout)) Assert.Fail($"pid {Pid} did not exit within {timeout.TotalSeconds:0} s:\n{Output}");
        _process.WaitForExit();
    }

    /// <summary>Sends a real signal (e.g. SIGTERM) to the process.</summary>
    public void Signal(int signal) => Assert.True(ProcessSignals.Send(Pid, signal), $"pid {Pid} is gone");

    /// <summary>Waits up to <paramref name="timeout"/> for the process to exit by itself; its exit code, or a failure with its output.</summary>
    public int ExitsWithin(TimeSpan timeout)
    {
        WaitForExit(timeout);
        return _process.ExitCode;
    }

    public void Kill()
    {
        if (_process.HasExited) return;
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    /// <summary>The PIDs `disttrain local` reports starting ("... (pids 1, 2, 3) ...") in its output.</summary>
    public static int[] LocalPids(string output) =>
        System.Text.RegularExpressions.Regex.Match(output, @"pids ([0-9, ]+)\)").Groups[1].Value
            .Split(", ", StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();

    /// <summary>Fails naming any process `disttrain local` started (per its output) that is still running.</summary>
    public static void AssertAllGone(string output) =>
        Assert.All(LocalPids(output), pid => Assert.False(Alive(pid), $"process {pid} was left running"));

    /// <summary>Whether a process with this PID is still running.</summary>
    public static bool Alive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    public static int FreePort() => Coordinator.LoopbackPort.Free();

    /// <summary>The repository root (where DistTrain.sln is), for files such as deploy/prometheus/prometheus.yml.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "DistTrain.sln"))) return dir.FullName;
        throw new InvalidOperationException("the tests run outside the repository: DistTrain.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The full path of a program on PATH, or a failure that says what installs it.</summary>
    public static string Program(string name, string installedBy)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
            if (File.Exists(Path.Combine(dir, name))) return Path.Combine(dir, name);
        Assert.Fail($"{name} is not installed; {installedBy}");
        return "";
    }
}
