using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace DistTrain.Cli;

/// <summary>
/// The processes of a `disttrain local` run: this same program started again as a coordinator and as workers on
/// 127.0.0.1, each logging to a file in a temporary folder. Disposing ends every process it started, by PID: SIGTERM
/// first, then a kill of the process and its children after <see cref="StopGrace"/>, whether the run succeeded,
/// failed or was interrupted.
/// </summary>
public sealed class LocalCluster : IDisposable
{
    private readonly List<Process> _processes = [];
    private readonly Dictionary<int, System.Collections.Concurrent.BlockingCollection<string>> _lines = [];

    public LocalCluster()
    {
        LogDirectory = Directory.CreateTempSubdirectory("disttrain-local-").FullName;
        // Other commands of the user's (status, cancel, jobs) reach the run with --token-file; the folder is the user's alone.
        TokenFile = Path.Combine(LogDirectory, "token");
        File.WriteAllText(TokenFile, "");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(TokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(TokenFile, Token + "\n");
        // If this process exits without disposing (a signal's grace ran out), its children must not outlive it.
        AppDomain.CurrentDomain.ProcessExit += KillAll;
    }

    /// <summary>
    /// This run's cluster token, random per run: the children get it through their environment (never their command
    /// line, which `ps` shows to every user), and this process's own calls carry it.
    /// </summary>
    public string Token { get; } = Protos.Security.ClusterToken.New();

    /// <summary>
    /// What the page's link carries to log a browser in (only its coordinator gets it, through its environment): the link
    /// is printed, and the token, which also gives gRPC access, never is.
    /// </summary>
    public string PageTicket { get; } = Protos.Security.ClusterToken.New();

    /// <summary>The run's token in a file readable by this user alone, for `--token-file`.</summary>
    public string TokenFile { get; }

    /// <summary>A channel to this run's coordinator, with the run's token.</summary>
    public Grpc.Net.Client.GrpcChannel Connect(string url) => Protos.CoordinatorChannel.Create(url, security: new Protos.Security.ClusterSecurity(Token));

    /// <summary>Where each process's output goes, named in failures.</summary>
    public string LogDirectory { get; }

    public IReadOnlyList<int> ProcessIds => Snapshot().Select(p => p.Id).ToList();

    /// <summary>A free TCP port on loopback (the kernel picks it; it is free again by the time the child binds it).</summary>
    public static int FreePort() => Coordinator.LoopbackPort.Free();

    /// <summary>
    /// Starts `disttrain coordinator` on a free loopback port, its job state beside the logs (apart from any long-running
    /// coordinator's), with <paramref name="extraArgs"/>; returns its URL once it answers (within a minute, or fails
    /// naming its log).
    /// </summary>
    public async Task<string> StartCoordinatorAsync(IEnumerable<string> extraArgs, CancellationToken ct)
    {
        string url = $"http://127.0.0.1:{FreePort()}";
        Start("coordinator", false, new Dictionary<string, string> { [Coordinator.Web.WebSession.TicketVariable] = PageTicket },
            ["coordinator", "--bind", "127.0.0.1", "--port", new Uri(url).Port.ToString(), "--state-dir", Path.Combine(LogDirectory, "state"), .. extraArgs]);
        using var channel = Connect(url);
        var jobs = new Protos.Jobs.JobsClient(channel);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                await jobs.ListAsync(new Protos.ListJobsRequest(), deadline: DateTime.UtcNow.AddSeconds(2), cancellationToken: ct);
                return url;
            }
            catch (Grpc.Core.RpcException) when (DateTime.UtcNow < deadline && Exited() is null)
            {
                await Task.Delay(100, ct);
            }
            catch (Grpc.Core.RpcException)
            {
                throw new InvalidOperationException($"the coordinator did not start; see {LogDirectory}/coordinator.log");
            }
        }
    }

    /// <summary>Starts `disttrain ARGS` as a child, its output in LogDirectory/NAME.log; <paramref name="keepStdin"/> leaves its input open.</summary>
    public Process Start(string name, params string[] args) => Start(name, false, args);

    public Process Start(string name, bool keepStdin, params string[] args) => Start(name, keepStdin, null, args);

    private Process Start(string name, bool keepStdin, IReadOnlyDictionary<string, string>? env, string[] args)
    {
        string host = Environment.ProcessPath ?? "dotnet";
        var psi = Path.GetFileNameWithoutExtension(host) == "dotnet"
            ? new ProcessStartInfo(host, ["exec", typeof(LocalCluster).Assembly.Location, .. args])
            : new ProcessStartInfo(host, args);
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.RedirectStandardInput = true;
        foreach (var (key, value) in DistTrain.Collectives.Grpc.RingProcessEnvironment.Variables)
            if (Environment.GetEnvironmentVariable(key) is null) psi.Environment[key] = value;
        psi.Environment[Protos.Security.ClusterToken.Variable] = Token;
        foreach (var (key, value) in env ?? new Dictionary<string, string>()) psi.Environment[key] = value;
        var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {name}");
        lock (_processes) _processes.Add(process);
        var log = new StreamWriter(Path.Combine(LogDirectory, name + ".log")) { AutoFlush = true };
        var lines = _lines[process.Id] = new System.Collections.Concurrent.BlockingCollection<string>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (log) log.WriteLine(e.Data);
            lines.Add(e.Data);
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!keepStdin) process.StandardInput.Close();
        return process;
    }

    /// <summary>
    /// For children that print "ready", then wait for "go" and finally print "seconds X": waits until every child is
    /// ready, tells them all to go, and returns each one's X. Fails naming the child that exits or stalls.
    /// </summary>
    public double[] Collect(IReadOnlyList<Process> children, TimeSpan timeout)
    {
        var lines = children.Select(c => _lines[c.Id]).ToArray();
        string Next(int i, string prefix)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (DateTime.UtcNow < deadline)
            {
                if (lines[i].TryTake(out var line, 200) && line.StartsWith(prefix, StringComparison.Ordinal)) return line;
                if (children[i].HasExited && lines[i].Count == 0)
                    throw new InvalidOperationException($"child {i} exited with code {children[i].ExitCode}; see {LogDirectory}");
            }
            throw new InvalidOperationException($"child {i} did not print '{prefix}' within {timeout.TotalSeconds:0} s; see {LogDirectory}");
        }
        for (int i = 0; i < children.Count; i++) Next(i, "ready");
        foreach (var c in children) c.StandardInput.WriteLine("go");
        return Enumerable.Range(0, children.Count)
            .Select(i => double.Parse(Next(i, "seconds ")["seconds ".Length..], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>A child that has already exited, with its exit code, if any.</summary>
    public (Process Process, int ExitCode)? Exited() =>
        Snapshot().Where(p => p.HasExited && p.ExitCode != 0).Select(p => ((Process, int)?)(p, p.ExitCode)).FirstOrDefault();

    /// <summary>
    /// Gives <paramref name="children"/> up to <paramref name="timeout"/> to exit on their own (workers leave once their
    /// job has ended); whatever is still running is killed by <see cref="Dispose"/>.
    /// </summary>
    public static void WaitForExit(IEnumerable<Process> children, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        foreach (var p in children)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !p.WaitForExit(left)) return;
        }
    }

    /// <summary>How long children get to stop after SIGTERM (workers leave, the coordinator stops its silo) before they are killed.</summary>
    public static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);

    private void KillAll(object? sender, EventArgs e)
    {
        foreach (var p in Snapshot())
            try
            {
                if (!p.HasExited) p.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
    }

    private List<Process> Snapshot()
    {
        lock (_processes) return [.. _processes];
    }

    /// <summary>
    /// Stops the children: SIGTERM to all but the first (the workers, which leave their coordinator), then to the first
    /// (the coordinator), each group given part of <see cref="StopGrace"/>; whatever is still running then is killed.
    /// </summary>
    public void Dispose()
    {
        var all = Snapshot();
        var start = DateTime.UtcNow;
        Terminate(all.Skip(1), start + StopGrace * 0.6);
        Terminate(all.Take(1), start + StopGrace);
        foreach (var p in all)
        {
            try
            {
                if (!p.HasExited) p.Kill(entireProcessTree: true);
                p.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
                // Already gone between the check and the kill.
            }
            p.Dispose();
        }
        AppDomain.CurrentDomain.ProcessExit -= KillAll;
    }

    // SIGTERM to each running process of the group, then wait for them until the deadline.
    private static void Terminate(IEnumerable<Process> group, DateTime deadline)
    {
        var running = group.Where(p => !p.HasExited).ToList();
        foreach (var p in running) ProcessSignals.Send(p.Id, ProcessSignals.SIGTERM);
        foreach (var p in running) p.WaitForExit(deadline > DateTime.UtcNow ? deadline - DateTime.UtcNow : TimeSpan.Zero);
    }
}
