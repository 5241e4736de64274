using DistTrain.Protos;

namespace DistTrain.Coordinator.Tests;

/// <summary>The registry over a real silo with the embedded file storage: assignment, progress, failure, cancel.</summary>
public class JobRegistryTests : IAsyncLifetime
{
    private Silo _silo = null!;

    public async Task InitializeAsync() => _silo = await Silo.StartAsync(StateStorageChoice.File(Silo.TempStateDir()));

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    private JobRegistry Registry() => new(_silo.Grains, _ => new PreparedDataset("abc123", "/nonexistent", 1000, 200, [28, 28, 1]));

    private static JobSpec Spec(int workers = 2, int batch = 128) =>
        new() { Model = "mnist-mlp", Dataset = "mnist", Epochs = 2, GlobalBatchSize = batch, Workers = workers, Seed = 1 };

    [Fact]
    public async Task A_job_starts_when_enough_workers_have_registered_and_ranks_follow_registration()
    {
        var r = Registry();
        var job = await r.SubmitAsync(Spec());
        Assert.Equal(JobStatus.Pending, job.Status);
        Assert.Equal(7, job.StepsPerEpoch); // 1000 / 128, the remainder sits out
        var w0 = await r.RegisterAsync("http://10.0.0.1:7000", 1);
        Assert.Equal(JobStatus.Pending, (await r.GetAsync(job.Id)).Status);
        var w1 = await r.RegisterAsync("http://10.0.0.2:7000", 1);
        var a0 = await r.WaitForAssignmentAsync(w0, CancellationToken.None);
        var a1 = await r.WaitForAssignmentAsync(w1, CancellationToken.None);
        Assert.Equal((0, 1, 2), (a0.Rank, a1.Rank, a0.WorldSize));
        Assert.Equal(["http://10.0.0.1:7000", "http://10.0.0.2:7000"], a1.Peers);
        Assert.Equal(a0.Generation, a1.Generation);
        Assert.Equal("abc123", a0.DatasetDigest);
        var running = await r.GetAsync(job.Id);
        Assert.Equal(JobStatus.Running, running.Status);
        Assert.Equal(Spec().Model, running.Spec.Model);
    }

    [Fact]
    public async Task Progress_history_and_completion_come_from_rank_0()
    {
        var r = Registry();
        var job = await r.SubmitAsync(Spec(workers: 1));
        var w = await r.RegisterAsync("http://127.0.0.1:7001", 1);
        Assert.True(await r.ReportAsync(new ProgressReport { WorkerId = w, JobId = job.Id, Rank = 0, Epoch = 1, Step = 3, Loss = 0.5 }));
        var mid = await r.GetAsync(job.Id);
        Assert.Equal((1, 3, 0.5), (mid.Epoch, mid.Step, mid.Loss));
        await r.ReportAsync(new ProgressReport { WorkerId = w, JobId = job.Id, Rank = 0, Epoch = 1, EpochDone = true, TestAccuracy = 0.9 });
        await r.ReportAsync(new ProgressReport
        {
            WorkerId = w, JobId = job.Id, Rank = 0, Epoch = 2, EpochDone = true, TestAccuracy = 0.95, Finished = true,
        });
        var done = await r.GetAsync(job.Id);
        Assert.Equal(JobStatus.Completed, done.Status);
        Assert.Equal([0.9, 0.95], done.History.Select(e => e.TestAccuracy));
        Assert.False(await r.ReportAsync(new ProgressReport { WorkerId = w, JobId = job.Id, Rank = 0, Epoch = 2, Step = 1 }));
    }

    [Fact]
    public async Task A_failing_rank_fails_the_job_with_its_message_and_stops_the_others()
    {
        var r = Registry();
        var job = await r.SubmitAsync(Spec());
        var w0 = await r.RegisterAsync("http://127.0.0.1:7001", 1);
        var w1 = await r.RegisterAsync("http://127.0.0.1:7002", 1);
        Assert.False(await r.ReportAsync(new ProgressReport { WorkerId = w1, JobId = job.Id, Rank = 1, Error = "rank 0 sent nothing for 60 s" }));
        var failed = await r.GetAsync(job.Id);
        Assert.Equal(JobStatus.Failed, failed.Status);
        Assert.Equal("rank 1: rank 0 sent nothing for 60 s", failed.Error);
        Assert.False(await r.ReportAsync(new ProgressReport { WorkerId = w0, JobId = job.Id, Rank = 0, Epoch = 1 }));
    }

    [Theory]
    [InlineData(0, "rank 0: the ring link from rank 1 failed: Unavailable", "rank 0: the ring link from rank 1 failed: Unavailable")]
    [InlineData(1, "the dataset does not hash to its digest", "rank 1: the dataset does not hash to its digest")]
    [InlineData(1, "rank 0: a message about another rank", "rank 1: rank 0: a message about another rank")]
    public async Task A_failed_rank_is_named_once_in_the_reason(int rank, string error, string reason)
    {
        var r = Registry();
        var job = await r.SubmitAsync(Spec());
        var w0 = await r.RegisterAsync("http://127.0.0.1:7001", 1);
        var w1 = await r.RegisterAsync("http://127.0.0.1:7002", 1);
        await r.ReportAsync(new ProgressReport { WorkerId = rank == 0 ? w0 : w1, JobId = job.Id, Rank = rank, Error = error });
        Assert.Equal(reason, (await r.GetAsync(job.Id)).Error);
    }

    [Fact]
    public async Task A_worker_that_leaves_a_job_at_its_minimum_fails_it_once_and_an_idle_one_is_never_assigned()
    {
        var r = Registry();
        var spec = Spec();
        spec.MinWorkers = 2;
        spec.WaitForWorkersSeconds = 1;
        var job = await r.SubmitAsync(spec);
        var w0 = await r.RegisterAsync("http://127.0.0.1:7001", 1);
        var w1 = await r.RegisterAsync("http://127.0.0.1:7002", 1);
        await r.LeaveAsync(w1, "it received SIGTERM");
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        Job failed;
        while ((failed = await r.GetAsync(job.Id)).Status != JobStatus.Failed)
        {
            Assert.True(DateTime.UtcNow < until, $"{job.Id} is still {failed.Status}");
            await Task.Delay(50);
        }
        Assert.Contains($"(rank 1: {w1} left: it received SIGTERM); no worker joined within 1 s", failed.Error);
        Assert.Equal(State.WorkerPhase.Left, (await _silo.Grains.GetGrain<State.IWorkerGrain>(w1).Get())!.Phase);
        // A peer's report of the broken ring, arriving after the leave, does not change the reason.
        Assert.False(await r.ReportAsync(new ProgressReport { WorkerId = w0, JobId = job.Id, Rank = 0, Error = "rank 0: the ring link from rank 1 failed" }));
        Assert.Equal(failed.Error, (await r.GetAsync(job.Id)).Error);

        // w0 is idle again; an idle worker that leaves is not given the next job, a new one is.
        await r.LeaveAsync(w0, "it received SIGINT");
        var next = await r.SubmitAsync(Spec(workers: 1));
        var w2 = await r.RegisterAsync("http://127.0.0.1:7003", 1);
        var a = await r.WaitForAssignmentAsync(w2, CancellationToken.None);
        Assert.Equal(next.Id, a.JobId);
        await Assert.ThrowsAsync<State.UnknownWorkerException>(() => r.WaitForAssignmentAsync(w0, CancellationToken.None));
    }

    [Fact]
    public async Task Cancelling_stops_a_job_and_cannot_be_repeated()
    {
        var r = Registry();
        var job = await r.SubmitAsync(Spec());
        Assert.Equal(JobStatus.Cancelled, (await r.CancelAsync(job.Id)).Status);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => r.CancelAsync(job.Id));
        Assert.Contains($"{job.Id} is Cancelled (final); it cannot cancel", e.Message);
        Assert.Contains("no job job-999", (await Assert.ThrowsAsync<KeyNotFoundException>(() => r.GetAsync("job-999"))).Message);
    }

    [Fact]
    public async Task Ids_keep_counting_and_jobs_list_newest_first()
    {
        var r = Registry();
        var first = await r.SubmitAsync(Spec());
        var second = await r.SubmitAsync(Spec());
        Assert.NotEqual(first.Id, second.Id);
        var ids = (await r.ListAsync()).Select(j => j.Id).ToList();
        Assert.True(ids.IndexOf(second.Id) < ids.IndexOf(first.Id));
    }

    [Theory]
    [InlineData(3, 2, "a global batch of 2 leaves some of the 3 workers without a sample")]
    [InlineData(0, 128, "at least one worker")]
    [InlineData(2, 2048, "fewer than one global batch of 2048")]
    public async Task Unworkable_jobs_are_refused_at_submission(int workers, int batch, string expected)
    {
        var e = await Assert.ThrowsAnyAsync<ArgumentException>(() => Registry().SubmitAsync(Spec(workers, batch)));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public async Task Workers_are_recorded_with_address_rank_phase_and_last_heartbeat()
    {
        var r = Registry();
        await r.SubmitAsync(Spec(workers: 1));
        var w = await r.RegisterAsync("http://10.0.0.9:7000", 1);
        var grain = _silo.Grains.GetGrain<State.IWorkerGrain>(w);
        var assigned = await grain.Get();
        Assert.Equal(("http://10.0.0.9:7000", State.WorkerPhase.Training, 0), (assigned!.Address, assigned.Phase, assigned.Rank));
        await Task.Delay(20);
        Assert.True(await r.HeartbeatAsync(w));
        Assert.True((await grain.Get())!.LastHeartbeatUtc > assigned.LastHeartbeatUtc);
    }

    [Fact]
    public async Task A_worker_must_advertise_a_reachable_url()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Registry().RegisterAsync("10.0.0.1:7000", 1));
        Assert.Contains("not an absolute URL", e.Message);
    }

    [Fact]
    public async Task Another_coordinator_serves_a_jobs_dataset_by_preparing_it_again_from_the_jobs_spec()
    {
        await Registry().SubmitAsync(Spec());
        int prepared = 0;
        // A coordinator of the same cluster that never saw the submission, with nothing on its disk.
        var other = new JobRegistry(_silo.Grains, spec =>
        {
            prepared++;
            Assert.Equal("mnist", spec.Dataset);
            return new PreparedDataset("abc123", "/elsewhere", 1000, 200, [28, 28, 1]);
        }, _ => null);
        Assert.Equal("/elsewhere", (await other.DatasetAsync("abc123"))!.Path);
        Assert.Equal("/elsewhere", (await other.DatasetAsync("abc123"))!.Path);
        Assert.Equal(1, prepared); // once, then from memory
        Assert.Null(await other.DatasetAsync("feedbeef"));
    }
}
