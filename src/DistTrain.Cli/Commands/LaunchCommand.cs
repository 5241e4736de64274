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
        var json = CommonOptions.Json();
        var program = new Argument<string[]>("program") { Description = "The program and its arguments, after --", Arity = ArgumentArity.OneOrMore };
        var command = new Command("launch", "Run N copies of your own training program as one data-parallel job (like torchrun)")
            { workers, worldSize, coordinator, launchId, name, threads, bind, json, program };
        var security = new SecurityOptions(server: false);
        security.AddTo(command);
        command.SetAction(async (p, ct) =>
        {
            int local = p.GetValue(workers), world = p.GetValue(worldSize) ?? local;
            string? url = p.GetValue(coordinator), id = p.GetValue(launchId);
            if (world < local) throw new ArgumentException($"--world-size {world} is less than this host's --workers {local}");
            if (world > local && (url is null || id is null))
                throw new ArgumentException($"--world-size {world} spans hosts: every host's launch needs the same --coordinator URL and --launch-id");
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
            var codes = await ranks.WaitAsync(async () => await FindAsync(jobs, id, ct, tolerant: true) is { Status: JobStatus.Completed or JobStatus.Failed or JobStatus.Cancelled },
                TimeSpan.FromSeconds(60), ct);
            var job = await FindAsync(jobs, id, ct);
            if (job is null)
            {
                Console.Error.WriteLine($"disttrain: launch {id}'s copies exited with codes {string.Join(", ", codes)} before any submitted its job");
                return 1;
            }
            if (job.Status is JobStatus.Pending or JobStatus.Running)
            {
                // Every copy here has gone: the job cannot finish without them (it would wait for them forever).
                await jobs.CancelAsync(new CancelJobRequest { Id = job.Id }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct);
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
            return list.Jobs.FirstOrDefault(j => j.Spec.LaunchId == launchId);
        }
        catch (Grpc.Core.RpcException) when (tolerant)
        {
            return null;
        }
    }
}
