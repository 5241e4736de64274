using System.CommandLine;
using System.Diagnostics;
using DistTrain.Cli.Output;
using DistTrain.Coordinator;
using DistTrain.Protos;
using DistTrain.Worker;

namespace DistTrain.Cli.Commands;

/// <summary>`disttrain coordinator`, `worker`, `submit` and `status`: the pieces of a cluster, each a thin host.</summary>
public static class ClusterCommands
{
    public static Option<string> CoordinatorUrl() => new("--coordinator")
    {
        Description = "The coordinator's URL, or several coordinators of one cluster as URL1,URL2 (calls go to any that is up)",
        DefaultValueFactory = _ => "http://127.0.0.1:7070",
    };

    /// <summary>Where the embedded storage lives unless --state-dir says otherwise.</summary>
    private static string DefaultStateDir() => Environment.GetEnvironmentVariable("DISTTRAIN_STATE") is { Length: > 0 } dir ? dir
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "disttrain", "state");

    private static Option<int?> MetricsPort(string what = "/metrics (Prometheus, HTTP/1.1)") => new("--metrics-port") { Description = $"Serve {what} on this port" };

    private static Option<string> MetricsBind(string what = "/metrics") => new("--metrics-bind") { Description = $"Address {what} listens on", DefaultValueFactory = _ => "0.0.0.0" };

    public static Command Coordinator()
    {
        var bind = new Option<string>("--bind") { Description = "Address to listen on", DefaultValueFactory = _ => "0.0.0.0" };
        var port = new Option<int>("--port") { Description = "Port to listen on", DefaultValueFactory = _ => 7070 };
        var dataDir = CommonOptions.DataDir();
        var stateDir = new Option<string?>("--state-dir") { Description = "Directory of the embedded job-state storage (default $DISTTRAIN_STATE or ~/.local/share/disttrain/state)" };
        var storage = new Option<string>("--storage")
        {
            Description = "Job-state storage: file (under --state-dir), redis=HOST:PORT, or postgres=CONNECTION", DefaultValueFactory = _ => "file",
        };
        var siloPort = new Option<int>("--silo-port")
        {
            Description = "With --storage redis: the port the cluster's other coordinators reach this one at (0 = any)", DefaultValueFactory = _ => 0,
        };
        var missed = CommonOptions.Positive("--missed-heartbeats", 3, "Heartbeats (2 s apart) a worker may miss before it is lost", max: 1000);
        var checkpointDir = new Option<string?>("--checkpoint-dir")
        {
            Description = "Where the checkpoint store keeps its files (default: checkpoints under --state-dir); coordinators of one cluster must share it",
        };
        var metricsPort = MetricsPort("the live page and /metrics (HTTP/1.1; HTTPS with --tls-cert)");
        var metricsBind = MetricsBind("the page and /metrics");
        var security = new SecurityOptions(server: true);
        var command = new Command("coordinator", "Run a coordinator until stopped; coordinators given the same --storage redis=... form one cluster")
        {
            bind, port, dataDir, stateDir, storage, siloPort, missed, checkpointDir, metricsPort, metricsBind,
        };
        security.AddTo(command);
        command.SetAction(async (p, ct) =>
        {
            var secure = security.Read(p);
            var choice = StateStorageChoice.Parse(p.GetValue(storage), Path.GetFullPath(p.GetValue(stateDir) ?? DefaultStateDir()));
            string state = Path.GetFullPath(p.GetValue(stateDir) ?? DefaultStateDir());
            if (choice.Kind != "file" && p.GetValue(checkpointDir) is null)
                Terminal.Info($"warning: checkpoints go to {Path.Combine(state, "checkpoints")} on this host; give the cluster's coordinators one shared --checkpoint-dir, "
                    + "or a checkpoint uploaded to one is missing on the others");
            var (app, bound) = await CoordinatorHost.StartAsync(new CoordinatorOptions(p.GetValue(bind)!, p.GetValue(port), p.GetValue(dataDir), choice,
                p.GetValue(siloPort), p.GetValue(missed), Path.GetFullPath(p.GetValue(checkpointDir) ?? Path.Combine(state, "checkpoints")), secure,
                p.GetValue(metricsPort) is { } web
                    ? new WebEndpoint(p.GetValue(metricsBind)!, web, Environment.GetEnvironmentVariable(DistTrain.Coordinator.Web.WebSession.TicketVariable)) : null),
                Terminal.Info, ct);
            if (CoordinatorHost.PageUrl(app) is { } page)
                Terminal.Info($"coordinator page at {page} (metrics at {page}metrics)" + (secure.Token is null ? "" : "; it asks for the cluster token"));
            Terminal.Info($"coordinator listening on {bound}; job state: {choice}; "
                + (secure.Token is null ? "no cluster token (loopback only)" : "every call needs the cluster token") + (secure.Tls is null ? "" : secure.Tls.Mutual ? "; mutual TLS" : "; TLS"));
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C or SIGTERM: stop serving.
            }
            // Stop first (the silo deactivates its grains and leaves the cluster; open calls get HostOptions'
            // shutdown timeout), then dispose: disposing a running host would cut the silo off mid-stop.
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
            return 0;
        });
        return command;
    }

    public static Command WorkerCommand()
    {
        var coordinator = CoordinatorUrl();
        var bind = new Option<string>("--bind") { Description = "Address the ring service listens on", DefaultValueFactory = _ => "0.0.0.0" };
        var port = new Option<int>("--port") { Description = "Port of the ring service (0 = any)", DefaultValueFactory = _ => 0 };
        var advertise = new Option<string?>("--advertise") { Description = "URL peers reach this worker at, e.g. http://10.0.0.5:7000" };
        var threads = CommonOptions.Threads();
        var once = new Option<bool>("--once") { Description = "Exit after one job" };
        var collectiveTimeout = CollectiveTimeout();
        var metricsPort = MetricsPort();
        var metricsBind = MetricsBind();
        var security = new SecurityOptions(server: true);
        var command = new Command("worker", "Run a worker that trains the coordinator's jobs")
        {
            coordinator, bind, port, advertise, threads, once, collectiveTimeout, metricsPort, metricsBind,
        };
        security.AddTo(command);
        command.SetAction(async (p, ct) =>
        {
            await using var metrics = await MetricsEndpoint.StartAsync(p.GetValue(metricsBind)!, p.GetValue(metricsPort), "worker", ct);
            return await new WorkerRuntime(new WorkerOptions(p.GetValue(coordinator)!, p.GetValue(bind)!, p.GetValue(port),
                p.GetValue(advertise), p.GetValue(threads), p.GetValue(once), TimeSpan.FromSeconds(p.GetValue(collectiveTimeout)), security.Read(p)), Terminal.Info)
            {
                StopReason = () => ProcessSignals.Reason,
            }.RunAsync(ct);
        });
        return command;
    }

    /// <summary>How long a ring receive may wait before the peer counts as failed.</summary>
    public static Option<int> CollectiveTimeout() => CommonOptions.Positive("--collective-timeout", 30,
        "Seconds a ring step may wait for a peer before that peer counts as lost (HTTP/2 pings and heartbeats usually find it sooner)");

    public static Command Submit()
    {
        var coordinator = CoordinatorUrl();
        var job = new JobOptions();
        var resumeFrom = new Option<string?>("--resume-from")
        {
            Description = "Start from this job's latest intact checkpoint, at its exact step (same model, batch size and seed; --epochs is the total)",
        };
        var command = new Command("submit", "Submit a job to a coordinator and follow it") { coordinator, resumeFrom };
        var security = new SecurityOptions(server: false);
        security.AddTo(command);
        job.AddTo(command);
        command.SetAction(async (p, ct) =>
        {
            using var channel = CoordinatorChannel.Create(p.GetValue(coordinator)!, security: security.Read(p));
            var jobs = new Jobs.JobsClient(channel);
            var clock = Stopwatch.StartNew();
            var spec = job.Read(p);
            spec.ResumeFrom = p.GetValue(resumeFrom) ?? "";
            // Data from this machine (the user's own, or a built-in's folder) is read here and uploaded: the coordinator
            // never reads a path of the client's. A built-in by name is the coordinator's to read. An upload is kept by
            // the coordinator that took it, so the upload and the submit go to the same one (the first of --coordinator).
            if (job.ReadData(p) is { } choice && (!choice.BuiltIn || choice.Dir is not null))
            {
                using var first = CoordinatorChannel.Create(CoordinatorChannel.Parse(p.GetValue(coordinator)!)[0].ToString(), security: security.Read(p));
                spec.Dataset = await Client.DatasetUploader.UploadAsync(first, choice.Load(Terminal.Info, new Data.TokenizerOptions(spec.NumWords, spec.MaxLen)), Terminal.Info, ct);
                var pinned = await new Jobs.JobsClient(first).SubmitAsync(new SubmitJobRequest { Spec = spec }, cancellationToken: ct);
                return await FollowAsync(pinned);
            }
            var submitted = await jobs.SubmitAsync(new SubmitJobRequest { Spec = spec }, cancellationToken: ct);
            return await FollowAsync(submitted);

            async Task<int> FollowAsync(Job submitted)
            {
                Terminal.Info($"submitted {submitted.Id}");
                if (JobPage(p.GetValue(coordinator)!, submitted) is { } page) Terminal.Info($"page: {page}");
                foreach (var e in submitted.Events.Where(e => e.Kind is "resume" or "warning"))
                    Terminal.Info(e.Kind == "warning" ? $"warning: {e.Reason}" : $"{submitted.Id} {e.Reason}");
                var done = await JobWatcher.WatchAsync(jobs, submitted.Id, ct);
                int code = JobWatcher.Report(done, p.GetValue(job.Json), clock.Elapsed.TotalSeconds);
                return code == 0 && p.GetValue(job.Save) is { } save ? await CheckpointCommands.SaveFinalAsync(channel, done, save, ct) : code;
            }
        });
        return command;
    }

    /// <summary>
    /// The job's page on the coordinator it was submitted to: the port the coordinator says, on the host the CLI reached
    /// it at (the first of several), in its scheme. Null when the coordinator serves no page.
    /// </summary>
    public static string? JobPage(string coordinators, Job job)
    {
        if (job.PagePort <= 0 || !Uri.TryCreate(coordinators.Split(',')[0].Trim(), UriKind.Absolute, out var url)) return null;
        return new UriBuilder(url.Scheme, url.Host, job.PagePort, $"/jobs/{Uri.EscapeDataString(job.Id)}").Uri.ToString();
    }

    public static Command Status()
    {
        var coordinator = CoordinatorUrl();
        var id = new Argument<string>("job") { Description = "The job's id, e.g. job-1" };
        var json = CommonOptions.Json();
        var command = new Command("status", "Show a job and its per-epoch history") { id, coordinator, json };
        var security = new SecurityOptions(server: false);
        security.AddTo(command);
        command.SetAction(async (p, ct) =>
        {
            using var channel = CoordinatorChannel.Create(p.GetValue(coordinator)!, security: security.Read(p));
            var job = await new Jobs.JobsClient(channel).GetAsync(new GetJobRequest { Id = p.GetValue(id) }, cancellationToken: ct);
            if (p.GetValue(json)) JsonLine.Write(JobViews.Status(job));
            else JobViews.WriteStatus(job);
            return 0;
        });
        return command;
    }

    public static Command JobsCommand()
    {
        var coordinator = CoordinatorUrl();
        var json = CommonOptions.Json();
        var command = new Command("jobs", "List the coordinator's jobs, newest first") { coordinator, json };
        var security = new SecurityOptions(server: false);
        security.AddTo(command);
        command.SetAction(async (p, ct) =>
        {
            using var channel = CoordinatorChannel.Create(p.GetValue(coordinator)!, security: security.Read(p));
            var list = await new Jobs.JobsClient(channel).ListAsync(new ListJobsRequest(), cancellationToken: ct);
            if (p.GetValue(json)) JsonLine.Write(new System.Text.Json.Nodes.JsonArray([.. list.Jobs.Select(j => (System.Text.Json.Nodes.JsonNode)JobViews.Status(j))]));
            else JobViews.WriteList(list.Jobs);
            return 0;
        });
        return command;
    }

    public static Command WorkersCommand()
    {
        var coordinator = CoordinatorUrl();
        var json = CommonOptions.Json();
        var command = new Command("workers", "List the registered workers: idle, training, lost or left, with their last heartbeat") { coordinator, json };
        var security = new SecurityOptions(server: false);
        security.AddTo(command);
        command.SetAction(async (p, ct) =>
        {
            using var channel = CoordinatorChannel.Create(p.GetValue(coordinator)!, security: security.Read(p));
            var list = await new Workers.WorkersClient(channel).ListAsync(new ListWorkersRequest(), cancellationToken: ct);
            var now = DateTimeOffset.UtcNow;
            if (p.GetValue(json)) JsonLine.Write(new System.Text.Json.Nodes.JsonArray([.. list.Workers.Select(w => (System.Text.Json.Nodes.JsonNode)WorkerViews.Worker(w, now))]));
            else WorkerViews.WriteList(list.Workers, now);
            return 0;
        });
        return command;
    }

    public static Command Cancel()
    {
        var coordinator = CoordinatorUrl();
        var id = new Argument<string>("job") { Description = "The job's id, e.g. job-1" };
        var command = new Command("cancel", "Cancel a pending or running job; its workers stop together after their current steps") { id, coordinator };
        var security = new SecurityOptions(server: false);
        security.AddTo(command);
        command.SetAction(async (p, ct) =>
        {
            using var channel = CoordinatorChannel.Create(p.GetValue(coordinator)!, security: security.Read(p));
            var job = await new Jobs.JobsClient(channel).CancelAsync(new CancelJobRequest { Id = p.GetValue(id) }, cancellationToken: ct);
            Console.Out.WriteLine($"{job.Id} {JobViews.StatusName(job.Status)}");
            return 0;
        });
        return command;
    }
}
