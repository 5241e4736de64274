using System.Diagnostics;

namespace DistTrain.Cli;

/// <summary>
/// The copies of a user's program that `disttrain launch` starts on this host: each with its launch variables, its
/// output passed through line by line behind its local rank ("[0] ..."), and stopped by PID (SIGTERM, then SIGKILL
/// after a grace) when the launch stops or gives up on them.
/// </summary>
public sealed class LaunchedRanks : IDisposable
{
    private readonly List<Process> _processes = [];

    /// <summary>Starts copy <paramref name="localRank"/> of the program with <paramref name="environment"/> added to this process's.</summary>
    public void Start(int localRank, string program, IReadOnlyList<string> args, IReadOnlyDictionary<string, string> environment)
    {
        var psi = new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        // The ring's transport settings (RingProcessEnvironment) are process-wide, read at start-up: the copies get them too.
        foreach (var (key, value) in Collectives.Grpc.RingProcessEnvironment.Variables)
            if (Environment.GetEnvironmentVariable(key) is null) psi.Environment[key] = value;
        foreach (var (key, value) in environment) psi.Environment[key] = value;
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {program}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"could not start {program}: {e.Message}");
        }
        _processes.Add(process);
        string prefix = $"[{localRank}] ";
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) Console.Out.WriteLine(prefix + e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine(prefix + e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
    }

    public IReadOnlyList<int> ProcessIds => _processes.Select(p => p.Id).ToList();

    /// <summary>Every copy has exited.</summary>
    public bool AllExited => _processes.All(p => p.HasExited);

    /// <summary>Some copy has exited (with any code).</summary>
    public bool AnyExited => _processes.Any(p => p.HasExited);

    /// <summary>Each copy's exit code, once all have exited; their last output lines are passed through first, within a bound
    /// (a grandchild that kept the output open does not hold the launch).</summary>
    public int[] ExitCodes()
    {
        foreach (var p in _processes) p.WaitForExit(TimeSpan.FromSeconds(5));
        return [.. _processes.Select(p => p.ExitCode)];
    }

    /// <summary>SIGTERM to every running copy, then SIGKILL to any still running after <paramref name="grace"/>.</summary>
    public void Stop(TimeSpan grace)
    {
        var running = _processes.Where(p => !p.HasExited).ToList();
        foreach (var p in running) ProcessSignals.Send(p.Id, ProcessSignals.SIGTERM);
        var deadline = DateTime.UtcNow + grace;
        foreach (var p in running)
        {
            var left = deadline - DateTime.UtcNow;
            if (!p.WaitForExit(left > TimeSpan.Zero ? left : TimeSpan.Zero))
                try
                {
                    p.Kill(entireProcessTree: true);
                    p.WaitForExit(5000);
                }
                catch (InvalidOperationException)
                {
                    // Gone between the wait and the kill.
                }
        }
    }

    public void Dispose()
    {
        Stop(TimeSpan.FromSeconds(5));
        foreach (var p in _processes) p.Dispose();
    }
}
