using DistTrain.Protos;
using Xunit.Abstractions;

namespace DistTrain.Cli.Tests;

/// <summary>
/// Checkpoints with real processes and real signals: a job whose workers are all killed with kill -9 mid-epoch is
/// resumed from the coordinator's store, by hand (submit --resume-from) or by itself (--max-restarts), and ends with
/// the parameters of the same job run straight through, bit for bit, dropout included. A corrupt newest checkpoint is
/// passed over with a warning naming its file.
/// </summary>
public class CheckpointTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-ckpt-").FullName;
    private Dictionary<string, string> Env => new() { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache") };
    private readonly List<BackgroundProcess> _processes = [];

    public void Dispose()
    {
        foreach (var p in _processes) p.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    // A small MLP with dropout: its masks must continue their streams across the resume for the parameters to match.
    private const string Model = """
        { "name": "mlp-dropout", "input_shape": [28, 28, 1],
          "layers": [ { "type": "flatten" }, { "type": "dense", "units": 384, "activation": "relu" }, { "type": "dropout", "rate": 0.3, "seed": 5 },
                      { "type": "dense", "units": 10, "activation": "softmax" } ],
          "optimizer": { "type": "adam", "learning_rate": 0.002 }, "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"] }
        """;

    // 7200 samples in batches of 60: 120 steps an epoch (long enough for the test to strike mid-epoch 3), a checkpoint every 5.
    private static JobSpec Spec(int maxRestarts = 0) => new()
    {
        Model = Model, Dataset = "mnist", Epochs = 4, GlobalBatchSize = 60, Workers = 2, Seed = 3, CheckpointEvery = 5, WaitForWorkersSeconds = 2,
        KeepCheckpoints = 3, MaxRestarts = maxRestarts,
    };

    private string StartCoordinator()
    {
        SyntheticDigits.Write(_dir, train: 7200, test: 200);
        int port = BackgroundProcess.FreePort();
        var coordinator = BackgroundProcess.Disttrain(["coordinator", "--bind", "127.0.0.1", "--port", port.ToString(), "--state-dir",
            Path.Combine(_dir, "state"), "--data-dir", _dir, "--missed-heartbeats", "2"], Env);
        _processes.Add(coordinator);
        coordinator.WaitForLine(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        return $"http://127.0.0.1:{port}";
    }

    private List<BackgroundProcess> StartWorkers(string url, int n)
    {
        var started = Enumerable.Range(0, n).Select(_ => BackgroundProcess.Disttrain(["worker", "--coordinator", url, "--bind", "127.0.0.1"], Env)).ToList();
        _processes.AddRange(started);
        return started;
    }

    private string Logs() => string.Join("\n----\n", _processes.Select(p => p.Output));

    private async Task<Job> WaitForAsync(Jobs.JobsClient jobs, string id, Func<Job, bool> done, int seconds = 120)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var job = await jobs.GetAsync(new GetJobRequest { Id = id }, deadline: DateTime.UtcNow.AddSeconds(10));
            if (done(job)) return job;
            Assert.True(DateTime.UtcNow < until, $"{id} is {job.Status} at epoch {job.Epoch}, step {job.Step} after {seconds} s\n{Logs()}");
            await Task.Delay(20);
        }
    }

    private static bool Ended(Job j) => j.Status is not (JobStatus.Pending or JobStatus.Running);

    // Runs a job straight through and returns its id and final parameters.
    private async Task<(string Id, float[] Values)> StraightAsync(string url, Jobs.JobsClient jobs)
    {
        var job = await jobs.SubmitAsync(new SubmitJobRequest { Spec = Spec() });
        job = await WaitForAsync(jobs, job.Id, Ended);
        Assert.True(job.Status == JobStatus.Completed, job.Error + "\n" + Logs());
        var final = Assert.Single(job.Checkpoints, c => c.Final);
        Assert.Equal((4, 0), (final.EpochsDone, final.Step));
        return (job.Id, (await StoredModels.DownloadAsync(url, job.Id)).Model.Store.Values);
    }

    // Kills every worker with kill -9 once the job holds `count` checkpoints from mid-epoch 3, and returns the job then.
    private async Task<Job> KillMidEpoch3Async(Jobs.JobsClient jobs, string id, List<BackgroundProcess> workers, int count = 1)
    {
        var struck = await WaitForAsync(jobs, id, j => Ended(j) || j.Checkpoints.Count(c => c.EpochsDone == 2 && c.Step > 0) >= count);
        Assert.True(struck.Status == JobStatus.Running && struck.Epoch <= 3, $"{id} was {struck.Status} at epoch {struck.Epoch} before the kill\n{Logs()}");
        // Every worker gets its SIGKILL before any is waited for: one left alive even briefly trains on alone, at another world size.
        foreach (var w in workers) Assert.True(ProcessSignals.Send(w.Pid, ProcessSignals.SIGKILL), $"worker {w.Pid} was already gone");
        foreach (var w in workers) w.Kill();
        return struck;
    }

    [Fact]
    public async Task A_job_killed_mid_epoch_resumes_from_the_store_bit_exact_passing_over_a_corrupt_newest_checkpoint()
    {
        string url = StartCoordinator();
        using var channel = CoordinatorChannel.Create(url);
        var jobs = new Jobs.JobsClient(channel);
        var workers = StartWorkers(url, 2);
        var (straightId, straight) = await StraightAsync(url, jobs);

        var broken = await jobs.SubmitAsync(new SubmitJobRequest { Spec = Spec() });
        await KillMidEpoch3Async(jobs, broken.Id, workers, count: 2); // so that the one before the newest is from mid-epoch 3 too
        // Once the coordinator has found both lost (it would place a new job on a worker it still believes idle), the job
        // is cancelled, so that new workers are not taken into it.
        await WaitForAsync(jobs, broken.Id, j => j.Events.Any(e => e.NewWorld == 0), seconds: 30);
        var early = Spec();
        early.ResumeFrom = broken.Id;
        var refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => jobs.SubmitAsync(new SubmitJobRequest { Spec = early }).ResponseAsync);
        Assert.Contains("once it has ended", refused.Status.Detail); // it would go on pruning what the new job starts from
        await jobs.CancelAsync(new CancelJobRequest { Id = broken.Id });
        var other = Spec();
        (other.ResumeFrom, other.Model) = (broken.Id, "mnist-mlp");
        refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => jobs.SubmitAsync(new SubmitJobRequest { Spec = other }).ResponseAsync);
        Assert.Equal((Grpc.Core.StatusCode.InvalidArgument, true), (refused.StatusCode, refused.Status.Detail.Contains("model or optimizer differs")));
        var kept = (await new Checkpoints.CheckpointsClient(channel).ListAsync(new ListCheckpointsRequest { JobId = broken.Id })).Checkpoints;
        Assert.Equal(3, kept.Count); // 50 or more were taken; the newest 3 are kept
        Assert.True(kept[0].EpochsDone * 120 + kept[0].Step > kept[1].EpochsDone * 120 + kept[1].Step, "newest first");
        var listed = CliProcess.Run(["checkpoints", broken.Id, "--coordinator", url, "--json"], Env, timeoutSeconds: 60);
        Assert.True(listed.ExitCode == 0, listed.Stderr);
        using (var doc = System.Text.Json.JsonDocument.Parse(listed.LastLine))
            Assert.Equal(kept.Select(c => c.Digest), doc.RootElement.EnumerateArray().Select(c => c.GetProperty("digest").GetString()));
        string storeDir = Path.Combine(_dir, "state", "checkpoints", "sha256");
        string newest = Path.Combine(storeDir, kept[0].Digest[..2], kept[0].Digest + ".dtm");
        Assert.All(kept, c => Assert.True(File.Exists(Path.Combine(storeDir, c.Digest[..2], c.Digest + ".dtm"))));
        Assert.Equal(3 + 3, Directory.GetFiles(storeDir, "*.dtm", SearchOption.AllDirectories).Length); // the straight job's newest 3, and these
        var bytes = File.ReadAllBytes(newest);
        bytes[bytes.Length / 2] ^= 0x40; // one flipped bit on the disk
        File.WriteAllBytes(newest, bytes);

        StartWorkers(url, 2);
        File.WriteAllText(Path.Combine(_dir, "model.json"), Model);
        var resume = CliProcess.Run(["submit", "--coordinator", url, "--resume-from", broken.Id, "--model", Path.Combine(_dir, "model.json"),
            "--dataset", "mnist", "--epochs", "4", "--batch-size", "60", "--seed", "3", "--workers", "2", "--save", Path.Combine(_dir, "resumed.dtm")],
            Env, timeoutSeconds: 180);
        Assert.True(resume.ExitCode == 0, resume.Stderr + "\n" + Logs());
        Assert.Contains($"warning: checkpoint {newest} is corrupt", resume.Stderr);
        Assert.Contains($"resumes from {broken.Id}'s checkpoint {kept[1].Digest[..12]}", resume.Stderr);

        var resumedJob = await jobs.GetAsync(new GetJobRequest { Id = "job-3" });
        Assert.DoesNotContain(resumedJob.Events, e => e.Kind == "membership"); // trained on 2 workers throughout, as the straight job did
        var resumed = Engine.Model.ModelFile.Read(Path.Combine(_dir, "resumed.dtm"));
        Assert.Equal(4, resumed.Training!.Epoch);
        Assert.True(straight.AsSpan().SequenceEqual(resumed.Model.Store.Values),
            $"the resumed job's parameters differ from {straightId}'s: max |Δθ| = {straight.Zip(resumed.Model.Store.Values, (a, b) => Math.Abs(a - b)).Max():E2}\n{Logs()}");
        Assert.Equal(4, resumed.Training.History.Count);
        Assert.True(kept[1].EpochsDone == 2 && kept[1].Step > 0, $"resumed from {kept[1].EpochsDone} epochs + {kept[1].Step} steps, not mid-epoch 3");
        output.WriteLine($"resumed {broken.Id} from {kept[1].EpochsDone} epochs + {kept[1].Step} steps, passing over {kept[0].Digest[..12]}: bitwise equal to {straightId}");
    }

    [Fact]
    public async Task A_job_whose_workers_all_die_restarts_by_itself_from_its_latest_checkpoint_and_completes_bit_exact()
    {
        string url = StartCoordinator();
        using var channel = CoordinatorChannel.Create(url);
        var jobs = new Jobs.JobsClient(channel);
        var workers = StartWorkers(url, 2);
        var (straightId, straight) = await StraightAsync(url, jobs);

        var job = await jobs.SubmitAsync(new SubmitJobRequest { Spec = Spec(maxRestarts: 1) });
        var struck = await KillMidEpoch3Async(jobs, job.Id, workers);
        // Lost by their heartbeats, then 2 s of waiting for a worker: back to Pending with its restart recorded.
        var pending = await WaitForAsync(jobs, job.Id, j => j.Restarts == 1 || Ended(j), seconds: 60);
        Assert.True(pending.Status == JobStatus.Pending, $"{pending.Status}: {pending.Error}\n{Logs()}");
        var restart = Assert.Single(pending.Events, e => e.Kind == "restart");
        Assert.Contains("restart 1 of 1", restart.Reason);

        StartWorkers(url, 2);
        var done = await WaitForAsync(jobs, job.Id, Ended);
        Assert.True(done.Status == JobStatus.Completed, done.Error + "\n" + Logs());
        Assert.Equal([1, 2, 3, 4], done.History.Select(e => e.Epoch));
        Assert.DoesNotContain(done.Events.SkipWhile(e => e.Kind != "restart"), e => e.Kind == "membership"); // 2 workers after the restart, as before
        var final = (await StoredModels.DownloadAsync(url, job.Id)).Model.Store.Values;
        Assert.True(straight.AsSpan().SequenceEqual(final),
            $"the restarted job's parameters differ from {straightId}'s: max |Δθ| = {straight.Zip(final, (a, b) => Math.Abs(a - b)).Max():E2}\n{done}\n{Logs()}");
        output.WriteLine($"{job.Id} killed at epoch {struck.Epoch}, step {struck.Step}; restarted: {restart.Reason}; bitwise equal to {straightId}");
    }

    [Fact]
    public void Local_save_leaves_the_trained_model_and_evaluate_gives_the_jobs_test_accuracy()
    {
        SyntheticDigits.Write(_dir, train: 600, test: 200);
        string model = Path.Combine(_dir, "m.dtm");
        var run = CliProcess.Run(["local", "--workers", "2", "--dataset", "mnist", "--model", "mnist-mlp", "--epochs", "2", "--batch-size", "32",
            "--data-dir", _dir, "--no-metrics", "--save", model, "--json"], Env, timeoutSeconds: 180);
        Assert.True(run.ExitCode == 0, run.Stderr);
        using var result = System.Text.Json.JsonDocument.Parse(run.LastLine);
        double accuracy = result.RootElement.GetProperty("test_accuracy").GetDouble();
        var eval = CliProcess.Run(["evaluate", "--model-file", model, "--dataset", "mnist", "--data-dir", _dir, "--json"], Env);
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        using var again = System.Text.Json.JsonDocument.Parse(eval.LastLine);
        Assert.Equal(accuracy, again.RootElement.GetProperty("test_accuracy").GetDouble(), 9);
    }
}
