using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using DistTrain.Cli.Output;
using DistTrain.Protos;

namespace DistTrain.Cli.Commands;

/// <summary>
/// `disttrain bench checkpoint`: what a checkpoint costs a running job. It runs one job on a local coordinator and N
/// worker processes with a checkpoint every K steps, then reads rank 0's account of each one: the time training stood
/// still for the copy of its buffers, against the time the file took to write and upload in the background. It prints
/// both beside the job's step time. Every process it starts it stops.
/// </summary>
public static partial class CheckpointBench
{
    [GeneratedRegex(@"\(([\d,]+) bytes\): training paused ([\d.]+) ms to copy it; writing and uploading took ([\d.]+) ms")]
    private static partial Regex Account();

    public static Command Create()
    {
        var workers = CommonOptions.Positive("--workers", 2, "Worker processes", max: 16);
        var model = new Option<string>("--model") { Description = "Preset or spec file", DefaultValueFactory = _ => "mnist-cnn" };
        var dataset = CommonOptions.Dataset();
        var dataDir = CommonOptions.DataDir();
        var epochs = CommonOptions.Positive("--epochs", 2, "Epochs of the job");
        var every = CommonOptions.Positive("--checkpoint-every", 10, "Steps between checkpoints");
        var batch = CommonOptions.OptionalBatchSize();
        var json = CommonOptions.Json();
        var command = new Command("checkpoint", "Measure how long training pauses per checkpoint, against the background upload")
        {
            workers, model, dataset, dataDir, epochs, every, batch, json,
        };
        command.SetAction(async (p, ct) =>
        {
            string name = p.GetValue(model)!, data = p.GetValue(dataset)!;
            var spec = new JobSpec
            {
                Model = File.Exists(name) ? File.ReadAllText(name) : name, Dataset = data, Epochs = p.GetValue(epochs), Workers = p.GetValue(workers),
                GlobalBatchSize = p.GetValue(batch) ?? Data.DatasetCatalog.DefaultBatchSize(data), Seed = 1, CheckpointEvery = p.GetValue(every),
                ThreadsPerWorker = 1,
            };
            using var cluster = new LocalCluster();
            string url = await cluster.StartCoordinatorAsync(p.GetValue(dataDir) is { } dir ? ["--data-dir", Path.GetFullPath(dir)] : [], ct);
            using var channel = cluster.Connect(url);
            var jobs = new Jobs.JobsClient(channel);
            var processes = Enumerable.Range(0, spec.Workers)
                .Select(w => cluster.Start($"worker-{w}", "worker", "--coordinator", url, "--bind", "127.0.0.1", "--once")).ToList();
            var job = await jobs.SubmitAsync(new SubmitJobRequest { Spec = spec }, cancellationToken: ct);
            var done = await JobWatcher.WatchAsync(jobs, job.Id, ct);
            LocalCluster.WaitForExit(processes, TimeSpan.FromSeconds(30));
            if (done.Status != JobStatus.Completed) throw new InvalidOperationException($"{done.Id} {done.Status}: {done.Error}; logs in {cluster.LogDirectory}");
            var accounts = Directory.GetFiles(cluster.LogDirectory, "worker-*.log").SelectMany(File.ReadLines)
                .Select(l => Account().Match(l)).Where(m => m.Success)
                .Select(m => (Bytes: long.Parse(m.Groups[1].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture),
                    Pause: double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), Upload: double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture)))
                .ToList();
            if (accounts.Count == 0) throw new InvalidOperationException($"rank 0 logged no checkpoint; logs in {cluster.LogDirectory}");
            double rate = done.History.Sum(e => e.SamplesPerSecond * e.Seconds) / Math.Max(done.History.Sum(e => e.Seconds), 1e-9);
            double stepMs = 1000.0 * spec.GlobalBatchSize / Math.Max(rate, 1e-9);
            static double Median(IEnumerable<double> v) => v.Order().ElementAt(v.Count() / 2);
            double pause = Median(accounts.Select(a => a.Pause)), upload = Median(accounts.Select(a => a.Upload));
            Console.Out.WriteLine($"checkpoint: {name} on {spec.Workers} workers, {accounts.Count} checkpoints of {accounts[0].Bytes:N0} bytes; " +
                $"training paused {pause:F2} ms (median, max {accounts.Max(a => a.Pause):F2}) for the copy; writing and uploading took " +
                $"{upload:F1} ms (median, max {accounts.Max(a => a.Upload):F1}) in the background; a step takes {stepMs:F1} ms " +
                $"(a checkpoint every {spec.CheckpointEvery} steps pauses {100 * pause / (stepMs * spec.CheckpointEvery):F3}% of training)");
            if (p.GetValue(json))
                JsonLine.Write(new JsonObject
                {
                    ["model"] = name, ["workers"] = spec.Workers, ["checkpoints"] = accounts.Count, ["bytes"] = accounts[0].Bytes,
                    ["pause_ms_median"] = pause, ["pause_ms_max"] = accounts.Max(a => a.Pause), ["upload_ms_median"] = upload,
                    ["upload_ms_max"] = accounts.Max(a => a.Upload), ["step_ms"] = Math.Round(stepMs, 2),
                });
            return 0;
        });
        return command;
    }
}
