using DistTrain.Protos;
using Grpc.Core;
using Spectre.Console;

namespace DistTrain.Cli.Output;

/// <summary>
/// Follows a job through the coordinator's Watch stream with one progress display, and reports its result. A watch cut
/// off by a coordinator restart (or by the death of one coordinator of several) is opened again.
/// </summary>
public static class JobWatcher
{
    /// <summary>How long a watcher waits for a coordinator that went away before it gives up.</summary>
    public static readonly TimeSpan CoordinatorPatience = TimeSpan.FromMinutes(2);

    private static bool IsFinal(JobStatus s) => s is JobStatus.Completed or JobStatus.Failed or JobStatus.Cancelled;

    public static async Task<Job> WatchAsync(Jobs.JobsClient jobs, string jobId, CancellationToken cancellationToken)
    {
        Job last = await jobs.GetAsync(new GetJobRequest { Id = jobId }, cancellationToken: cancellationToken);
        await Terminal.Error.Progress().AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask($"{jobId}: waiting for {last.Spec.Workers} workers", maxValue: Math.Max(1, last.Spec.Epochs * Math.Max(1, last.StepsPerEpoch)));
                int reported = 0;
                DateTime? lostSince = null;
                while (!IsFinal(last.Status))
                {
                    try
                    {
                        using var call = jobs.Watch(new GetJobRequest { Id = jobId }, cancellationToken: cancellationToken);
                        await foreach (var job in call.ResponseStream.ReadAllAsync(cancellationToken))
                        {
                            lostSince = null;
                            last = job;
                            if (job.Status == JobStatus.Running && job.Epoch > 0)
                            {
                                task.Value = (job.Epoch - 1) * job.StepsPerEpoch + (job.Step == 0 ? job.StepsPerEpoch : job.Step);
                                task.Description = $"{jobId}  epoch {job.Epoch}/{job.Spec.Epochs}  loss {job.Loss:F4}";
                            }
                            for (; reported < job.History.Count; reported++)
                            {
                                var e = job.History[reported];
                                Terminal.Error.MarkupLineInterpolated(
                                    $"[grey]epoch {e.Epoch}/{job.Spec.Epochs}[/]  loss {e.Loss:F4}  accuracy {e.Accuracy:F4}  test_accuracy {e.TestAccuracy:F4}  {e.SamplesPerSecond:N0} samples/s  {e.Seconds:F1}s");
                            }
                        }
                    }
                    catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown
                        && !cancellationToken.IsCancellationRequested)
                    {
                        // The coordinator restarted, or the one watched died and the cluster has others: the job goes on
                        // without it, so keep watching once one answers, within a bound.
                        if (lostSince is null) Terminal.Error.MarkupLineInterpolated($"[yellow]lost the coordinator ({e.Status.StatusCode}); waiting for it[/]");
                        lostSince ??= DateTime.UtcNow;
                        if (DateTime.UtcNow - lostSince > CoordinatorPatience) throw;
                        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                    }
                }
                task.Value = task.MaxValue;
                task.StopTask();
            });
        return last;
    }

    /// <summary>The final line, and with --json the train fields plus "job" and "workers".</summary>
    public static int Report(Job job, bool json, double seconds, IReadOnlyList<string>? metricsUrls = null)
    {
        if (job.Status != JobStatus.Completed)
        {
            Console.Error.WriteLine($"disttrain: {job.Id} {job.Status.ToString().ToLowerInvariant()}: {job.Error}");
            return 1;
        }
        var final = job.History[^1];
        double trainSeconds = job.History.Sum(e => e.Seconds);
        double rate = job.History.Sum(e => e.SamplesPerSecond * e.Seconds) / Math.Max(trainSeconds, 1e-9);
        // A launched program may train without validation data: its job has no test split to report.
        Console.Out.WriteLine((job.TestSamples > 0 ? $"test accuracy {final.TestAccuracy:F4}  test loss {final.TestLoss:F4}" : $"no test split; training accuracy {final.Accuracy:F4}  loss {final.Loss:F4}")
            + $"  {rate:N0} samples/s on {job.Workers.Count} workers  {seconds:F1}s"
            + (job.SkippedSteps > 0 ? $"  ({job.SkippedSteps} step{(job.SkippedSteps == 1 ? "" : "s")} skipped: NaN or Inf gradient)" : ""));
        if (json)
        {
            // A launched job's data and model are its program's: it goes by its name.
            var result = JsonLine.TrainResult(job.Spec.Dataset is { Length: > 0 } d ? Data.UploadedDataset.DisplayName(d) : job.Spec.Name,
                job.Spec.LaunchId.Length > 0 ? job.Spec.Name : job.Spec.Model.TrimStart().StartsWith('{') ? "spec" : job.Spec.Model, job.Spec.Epochs,
                job.TrainSamples, job.TestSamples, final.TestAccuracy, final.TestLoss, rate, seconds);
            result["workers"] = job.Workers.Count;
            result["job"] = job.Id;
            result["skipped_steps"] = job.SkippedSteps;
            if (metricsUrls is not null) result["metrics_urls"] = new System.Text.Json.Nodes.JsonArray([.. metricsUrls.Select(u => (System.Text.Json.Nodes.JsonNode?)u)]);
            JsonLine.Write(result);
        }
        return 0;
    }
}
