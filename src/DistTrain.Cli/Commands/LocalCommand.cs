using System.CommandLine;
using System.Diagnostics;
using DistTrain.Cli.Output;
using DistTrain.Protos;
using Grpc.Core;

namespace DistTrain.Cli.Commands;

/// <summary>
/// `disttrain local --workers N`: a coordinator and N worker processes on 127.0.0.1, one job, one progress display,
/// then the final test accuracy. Every process it started is ended on success, on error and on Ctrl-C.
/// </summary>
public static class LocalCommand
{
    public static Command Create()
    {
        var job = new JobOptions();
        var metricsPort = new Option<int?>("--metrics-port")
        {
            Description = "Serve the live page and /metrics on this port for the coordinator, and /metrics on P+1+i for worker i (default: free ports)",
        };
        var noMetrics = new Option<bool>("--no-metrics") { Description = "Serve no page and no /metrics endpoints (to measure their overhead)" };
        var stay = new Option<bool>("--stay") { Description = "Keep the coordinator and its page up after the job ends, until Ctrl-C or SIGTERM" };
        var command = new Command("local", "Train with a coordinator and N worker processes on this machine") { metricsPort, noMetrics, stay };
        job.AddTo(command);
        command.SetAction(async (p, ct) =>
        {
            var spec = job.Read(p);
            var choice = job.ReadData(p);
            // The user's own data is read here and uploaded once the coordinator is up; a built-in is the coordinator's to read.
            var own = choice.BuiltIn ? null : choice.Load(Terminal.Info);
            var clock = Stopwatch.StartNew();
            using var cluster = new LocalCluster();
            var coordinatorArgs = new List<string>();
            if (choice is { BuiltIn: true, Dir: { } dir }) coordinatorArgs.AddRange(["--data-dir", Path.GetFullPath(dir)]);
            var metricsPorts = p.GetValue(noMetrics) ? null
                : p.GetValue(metricsPort) is { } first ? Enumerable.Range(first, spec.Workers + 1).ToArray()
                : Enumerable.Range(0, spec.Workers + 1).Select(_ => LocalCluster.FreePort()).ToArray();
            if (metricsPorts is not null) coordinatorArgs.AddRange(["--metrics-bind", "127.0.0.1", "--metrics-port", metricsPorts[0].ToString()]);
            string url = await cluster.StartCoordinatorAsync(coordinatorArgs, ct);
            using var channel = cluster.Connect(url);
            var jobs = new Jobs.JobsClient(channel);
            var workerProcesses = new List<Process>();
            for (int r = 0; r < spec.Workers; r++)
            {
                string[] metrics = metricsPorts is null ? [] : ["--metrics-bind", "127.0.0.1", "--metrics-port", metricsPorts[r + 1].ToString()];
                workerProcesses.Add(cluster.Start($"worker-{r}", ["worker", "--coordinator", url, "--bind", "127.0.0.1", "--port", "0",
                    "--threads", spec.ThreadsPerWorker.ToString(), "--once", .. metrics]));
            }
            Terminal.Info($"coordinator {url} and {spec.Workers} workers (pids {string.Join(", ", cluster.ProcessIds)}); logs in {cluster.LogDirectory}");
            Terminal.Info($"other commands reach this run with --coordinator {url} --token-file {cluster.TokenFile}");
            var metricsUrls = metricsPorts?.Select(m => $"http://127.0.0.1:{m}/metrics").ToList();
            if (metricsUrls is not null)
                Terminal.Info($"metrics: coordinator {metricsUrls[0]}; " +
                    string.Join(", ", metricsUrls.Skip(1).Select((u, i) => $"worker {i} {u}")));
            Job submitted;
            try
            {
                if (own is not null) spec.Dataset = await Client.DatasetUploader.UploadAsync(channel, own, Terminal.Info, ct);
                submitted = await jobs.SubmitAsync(new SubmitJobRequest { Spec = spec }, cancellationToken: ct);
            }
            catch (RpcException e)
            {
                Console.Error.WriteLine($"disttrain: {e.Status.Detail}");
                return 1;
            }
            // The page's link logs the browser in with the run's page ticket (never the token, which is never printed), and the
            // page then drops the ticket from the address bar.
            if (metricsPorts is not null)
                Terminal.Info($"page: http://127.0.0.1:{metricsPorts[0]}/login?next={Uri.EscapeDataString($"/jobs/{submitted.Id}")}&ticket="
                    + Uri.EscapeDataString(cluster.PageTicket));
            var done = await JobWatcher.WatchAsync(jobs, submitted.Id, ct);
            // The workers leave by themselves once the job has ended (a cancelled job's ranks stop together within a few
            // steps); the coordinator must outlive them so that their last reports land.
            LocalCluster.WaitForExit(workerProcesses, TimeSpan.FromSeconds(30));
            int code = JobWatcher.Report(done, p.GetValue(job.Json), clock.Elapsed.TotalSeconds, metricsUrls);
            if (code == 0 && p.GetValue(job.Save) is { } save) code = await CheckpointCommands.SaveFinalAsync(channel, done, save, ct);
            if (code != 0) Console.Error.WriteLine($"disttrain: the processes' logs are in {cluster.LogDirectory}");
            if (p.GetValue(stay) && metricsPorts is not null)
            {
                // The workers have left; the coordinator stays, so that the page shows the finished run until the user is done.
                Terminal.Info($"the page stays up at http://127.0.0.1:{metricsPorts[0]}/jobs/{submitted.Id} until Ctrl-C");
                try
                {
                    await Task.Delay(Timeout.Infinite, ct);
                }
                catch (OperationCanceledException)
                {
                }
            }
            return code;
        });
        return command;
    }
}
