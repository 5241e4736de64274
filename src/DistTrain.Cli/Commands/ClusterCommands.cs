using System.CommandLine;
using System.Diagnostics;
using DistTrain.Cli.Output;
using DistTrain.Coordinator;
using DistTrain.Protos;
using DistTrain.Worker;
using Grpc.Net.Client;

namespace DistTrain.Cli.Commands;

/// <summary>`disttrain coordinator`, `worker`, `submit` and `status`: the pieces of a cluster, each a thin host.</summary>
public static class ClusterCommands
{
    public static Option<string> CoordinatorUrl() => new("--coordinator")
    {
        Description = "The coordinator's URL", DefaultValueFactory = _ => "http://127.0.0.1:7070",
    };

    public static Command Coordinator()
    {
        var bind = new Option<string>("--bind") { Description = "Address to listen on", DefaultValueFactory = _ => "0.0.0.0" };
        var port = new Option<int>("--port") { Description = "Port to listen on", DefaultValueFactory = _ => 7070 };
        var dataDir = CommonOptions.DataDir();
        var command = new Command("coordinator", "Run a coordinator until stopped") { bind, port, dataDir };
        command.SetAction(async (p, ct) =>
        {
            var (app, bound) = await CoordinatorHost.StartAsync(p.GetValue(bind)!, p.GetValue(port), p.GetValue(dataDir), Terminal.Info, ct);
            Terminal.Info($"coordinator listening on {bound}");
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C or SIGTERM: stop serving.
            }
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
        var command = new Command("worker", "Run a worker that trains the coordinator's jobs") { coordinator, bind, port, advertise, threads, once };
        command.SetAction((p, ct) => new WorkerRuntime(new WorkerOptions(p.GetValue(coordinator)!, p.GetValue(bind)!, p.GetValue(port),
            p.GetValue(advertise), p.GetValue(threads), p.GetValue(once)), Terminal.Info).RunAsync(ct));
        return command;
    }

    public static Command Submit()
    {
        var coordinator = CoordinatorUrl();
        var job = new JobOptions();
        var command = new Command("submit", "Submit a job to a coordinator and follow it") { coordinator };
        job.AddTo(command);
        command.SetAction(async (p, ct) =>
        {
            using var channel = GrpcChannel.ForAddress(p.GetValue(coordinator)!);
            var jobs = new Jobs.JobsClient(channel);
            var clock = Stopwatch.StartNew();
            var submitted = await jobs.SubmitAsync(new SubmitJobRequest { Spec = job.Read(p) }, cancellationToken: ct);
            Terminal.Info($"submitted {submitted.Id}");
            var done = await JobWatcher.WatchAsync(jobs, submitted.Id, ct);
            return JobWatcher.Report(done, p.GetValue(job.Json), clock.Elapsed.TotalSeconds);
        });
        return command;
    }

    public static Command Status()
    {
        var coordinator = CoordinatorUrl();
        var id = new Argument<string>("job") { Description = "The job's id, e.g. job-1" };
        var command = new Command("status", "Show a job") { id, coordinator };
        command.SetAction(async (p, ct) =>
        {
            using var channel = GrpcChannel.ForAddress(p.GetValue(coordinator)!);
            var job = await new Jobs.JobsClient(channel).GetAsync(new GetJobRequest { Id = p.GetValue(id) }, cancellationToken: ct);
            Console.Out.WriteLine($"{job.Id}  {job.Status}  epoch {job.Epoch}/{job.Spec.Epochs}  step {job.Step}/{job.StepsPerEpoch}  workers {job.Workers.Count}{(job.Error.Length > 0 ? "  error: " + job.Error : "")}");
            foreach (var e in job.History)
                Console.Out.WriteLine($"  epoch {e.Epoch}: loss {e.Loss:F4}  accuracy {e.Accuracy:F4}  test_accuracy {e.TestAccuracy:F4}  {e.SamplesPerSecond:N0} samples/s  {e.Seconds:F1}s");
            return 0;
        });
        return command;
    }
}
