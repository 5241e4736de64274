using DistTrain.Protos;

namespace DistTrain.Coordinator.Tests;

public class JobRegistryTests
{
    private static JobRegistry Registry() => new(_ => new PreparedDataset("abc123", "/nonexistent", 1000, 200, [28, 28, 1]));

    private static JobSpec Spec(int workers = 2, int batch = 128) =>
        new() { Model = "mnist-mlp", Dataset = "mnist", Epochs = 2, GlobalBatchSize = batch, Workers = workers, Seed = 1 };

    [Fact]
    public async Task A_job_starts_when_enough_workers_have_registered_and_ranks_follow_registration()
    {
        var r = Registry();
        var job = r.Submit(Spec());
        Assert.Equal(JobStatus.Pending, job.Status);
        Assert.Equal(7, job.StepsPerEpoch); // 1000 / 128, the remainder sits out
        var w0 = r.Register("http://10.0.0.1:7000", 1);
        Assert.Equal(JobStatus.Pending, r.Get(job.Id).Status);
        var w1 = r.Register("http://10.0.0.2:7000", 1);
        var a0 = await r.WaitForAssignmentAsync(w0, CancellationToken.None);
        var a1 = await r.WaitForAssignmentAsync(w1, CancellationToken.None);
        Assert.Equal((0, 1, 2), (a0.Rank, a1.Rank, a0.WorldSize));
        Assert.Equal(["http://10.0.0.1:7000", "http://10.0.0.2:7000"], a1.Peers);
        Assert.Equal(a0.Generation, a1.Generation);
        Assert.Equal("abc123", a0.DatasetDigest);
        Assert.Equal(JobStatus.Running, r.Get(job.Id).Status);
    }

    [Fact]
    public void Progress_history_and_completion_come_from_rank_0()
    {
        var r = Registry();
        var job = r.Submit(Spec(workers: 1));
        var w = r.Register("http://127.0.0.1:7001", 1);
        Assert.True(r.Report(new ProgressReport { WorkerId = w, JobId = job.Id, Rank = 0, Epoch = 1, Step = 3, Loss = 0.5 }));
        Assert.Equal((1, 3, 0.5), (r.Get(job.Id).Epoch, r.Get(job.Id).Step, r.Get(job.Id).Loss));
        r.Report(new ProgressReport { WorkerId = w, JobId = job.Id, Rank = 0, Epoch = 1, EpochDone = true, TestAccuracy = 0.9 });
        r.Report(new ProgressReport { WorkerId = w, JobId = job.Id, Rank = 0, Epoch = 2, EpochDone = true, TestAccuracy = 0.95, Finished = true });
        var done = r.Get(job.Id);
        Assert.Equal(JobStatus.Completed, done.Status);
        Assert.Equal([0.9, 0.95], done.History.Select(e => e.TestAccuracy));

    }

    [Fact]
    public void A_failing_rank_fails_the_job_with_its_message_and_stops_the_others()
    {
        var r = Registry();
        var job = r.Submit(Spec());
        var w0 = r.Register("http://127.0.0.1:7001", 1);
        var w1 = r.Register("http://127.0.0.1:7002", 1);
        Assert.False(r.Report(new ProgressReport { WorkerId = w1, JobId = job.Id, Rank = 1, Error = "rank 1: rank 0 sent nothing for 60 s" }));
        var failed = r.Get(job.Id);
        Assert.Equal(JobStatus.Failed, failed.Status);
        Assert.Equal("rank 1: rank 1: rank 0 sent nothing for 60 s", failed.Error);
        Assert.False(r.Report(new ProgressReport { WorkerId = w0, JobId = job.Id, Rank = 0, Epoch = 1 }));
    }

    [Fact]
    public void Cancelling_stops_a_job_and_cannot_be_repeated()
    {
        var r = Registry();
        var job = r.Submit(Spec());
        Assert.Equal(JobStatus.Cancelled, r.Cancel(job.Id).Status);
        var e = Assert.Throws<InvalidOperationException>(() => r.Cancel(job.Id));
        Assert.Contains("has already ended (Cancelled)", e.Message);
        Assert.Contains("no job job-9", Assert.Throws<KeyNotFoundException>(() => r.Get("job-9")).Message);
    }

    [Theory]
    [InlineData(3, 128, "cannot be split evenly across 3 workers")]
    [InlineData(0, 128, "at least one worker")]
    [InlineData(2, 2048, "fewer than one global batch of 2048")]
    public void Unworkable_jobs_are_refused_at_submission(int workers, int batch, string expected)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => Registry().Submit(Spec(workers, batch)));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_worker_must_advertise_a_reachable_url()
    {
        Assert.Contains("not an absolute URL", Assert.Throws<ArgumentException>(() => Registry().Register("10.0.0.1:7000", 1)).Message);
    }
}
