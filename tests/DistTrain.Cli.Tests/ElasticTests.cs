using System.Text.Json;
using DistTrain.Engine.Model;
using DistTrain.Protos;
using Xunit.Abstractions;

namespace DistTrain.Cli.Tests;

/// <summary>
/// Elastic training with real processes and real signals: a job that loses a worker to kill -9 carries on and ends
/// with the parameters of the same job never interrupted; one that falls below its minimum fails, saying why, and
/// leaves no process behind.
/// </summary>
public class ElasticTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-elastic-").FullName;
    private Dictionary<string, string> Env => new() { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache") };

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static async Task<Job> WaitForAsync(Jobs.JobsClient jobs, string id, Func<Job, bool> done, TimeSpan timeout, Func<string> context)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            var job = await jobs.GetAsync(new GetJobRequest { Id = id }, deadline: DateTime.UtcNow.AddSeconds(10));
            if (done(job)) return job;
            Assert.True(DateTime.UtcNow < until, $"{id} is {job.Status} at epoch {job.Epoch}, step {job.Step} after {timeout.TotalSeconds:0} s\n{context()}");
            await Task.Delay(20);
        }
    }

    // A coordinator on its own state directory and `workers` worker processes, over 1,800 synthetic digits (200 to test).
    private (string Url, BackgroundProcess Coordinator, List<BackgroundProcess> Workers) StartCluster(int workers)
    {
        SyntheticDigits.Write(_dir, train: 1800, test: 200);
        int port = BackgroundProcess.FreePort();
        string url = $"http://127.0.0.1:{port}";
        var coordinator = BackgroundProcess.Disttrain(["coordinator", "--bind", "127.0.0.1", "--port", port.ToString(), "--state-dir",
            Path.Combine(_dir, "state"), "--data-dir", _dir], Env);
        try
        {
            coordinator.WaitForLine(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        }
        catch
        {
            coordinator.Dispose(); // stopped by PID even when it never came up
            throw;
        }
        return (url, coordinator,
            [.. Enumerable.Range(0, workers).Select(_ => BackgroundProcess.Disttrain(["worker", "--coordinator", url, "--bind", "127.0.0.1"], Env))]);
    }

    [Fact]
    public async Task A_job_that_loses_a_worker_to_kill_9_ends_with_the_parameters_of_the_same_job_uninterrupted()
    {
        var (url, coordinator, workers) = StartCluster(workers: 3);
        using var _ = coordinator;
        try
        {
            string Logs() => coordinator.Output + string.Join("\n", workers.Select(w => w.Output));
            using var channel = CoordinatorChannel.Create(url);
            var jobs = new Jobs.JobsClient(channel);
            // mnist-mlp has no dropout or batch normalization: its updates do not depend on how many ranks share a batch.
            var spec = new JobSpec { Model = "mnist-mlp", Dataset = "mnist", Epochs = 8, GlobalBatchSize = 60, Workers = 3, Seed = 7 };
            var whole = await jobs.SubmitAsync(new SubmitJobRequest { Spec = spec });
            whole = await WaitForAsync(jobs, whole.Id, j => j.Status is not (JobStatus.Pending or JobStatus.Running), TimeSpan.FromSeconds(120), Logs);
            Assert.True(whole.Status == JobStatus.Completed, whole.Error);

            var broken = await jobs.SubmitAsync(new SubmitJobRequest { Spec = spec });
            // Strike in epoch 2, at rank 2: the survivors keep ranks 0 and 1, and rank 0 saves the final model as before.
            var struck = await WaitForAsync(jobs, broken.Id, j => j.Epoch >= 2 && j.Step >= 5 || j.Status is not (JobStatus.Pending or JobStatus.Running),
                TimeSpan.FromSeconds(120), Logs);
            Assert.True(struck.Status == JobStatus.Running && struck.Epoch < spec.Epochs, $"{struck.Id} was {struck.Status} at epoch {struck.Epoch} before the strike");
            var victim = workers.Single(w => w.Output.Contains($"{broken.Id}, rank 2 of 3"));
            victim.Kill(); // kill -9
            var done = await WaitForAsync(jobs, broken.Id, j => j.Status is not (JobStatus.Pending or JobStatus.Running), TimeSpan.FromSeconds(120), Logs);
            Assert.True(done.Status == JobStatus.Completed, done.Error + "\n" + Logs());
            var change = Assert.Single(done.Events);
            Assert.Equal((3, 2), (change.OldWorld, change.NewWorld));
            Assert.True(change.PauseSeconds is > 0 and < 5, $"paused {change.PauseSeconds} s");
            Assert.All(done.History, e => Assert.Equal((30L * 60, 0L, 0L), (e.Samples, e.LostSamples, e.DuplicatedSamples)));

            // The final models: rank 0 of each job's last worker set stored them with the coordinator.
            float[] a = (await StoredModels.DownloadAsync(url, whole.Id)).Model.Store.Values, b = (await StoredModels.DownloadAsync(url, done.Id)).Model.Store.Values;
            Assert.Equal(a.Length, b.Length);
            float worst = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
            output.WriteLine($"max |Δθ| = {worst:E2} after a kill -9 at epoch 2; pause {change.PauseSeconds:F2} s");
            Assert.True(worst <= 1e-5f, $"max |Δθ| = {worst}");
        }
        finally
        {
            foreach (var w in workers) w.Dispose();
        }
    }

    [Fact]
    public async Task A_worker_set_frozen_past_the_heartbeat_window_comes_back_and_completes_with_each_epoch_once()
    {
        var (url, coordinator, workers) = StartCluster(workers: 2);
        using var _ = coordinator;
        try
        {
            string Logs() => coordinator.Output + "\n" + string.Join("\n", workers.Select(w => w.Output));
            using var channel = CoordinatorChannel.Create(url);
            var jobs = new Jobs.JobsClient(channel);
            // Enough epochs (a fraction of a second each) that the freeze always lands mid-run.
            var spec = new JobSpec { Model = "mnist-mlp", Dataset = "mnist", Epochs = 30, GlobalBatchSize = 60, Workers = 2, Seed = 7 };
            var job = await jobs.SubmitAsync(new SubmitJobRequest { Spec = spec });
            var struck = await WaitForAsync(jobs, job.Id, j => j.History.Count >= 1 || j.Status is not (JobStatus.Pending or JobStatus.Running),
                TimeSpan.FromSeconds(120), Logs);
            Assert.True(struck.Status == JobStatus.Running, $"{struck.Status} before the freeze");
            // Both workers stop (SIGSTOP) for longer than the coordinator's 6 s window: both are lost, though alive.
            foreach (var w in workers) w.Signal(ProcessSignals.SIGSTOP);
            await Task.Delay(TimeSpan.FromSeconds(9));
            foreach (var w in workers) w.Signal(ProcessSignals.SIGCONT);
            var done = await WaitForAsync(jobs, job.Id, j => j.Status is not (JobStatus.Pending or JobStatus.Running), TimeSpan.FromSeconds(180), Logs);
            Assert.True(done.Status == JobStatus.Completed, done.Error + "\n" + Logs());
            Assert.True(done.History.Select(e => e.Epoch).SequenceEqual(Enumerable.Range(1, spec.Epochs)),
                $"history: {string.Join(", ", done.History.Select(e => e.Epoch))}; events: {done.Events}\n{Logs()}");
            output.WriteLine($"events: {done.Events}");
            Assert.Contains(done.Events, e => e.Reason.Contains("no heartbeat"));
        }
        finally
        {
            foreach (var w in workers) w.Dispose();
        }
    }

    [Fact]
    public void A_job_below_its_minimum_fails_within_its_wait_naming_the_loss_and_leaves_no_process_behind()
    {
        SyntheticDigits.Write(_dir, train: 2000, test: 100);
        using var local = BackgroundProcess.Disttrain(["local", "--workers", "2", "--min-workers", "2", "--wait-for-workers", "3", "--dataset", "mnist",
            "--model", "mnist-cnn", "--epochs", "50", "--batch-size", "32", "--data-dir", _dir, "--no-metrics"], Env);
        local.WaitForLine(l => l.Contains("epoch 1/50"), TimeSpan.FromSeconds(120)); // training, mid-run
        int[] pids = BackgroundProcess.LocalPids(local.Output);
        Assert.Equal(3, pids.Length);
        var killed = DateTime.UtcNow;
        Assert.True(ProcessSignals.Send(pids[2], ProcessSignals.SIGKILL)); // a worker
        // Lost at once (its ring breaks), then 3 s of waiting for a worker that never comes.
        Assert.Equal(1, local.ExitsWithin(TimeSpan.FromSeconds(60)));
        Assert.True(DateTime.UtcNow - killed < TimeSpan.FromSeconds(20), $"failed {(DateTime.UtcNow - killed).TotalSeconds:F1} s after the kill");
        Assert.Matches(@"job-1 failed: fewer than its minimum of 2 workers since [0-9:]+ UTC \(rank \d: .+\); no worker joined within 3 s", local.Output);
        BackgroundProcess.AssertAllGone(local.Output);
    }
}
