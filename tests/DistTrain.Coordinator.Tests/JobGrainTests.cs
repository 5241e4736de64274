using DistTrain.State;

namespace DistTrain.Coordinator.Tests;

/// <summary>
/// Every job status transition through a real silo's JobGrain, legal and illegal; illegal ones are refused with a
/// message naming the job, its status and the change, and leave the stored record as it was.
/// </summary>
public class JobGrainTests : IAsyncLifetime
{
    private Silo _silo = null!;
    private string _stateDir = null!;

    public async Task InitializeAsync()
    {
        _stateDir = Silo.TempStateDir();
        _silo = await Silo.StartAsync(StateStorageChoice.File(_stateDir));
    }

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    private static readonly JobSubmitted Submit = new("{\"model\":\"mnist-mlp\"}", 7, 1000, 200, "d", 2);
    private static readonly JobStarted Start = new(["http://10.0.0.1:7000", "http://10.0.0.2:7000"], 3, ["w1", "w2"]);
    private static readonly JobEpochEnded EpochEnd = new(new EpochRecord(1, 0.3, 0.9, 0.25, 0.92, 5000, 1.6));

    // A fresh job brought to `phase` by legal changes.
    private async Task<IJobGrain> JobIn(JobPhase? phase)
    {
        var job = _silo.Grains.GetGrain<IJobGrain>($"job-{Guid.NewGuid():N}");
        if (phase is null) return job;
        await job.Update(Submit);
        if (phase == JobPhase.Pending) return job;
        if (phase is JobPhase.Cancelled) { await job.Update(new JobCancelled("by request")); return job; }
        if (phase is JobPhase.Failed) { await job.Update(new JobFailed("rank 1: out of memory")); return job; }
        await job.Update(Start);
        if (phase == JobPhase.Completed) await job.Update(new JobCompleted());
        return job;
    }

    public static TheoryData<JobPhase?, string, JobPhase> Legal => new()
    {
        { null, "submit", JobPhase.Pending },
        { JobPhase.Pending, "start", JobPhase.Running },
        { JobPhase.Pending, "fail", JobPhase.Failed },
        { JobPhase.Pending, "cancel", JobPhase.Cancelled },
        { JobPhase.Running, "progress", JobPhase.Running },
        { JobPhase.Running, "epoch end", JobPhase.Running },
        { JobPhase.Running, "checkpoint", JobPhase.Running },
        { JobPhase.Running, "complete", JobPhase.Completed },
        { JobPhase.Running, "fail", JobPhase.Failed },
        { JobPhase.Running, "cancel", JobPhase.Cancelled },
        { JobPhase.Completed, "checkpoint", JobPhase.Completed },
    };

    public static TheoryData<JobPhase?, string> Illegal => new()
    {
        { null, "start" }, { null, "progress" }, { null, "complete" }, { null, "cancel" },
        { JobPhase.Pending, "submit" }, { JobPhase.Pending, "progress" }, { JobPhase.Pending, "epoch end" }, { JobPhase.Pending, "complete" },
        { JobPhase.Pending, "checkpoint" },
        { JobPhase.Running, "submit" }, { JobPhase.Running, "start" },
        { JobPhase.Completed, "start" }, { JobPhase.Completed, "progress" }, { JobPhase.Completed, "complete" }, { JobPhase.Completed, "fail" },
        { JobPhase.Completed, "cancel" },
        { JobPhase.Failed, "start" }, { JobPhase.Failed, "progress" }, { JobPhase.Failed, "complete" }, { JobPhase.Failed, "cancel" },
        { JobPhase.Failed, "fail" }, { JobPhase.Failed, "checkpoint" },
        { JobPhase.Cancelled, "start" }, { JobPhase.Cancelled, "epoch end" }, { JobPhase.Cancelled, "complete" }, { JobPhase.Cancelled, "fail" },
        { JobPhase.Cancelled, "cancel" },
    };

    private static readonly CheckpointRecord Checkpoint = new(new string('a', 64), 1, 20, DateTime.UnixEpoch, 1234, false, "job-x");

    private static JobChange Change(string name) => name switch
    {
        "submit" => Submit,
        "start" => Start,
        "progress" => new JobProgressed(1, 4, 0.5, 0.8, 4000),
        "epoch end" => EpochEnd,
        "checkpoint" => new JobCheckpointed(Checkpoint),
        "complete" => new JobCompleted(),
        "fail" => new JobFailed("rank 1: rank 0 sent nothing for 60 s"),
        _ => new JobCancelled("by request"),
    };

    [Theory]
    [MemberData(nameof(Legal))]
    public async Task Legal_transitions_are_applied_and_stored(JobPhase? from, string change, JobPhase to)
    {
        var job = await JobIn(from);
        var record = await job.Update(Change(change));
        Assert.Equal(to, record.Phase);
        Assert.Equal(record, await job.Get());
        switch (change)
        {
            case "start": Assert.Equal((Start.Workers, 3L), (record.Workers, record.Generation)); break;
            case "epoch end": Assert.Equal([EpochEnd.Epoch], record.History); break;
            case "checkpoint":
                Assert.Equal(Checkpoint.Digest, record.Checkpoint);
                Assert.Equal([Checkpoint], record.Checkpoints!);
                break;
            case "fail": Assert.Equal("rank 1: rank 0 sent nothing for 60 s", record.Error); break;
        }
    }

    [Fact]
    public async Task Checkpoints_are_kept_by_training_position_so_a_late_upload_never_passes_for_the_latest()
    {
        var job = await JobIn(JobPhase.Running);
        CheckpointRecord At(int epochs, int step) => new(new string((char)('a' + epochs * 4 + step / 10), 64), epochs, step, DateTime.UtcNow, 10, false, "job-x");
        foreach (var c in new[] { At(1, 10), At(1, 30), At(1, 20), At(2, 0) }) await job.Update(new JobCheckpointed(c));
        var record = await job.Update(new JobCheckpointed(At(1, 0))); // a former rank 0's upload, finishing late
        Assert.Equal([(1, 20), (1, 30), (2, 0)], record.Checkpoints!.Select(c => (c.EpochsDone, c.Step)));
        Assert.Equal(At(2, 0).Digest, record.Checkpoint);
        Assert.Equal([At(2, 0).Digest, At(1, 30).Digest, At(1, 20).Digest], record.StartingPoints().Select(c => c.Digest));
    }

    [Theory]
    [MemberData(nameof(Illegal))]
    public async Task Illegal_transitions_are_refused_by_name_and_change_nothing(JobPhase? from, string change)
    {
        var job = await JobIn(from);
        var before = await job.Get();
        var e = await Assert.ThrowsAsync<InvalidJobChangeException>(() => job.Update(Change(change)));
        string id = job.GetPrimaryKeyString();
        Assert.Contains(id, e.Message);
        Assert.Contains(from is null ? "does not exist" : change == "submit" ? "cannot be submitted again" : $"is {from}", e.Message);
        Assert.Equal(before, await job.Get());
    }

    [Fact]
    public async Task A_job_completed_with_a_gap_in_its_history_says_which_epochs_it_lacks_and_one_without_says_nothing()
    {
        var gapped = await JobIn(JobPhase.Running);
        await gapped.Update(EpochEnd);
        await gapped.Update(new JobEpochEnded(EpochEnd.Epoch with { Epoch = 4 }));
        var done = await gapped.Update(new JobCompleted());
        var warning = Assert.Single(done.Events!);
        Assert.Equal((JobEvent.Warning, "completed without the report of epochs 2, 3; the final model went through them"), (warning.Kind, warning.Reason));

        var whole = await JobIn(JobPhase.Running);
        await whole.Update(EpochEnd);
        await whole.Update(new JobEpochEnded(EpochEnd.Epoch with { Epoch = 2 }));
        Assert.Empty((await whole.Update(new JobCompleted())).Events!);
    }

    [Fact]
    public async Task A_finished_job_and_its_history_survive_a_silo_restart()
    {
        var job = await JobIn(JobPhase.Running);
        string id = job.GetPrimaryKeyString();
        await job.Update(EpochEnd);
        // A diverged epoch: its non-finite figures are stored as they are, not refused.
        await job.Update(new JobProgressed(2, 3, double.NaN, double.NaN, 1000));
        await job.Update(new JobEpochEnded(EpochEnd.Epoch with { Epoch = 2, Loss = double.NaN, TestLoss = double.PositiveInfinity, TestAccuracy = 0.1 }));
        var finished = await job.Update(new JobCompleted());
        await _silo.DisposeAsync();

        _silo = await Silo.StartAsync(StateStorageChoice.File(_stateDir));
        var again = await _silo.Grains.GetGrain<IJobGrain>(id).Get();
        Assert.NotNull(again);
        Assert.Equal(JobPhase.Completed, again.Phase);
        Assert.Equal(finished.History, again.History);
        Assert.True(double.IsNaN(again.History[1].Loss) && double.IsPositiveInfinity(again.History[1].TestLoss));
        Assert.Equal(finished.Workers, again.Workers);
    }

    [Fact]
    public async Task The_file_store_writes_whole_files_only()
    {
        var job = await JobIn(JobPhase.Running);
        for (int i = 0; i < 20; i++) await job.Update(new JobProgressed(1, i, 1.0 / (i + 1), 0.5, 1000));
        var files = Directory.GetFiles(_stateDir, "*", SearchOption.AllDirectories);
        Assert.DoesNotContain(files, f => f.EndsWith(".tmp", StringComparison.Ordinal)); // every write was renamed into place
        // The record, and beside it the per-step curve (its first point written at once, the rest within its interval).
        var mine = files.Where(f => f.Contains(job.GetPrimaryKeyString(), StringComparison.Ordinal)).ToList();
        Assert.Equal(2, mine.Count);
        string file = Assert.Single(mine, f => Path.GetRelativePath(_stateDir, f).StartsWith("job" + Path.DirectorySeparatorChar, StringComparison.Ordinal));
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(file));
        Assert.Equal(19, doc.RootElement.GetProperty("State").GetProperty("Record").GetProperty("Step").GetInt32());
        string curve = Assert.Single(mine, f => Path.GetRelativePath(_stateDir, f).StartsWith("series" + Path.DirectorySeparatorChar, StringComparison.Ordinal));
        using var series = System.Text.Json.JsonDocument.Parse(File.ReadAllText(curve));
        Assert.True(series.RootElement.GetProperty("State").GetProperty("Series").GetProperty("Points").GetArrayLength() >= 1);
    }
}
