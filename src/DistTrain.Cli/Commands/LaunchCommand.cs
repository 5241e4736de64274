using System.CommandLine;
using System.Diagnostics;
using DistTrain.Cli.Output;
using DistTrain.Protos;
using DistTrain.Worker;

namespace DistTrain.Cli.Commands;

/// <summary>
/// `disttrain launch --workers N -- dotnet MyTrainer.dll [args]`: torchrun's role for a user's own program (one that
/// trains with DistTrain.Distributed's FitDistributed). It starts N copies of the program, tells each through its
/// environment where the coordinator is and which launch it belongs to (<see cref="LaunchEnvironment"/>), and passes
/// their output through. Without --coordinator it runs a coordinator of its own on loopback, with the live page;
/// across hosts, one launch per host names the same --coordinator and --launch-id, and --world-size counts every
/// host's copies. The job appears in jobs and status under --name (default: the program's name).
/// </summary>
public static class LaunchCommand
{
    public static Command Create()
    {
        var workers = CommonOptions.Positive("--workers", 2, "Copies of the program to start on this host", max: 256);
        var worldSize = new Option<int?>("--world-size") { Description = "Ranks in the whole run, over every host (default: --workers, one host)" };
        var coordinator = new Option<string?>("--coordinator")
        {
            Description = "A running coordinator to use (every host's launch names the same one); default: start one on loopback for this launch",
        };
        var launchId = new Option<string?>("--launch-id")
        {
            Description = "The run's id, the same on every host (required with --world-size above --workers); default: a new random id",
        };
        var name = new Option<string?>("--name") { Description = "The job's name in jobs, status and the page (default: the program's name)" };
        var threads = CommonOptions.Threads();
        var bind = new Option<string?>("--bind")
        {
            Description = "Address the copies serve their ends of the ring on (default: 127.0.0.1 when the coordinator is on loopback, else 0.0.0.0, which needs the cluster token)",
        };
        var rendezvous = CommonOptions.Positive("--rendezvous-timeout", 300,
            "Seconds the job may wait for every rank (on every host) to join before the launch gives up and cancels it");
        var json = CommonOptions.Json();
        var program = new Argument<string[]>("program") { Description = "The program and its arguments, after --", Arity = ArgumentArity.OneOrMore };
        var command = new Command("launch", "Run N copies of your own training program as one data-parallel job (like torchrun)")
            { workers, worldSize, coordinator, launchId, name, threads, bind, rendezvous, json, program };
        var security = new SecurityOptions(server: false);
        security.AddTo(command);
        command.SetAction(async (p, ct) =>
        {
            int local = p.GetValue(workers), world = p.GetValue(worldSize) ?? local;
            string? url = p.GetValue(coordinator), id = p.GetValue(launchId);
            if (world < local) throw new ArgumentException($"--world-size {world} is less than this host's --workers {local}");
            if (world > local && (url is null || id is null))
                throw new ArgumentException($"--world-size {world} spans hosts: every host's launch needs the same --coordinator URL and --launch-id");
            if (security.Read(p).Tls is not null)
                throw new ArgumentException("launch does not yet pass TLS settings to the copies of the program; use --token-file, or run `disttrain worker`s for a TLS cluster");
            var args = p.GetValue(program)!;
            string jobName = p.GetValue(name) ?? ProgramName(args);
            id ??= "launch-" + Guid.NewGuid().ToString("N")[..12];
            var clock = Stopwatch.StartNew();
            using var cluster = url is null ? new LocalCluster() : null;
            string? token = cluster?.Token ?? security.Read(p).Token;
            int? pagePort = null;
            if (cluster is not null)
            {
                pagePort = LocalCluster.FreePort();
                url = await cluster.StartCoordinatorAsync(["--metrics-bind", "127.0.0.1", "--metrics-port", pagePort.Value.ToString()], ct);
            }
            using var channel = cluster?.Connect(url!) ?? CoordinatorChannel.Create(url!, security: security.Read(p));
            var jobs = new Jobs.JobsClient(channel);
            string ringBind = p.GetValue(bind) ?? (CoordinatorChannel.Parse(url!).All(u => u.IsLoopback) ? "127.0.0.1" : "0.0.0.0");
            using var ranks = new LaunchedRanks();
            for (int r = 0; r < local; r++)
            {
                var environment = new LaunchEnvironment(url!, id, world, r, jobName, p.GetValue(threads), ringBind).Variables
                    .ToDictionary();
                if (token is not null) environment[Protos.Security.ClusterToken.Variable] = token;
                ranks.Start(r, args[0], args[1..], environment);
            }
            Terminal.Info($"launch {id}: {local} copies of {string.Join(' ', args)} (pids {string.Join(", ", ranks.ProcessIds)}), {world} ranks in all, coordinator {url}");
            if (pagePort is { } port)
                Terminal.Info($"page: http://127.0.0.1:{port}/login?next=%2F&ticket={Uri.EscapeDataString(cluster!.PageTicket)}");
            Job? job;
            try
            {
                job = await WatchAsync(ranks, jobs, id, cluster, TimeSpan.FromSeconds(p.GetValue(rendezvous)), ct);
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C or SIGTERM: the copies stop, and so does the job, which could not finish without them (the
                // other hosts' launches then end too, rather than wait for this one's ranks).
                // Within the few seconds a stopping command has (CliRunner): a bounded cancel, then the copies.
                using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await CancelAsync(jobs, await FindAsync(jobs, id, quick.Token, tolerant: true));
                ranks.Stop(TimeSpan.FromSeconds(3));
                throw;
            }
            var codes = ranks.ExitCodes();
            job = await FindAsync(jobs, id, ct, tolerant: true) ?? job;
            if (job is null)
            {
                Console.Error.WriteLine($"disttrain: launch {id}'s copies exited with codes {string.Join(", ", codes)} before any submitted its job");
                return 1;
            }
            if (job.Status is JobStatus.Pending or JobStatus.Running)
            {
                // Every copy here has gone: the job cannot finish without them (it would wait for them forever).
                await CancelAsync(jobs, job);
                Console.Error.WriteLine($"disttrain: launch {id}'s copies exited with codes {string.Join(", ", codes)} while {job.Id} was {job.Status.ToString().ToLowerInvariant()}; cancelled it");
                return 1;
            }
            int code = JobWatcher.Report(job, p.GetValue(json), clock.Elapsed.TotalSeconds);
            if (codes.Any(c => c != 0))
            {
                Console.Error.WriteLine($"disttrain: launch {id}: copies exited with codes {string.Join(", ", codes)}");
                code = 1;
            }
            return code;
        });
        return command;
    }

    /// <summary>How long the copies get to exit on their own once something went wrong, before they are stopped.</summary>
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(60);

    /// <summary>How long the copies get to exit once the job failed or was cancelled.</summary>
    private static readonly TimeSpan EndedGrace = TimeSpan.FromSeconds(15);

    // Follows the copies and the job until every copy has exited. It gives up (stops the copies and cancels the job)
    // when the job has not started within the rendezvous time (a host that never came), when the coordinator it
    // started has died, or a grace after a copy failed, a copy left before the job ended, or the job failed or was
    // cancelled. After the job completed the copies are left to finish their own work (saving, evaluating).
    private static async Task<Job?> WatchAsync(LaunchedRanks ranks, Jobs.JobsClient jobs, string id, LocalCluster? cluster, TimeSpan rendezvous,
        CancellationToken ct)
    {
        var started = Stopwatch.StartNew();
        Job? job = null;
        DateTime? giveUpAt = null;
        string? why = null;
        while (!ranks.AllExited)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
            job = await FindAsync(jobs, id, ct, tolerant: true) ?? job;
            if (cluster?.Exited() is { } dead)
            {
                why = $"its coordinator (pid {dead.Process.Id}) exited with code {dead.ExitCode}; see {cluster.LogDirectory}";
                break;
            }
            if (job is null or { Status: JobStatus.Pending } && started.Elapsed > rendezvous)
            {
                why = $"the job did not start within {rendezvous.TotalSeconds:0} s (--rendezvous-timeout): not every rank of the launch joined";
                break;
            }
            bool ended = job is { Status: JobStatus.Completed or JobStatus.Failed or JobStatus.Cancelled };
            // A job that failed or was cancelled stops its training ranks within a few steps; a copy still waiting to
            // be placed in it learns nothing, so the wait is short.
            if (giveUpAt is null && job is { Status: JobStatus.Failed or JobStatus.Cancelled }) giveUpAt = DateTime.UtcNow + EndedGrace;
            if (giveUpAt is null && ranks.AnyExited && !ended) giveUpAt = DateTime.UtcNow + Grace;
            if (DateTime.UtcNow > giveUpAt)
            {
                why = job is { Status: JobStatus.Failed or JobStatus.Cancelled }
                    ? $"{job.Id} {job.Status.ToString().ToLowerInvariant()}; the copies still running were stopped"
                    : $"the copies still running {Grace.TotalSeconds:0} s after a copy exited were stopped";
                break;
            }
        }
        if (why is not null)
        {
            Console.Error.WriteLine($"disttrain: launch {id}: {why}");
            ranks.Stop(TimeSpan.FromSeconds(5));
            await CancelAsync(jobs, job);
        }
        return job;
    }

    // Cancels the launch's job unless it has ended; best effort, bounded (the coordinator may be gone).
    private static async Task CancelAsync(Jobs.JobsClient jobs, Job? job)
    {
        if (job is null or { Status: JobStatus.Completed or JobStatus.Failed or JobStatus.Cancelled }) return;
        try
        {
            await jobs.CancelAsync(new CancelJobRequest { Id = job.Id }, deadline: DateTime.UtcNow.AddSeconds(2));
        }
        catch (Grpc.Core.RpcException)
        {
            // Gone, or ended meanwhile: nothing left to cancel here.
        }
    }

    // "dotnet MyTrainer.dll" is MyTrainer; "./trainer" is trainer.
    private static string ProgramName(string[] args)
    {
        string file = Path.GetFileNameWithoutExtension(args[0]) == "dotnet" && args.Length > 1 ? args[1] : args[0];
        return Path.GetFileNameWithoutExtension(file);
    }

    // The launch's job, once a copy has submitted it. While the copies run, a coordinator that is not up yet (or
    // restarting) is only not an answer: the copies wait for it themselves.
    private static async Task<Job?> FindAsync(Jobs.JobsClient jobs, string launchId, CancellationToken cancellationToken, bool tolerant = false)
    {
        try
        {
            var list = await jobs.ListAsync(new ListJobsRequest(),
                new Grpc.Core.CallOptions(deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: cancellationToken).WithWaitForReady());
            // The newest of the launch's jobs: a program that calls FitDistributed again runs its next job under ID.2, ID.3, …
            return list.Jobs.FirstOrDefault(j => j.Spec.LaunchId == launchId || j.Spec.LaunchId.StartsWith(launchId + ".", StringComparison.Ordinal));
        }
        catch (Grpc.Core.RpcException) when (tolerant)
        {
            return null;
        }
    }
}
