using DistTrain.Protos;
using DistTrain.State;

namespace DistTrain.Coordinator.Tests;

/// <summary>
/// Liveness and placement decided in grains, on a real silo with the file storage and a 1 s heartbeat (so a worker
/// that misses 3 beats is lost within about 4 s, with room for a loaded CI machine): lost workers, identities that come back, and a restart that
/// keeps pending and running jobs.
/// </summary>
public class WorkerLivenessTests : IAsyncLifetime
{
    private static readonly TimeSpan Beat = TimeSpan.FromSeconds(1);
    private readonly string _state = Silo.TempStateDir();
    private Silo _silo = null!;

    public async Task InitializeAsync() => _silo = await Silo.StartAsync(StateStorageChoice.File(_state), Beat);

    public async Task DisposeAsync()
    {
        await _beats.CancelAsync();
        await Task.WhenAll(_beating);
        await _silo.DisposeAsync();
    }

    private readonly CancellationTokenSource _beats = new();
    private readonly List<Task> _beating = [];

    // A worker that beats until the test ends, as a live worker process would.
    private string Live(JobRegistry r, string id)
    {
        _beating.Add(KeepAliveAsync(r, id, _beats.Token));
        return id;
    }

    private static JobRegistry Registry(Silo silo) => new(silo.Grains, _ => new PreparedDataset("abc123", "/nonexistent", 1000, 200, [28, 28, 1]));

    private static JobSpec Spec(int workers) => new() { Model = "mnist-mlp", Dataset = "mnist", Epochs = 2, GlobalBatchSize = 128, Workers = workers, Seed = 1 };

    // Beats for a worker every 50 ms until cancelled, as a live worker process would.
    internal static async Task KeepAliveAsync(JobRegistry r, string id, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await r.HeartbeatAsync(id);
                await Task.Delay(50, stop);
            }
            catch (Exception e) when (e is OperationCanceledException or UnknownWorkerException)
            {
                return; // stopped, or lost: the tests assert on what the grains say
            }
        }
    }

    private async Task<WorkerRecord> WaitForPhaseAsync(string id, WorkerPhase phase)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var record = await _silo.Grains.GetGrain<IWorkerGrain>(id).Get();
            if (record!.Phase == phase) return record;
            Assert.True(DateTime.UtcNow < until, $"{id} is still {record.Phase}, not {phase}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_silent_worker_is_lost_and_its_job_goes_on_without_it_under_a_new_generation()
    {
        var r = Registry(_silo);
        var job = await r.SubmitAsync(Spec(2));
        string live = Live(r, await r.RegisterAsync("http://127.0.0.1:7001", 1, "e-live", "a"));
        await r.RegisterAsync("http://127.0.0.1:7002", 1, "e-silent", "b");
        var started = await r.WaitForAssignmentAsync(live, CancellationToken.None);
        Assert.Equal(2, started.WorldSize);

        // The survivor's long poll answers with the next worker set: itself alone, at rank 0.
        var next = await r.NextGenerationAsync(live, job.Id, started.Generation, CancellationToken.None);
        while (next.Generation == started.Generation) next = await r.NextGenerationAsync(live, job.Id, started.Generation, CancellationToken.None);
        Assert.Equal((0, 1, false, false), (next.Rank, next.WorldSize, next.Ended, next.Waiting));
        Assert.Equal(["http://127.0.0.1:7001"], next.Peers);
        var record = await r.GetAsync(job.Id);
        Assert.Equal(JobStatus.Running, record.Status);
        var e = Assert.Single(record.Events);
        Assert.Equal((2, 1, next.Generation), (e.OldWorld, e.NewWorld, e.Generation));
        Assert.Equal("rank 1: e-silent lost: no heartbeat for 3 s", e.Reason);

        // A worker that registers now joins it: the next generation has both, the joiner last.
        Live(r, await r.RegisterAsync("http://127.0.0.1:7003", 1, "e-joiner", "c"));
        var joined = await r.NextGenerationAsync(live, job.Id, next.Generation, CancellationToken.None);
        Assert.Equal(["http://127.0.0.1:7001", "http://127.0.0.1:7003"], joined.Peers);
        var joiner = await r.WaitForAssignmentAsync("e-joiner", CancellationToken.None);
        Assert.Equal((job.Id, 1, joined.Generation), (joiner.JobId, joiner.Rank, joiner.Generation));
        Assert.Equal("e-joiner joined", (await r.GetAsync(job.Id)).Events[^1].Reason);
    }

    [Fact]
    public async Task A_worker_taken_back_into_its_job_while_its_old_ring_ended_is_handed_that_job_not_released_from_it()
    {
        var r = Registry(_silo);
        var job = await r.SubmitAsync(Spec(2));
        string live = Live(r, await r.RegisterAsync("http://127.0.0.1:7001", 1, "t-live", "a"));
        await r.RegisterAsync("http://127.0.0.1:7002", 1, "t-back", "b");
        var first = await r.WaitForAssignmentAsync("t-back", CancellationToken.None);
        // t-back falls silent (its coordinator could not hear it) and is lost; alive, it registers again and joins the job,
        // which takes it back in a later worker set.
        await WaitForPhaseAsync("t-back", WorkerPhase.Lost);
        Live(r, await r.RegisterAsync("http://127.0.0.1:7002", 1, "t-back", "b"));
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        Job record;
        while (!(record = await r.GetAsync(job.Id)).Workers.Contains("http://127.0.0.1:7002"))
        {
            Assert.True(DateTime.UtcNow < until, $"t-back did not join again: {record.Events}");
            await Task.Delay(50);
        }
        // Only now does its old ring end, telling it that it is out of generation 1: through with the job as it knew it,
        // it asks for its next one. It is handed the job that took it back, at its new rank.
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var again = await r.WaitForAssignmentAsync("t-back", bound.Token, finishedJob: job.Id, finishedGeneration: first.Generation);
        Assert.Equal((job.Id, 1, record.Generation), (again.JobId, again.Rank, again.Generation));
        Assert.Equal(WorkerPhase.Training, (await _silo.Grains.GetGrain<IWorkerGrain>("t-back").Get())!.Phase);
        Assert.Equal(JobStatus.Running, (await r.GetAsync(job.Id)).Status);

        // Had it exited instead (a launched rank, through with its job as it knew it), its leaving is a loss to the job,
        // which goes on without it rather than wait for it.
        await r.LeaveAsync("t-back", "it exited after its job", job.Id, first.Generation);
        var after = await r.GetAsync(job.Id);
        Assert.Equal(("rank 1: t-back left: it exited after its job", 1), (after.Events[^1].Reason, after.Events[^1].NewWorld));
    }

    [Fact]
    public async Task A_worker_dropped_from_its_job_is_free_for_the_next_one_when_it_asks()
    {
        var r = Registry(_silo);
        var job = await r.SubmitAsync(Spec(3));
        string[] ids = ["d-0", "d-1", "d-2"];
        for (int i = 0; i < 3; i++) Live(r, await r.RegisterAsync($"http://127.0.0.1:{7001 + i}", 1, ids[i], $"{i}"));
        var a = await r.WaitForAssignmentAsync("d-0", CancellationToken.None);
        // d-1 is dropped for not answering after the ring broke; the job does not free it (it may be dead).
        await r.ReportBrokenAsync(new BrokenRingReport { WorkerId = "d-2", JobId = job.Id, Generation = a.Generation, SuspectRank = 1, Reason = "link from rank 1 failed" });
        await r.ReportBrokenAsync(new BrokenRingReport { WorkerId = "d-0", JobId = job.Id, Generation = a.Generation, SuspectRank = 2, Reason = "link from rank 2 closed" });
        Assert.DoesNotContain("http://127.0.0.1:7002", (await r.GetAsync(job.Id)).Workers);
        // Alive after all, it asks for work: it is freed, and the job, a worker short, takes it back as a joiner.
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var back = await r.WaitForAssignmentAsync("d-1", bound.Token);
        Assert.Equal((job.Id, 2, 3), (back.JobId, back.Rank, back.WorldSize));
    }

    [Fact]
    public async Task A_broken_ring_drops_the_member_that_did_not_report_and_keeps_the_others_in_order()
    {
        var r = Registry(_silo);
        var job = await r.SubmitAsync(Spec(3));
        string[] ids = ["b-0", "b-1", "b-2"];
        for (int i = 0; i < 3; i++) Live(r, await r.RegisterAsync($"http://127.0.0.1:{7001 + i}", 1, ids[i], $"{i}"));
        var a = await r.WaitForAssignmentAsync("b-0", CancellationToken.None);
        // Rank 1 died: rank 2 (its right neighbour) points at it, rank 0 at rank 2 (the failure went round).
        await r.ReportBrokenAsync(new BrokenRingReport { WorkerId = "b-2", JobId = job.Id, Generation = a.Generation, SuspectRank = 1, Reason = "link from rank 1 failed" });
        await r.ReportBrokenAsync(new BrokenRingReport { WorkerId = "b-0", JobId = job.Id, Generation = a.Generation, SuspectRank = 2, Reason = "link from rank 2 closed" });
        var next = await r.NextGenerationAsync("b-2", job.Id, a.Generation, CancellationToken.None);
        Assert.Equal((1, 2), (next.Rank, next.WorldSize)); // decided at once: every member reported or was pointed at
        Assert.Equal(["http://127.0.0.1:7001", "http://127.0.0.1:7003"], next.Peers);
        var gone = await r.NextGenerationAsync("b-1", job.Id, a.Generation, CancellationToken.None);
        Assert.Equal(-1, gone.Rank);
        var e = Assert.Single((await r.GetAsync(job.Id)).Events);
        Assert.StartsWith("rank 1: b-1 did not answer after the ring broke", e.Reason);
        Assert.Equal((3, 2), (e.OldWorld, e.NewWorld));
    }

    [Fact]
    public async Task Below_its_minimum_a_job_waits_for_workers_then_fails_saying_what_was_lost_and_when()
    {
        var r = Registry(_silo);
        using var stop = new CancellationTokenSource();
        var spec = Spec(2);
        spec.MinWorkers = 2;
        spec.WaitForWorkersSeconds = 2;
        var job = await r.SubmitAsync(spec);
        string live = await r.RegisterAsync("http://127.0.0.1:7001", 1, "live-1", "a");
        var beating = KeepAliveAsync(r, live, stop.Token);
        string silent = await r.RegisterAsync("http://127.0.0.1:7002", 1, "silent-1", "b");
        Assert.Equal(JobStatus.Running, (await r.GetAsync(job.Id)).Status);

        var lost = await WaitForPhaseAsync(silent, WorkerPhase.Lost);
        Assert.Contains("no heartbeat for 3 s", lost.Note);
        var waiting = await r.GetAsync(job.Id);
        Assert.Equal((JobStatus.Running, 0), (waiting.Status, waiting.Events[^1].NewWorld));
        var failed = await WaitForJobAsync(r, job.Id, JobStatus.Failed);
        Assert.Matches(@"^fewer than its minimum of 2 workers since \d\d:\d\d:\d\d UTC \(rank 1: silent-1 lost: no heartbeat for 3 s\); no worker joined within 2 s$",
            failed.Error);
        await WaitForPhaseAsync(live, WorkerPhase.Idle); // freed by the job's end

        // The lost worker is never placed: the next 2-worker job waits for a second live one and runs on it.
        var next = await r.SubmitAsync(Spec(2));
        string other = await r.RegisterAsync("http://127.0.0.1:7003", 1, "live-2", "c");
        var beating2 = KeepAliveAsync(r, other, stop.Token);
        var a = await r.WaitForAssignmentAsync(other, CancellationToken.None);
        Assert.Equal(next.Id, a.JobId);
        Assert.Equal(["http://127.0.0.1:7001", "http://127.0.0.1:7003"], a.Peers);
        await stop.CancelAsync();
        await Task.WhenAll(beating, beating2);
    }

    [Fact]
    public async Task A_worker_that_comes_back_under_its_identity_replaces_its_entry_and_a_new_process_frees_its_old_place()
    {
        var r = Registry(_silo);
        var job = await r.SubmitAsync(Spec(1));
        string id = Live(r, await r.RegisterAsync("http://127.0.0.1:7001", 1, "host-a-1", "first"));
        Assert.Equal(JobStatus.Running, (await r.GetAsync(job.Id)).Status);
        // The same process registering again (say, its coordinator forgot it) keeps its place in the job.
        await r.RegisterAsync("http://127.0.0.1:7001", 1, id, "first");
        Assert.Equal(WorkerPhase.Training, (await _silo.Grains.GetGrain<IWorkerGrain>(id).Get())!.Phase);
        Assert.Equal(JobStatus.Running, (await r.GetAsync(job.Id)).Status);

        // A new process under the same identity: the old one is gone, and so is its place in the job; the new one is
        // a worker like any other, idle, and joins the job that now lacks one.
        await r.RegisterAsync("http://127.0.0.1:7009", 1, id, "second");
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        Job record;
        while ((record = await r.GetAsync(job.Id)).Events.Count < 2)
        {
            Assert.True(DateTime.UtcNow < until, $"events: {record.Events}");
            await Task.Delay(50);
        }
        Assert.Equal(($"rank 0: {id} restarted", 0), (record.Events[0].Reason, record.Events[0].NewWorld));
        Assert.Equal(($"{id} joined", 1), (record.Events[1].Reason, record.Events[1].NewWorld));
        Assert.Equal((JobStatus.Running, "http://127.0.0.1:7009"), (record.Status, record.Workers.Single()));
        var workers = await r.WorkersAsync();
        Assert.Equal([id], workers.Select(w => w.Id));
        Assert.Equal(("http://127.0.0.1:7009", WorkerPhase.Training), (workers[0].Address, workers[0].Phase));
    }

    [Fact]
    public async Task A_restarted_coordinator_keeps_its_pending_and_running_jobs()
    {
        var r = Registry(_silo);
        var running = await r.SubmitAsync(Spec(1));
        string w = await r.RegisterAsync("http://127.0.0.1:7001", 1, "w-run", "one");
        using (var stop = new CancellationTokenSource())
        {
            var beating = KeepAliveAsync(r, w, stop.Token);
            await r.SubmitAsync(Spec(2));
            await stop.CancelAsync();
            await beating;
        }
        var pending = (await r.ListAsync())[0];
        await _silo.DisposeAsync();

        _silo = await Silo.StartAsync(StateStorageChoice.File(_state), Beat);
        r = Registry(_silo);
        Assert.Equal(JobStatus.Running, (await r.GetAsync(running.Id)).Status);
        Assert.Equal(JobStatus.Pending, (await r.GetAsync(pending.Id)).Status);
        // The running job's worker beats again at the new coordinator, and its job goes on to completion.
        using var again = new CancellationTokenSource();
        var beatingAgain = KeepAliveAsync(r, w, again.Token);
        Assert.True(await r.ReportAsync(new ProgressReport { WorkerId = w, JobId = running.Id, Rank = 0, Epoch = 2, EpochDone = true, Finished = true }));
        Assert.Equal(JobStatus.Completed, (await r.GetAsync(running.Id)).Status);
        // The pending job is still queued, and starts once two workers are free.
        Live(r, await r.RegisterAsync("http://127.0.0.1:7002", 1, "w-new", "two"));
        var a = await r.WaitForAssignmentAsync("w-new", CancellationToken.None);
        Assert.Equal(pending.Id, a.JobId);
        Assert.Equal(2, a.WorldSize);
        await again.CancelAsync();
        await beatingAgain;
    }

    [Fact]
    public async Task A_worker_is_not_handed_the_job_it_just_finished()
    {
        var r = Registry(_silo);
        var first = await r.SubmitAsync(Spec(1));
        string w = Live(r, await r.RegisterAsync("http://127.0.0.1:7001", 1, "w-seq", "one"));
        Assert.Equal(first.Id, (await r.WaitForAssignmentAsync(w, CancellationToken.None)).JobId);
        await r.ReportAsync(new ProgressReport { WorkerId = w, JobId = first.Id, Rank = 0, Epoch = 2, EpochDone = true, Finished = true });
        var second = await r.SubmitAsync(Spec(1));
        Assert.Equal(second.Id, (await r.WaitForAssignmentAsync(w, CancellationToken.None, finishedJob: first.Id)).JobId);
    }

    [Fact]
    public async Task A_worker_through_with_its_job_is_free_again_even_if_the_scheduler_never_hears_the_job_ended()
    {
        var r = Registry(_silo);
        var job = await r.SubmitAsync(Spec(1));
        string w = Live(r, await r.RegisterAsync("http://127.0.0.1:7001", 1, "w-done", "one"));
        Assert.Equal(job.Id, (await r.WaitForAssignmentAsync(w, CancellationToken.None)).JobId);
        // No report ends the job, so no JobEnded reaches the scheduler: the worker's own word that it is through frees it.
        using var brief = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => r.WaitForAssignmentAsync(w, brief.Token, finishedJob: job.Id));
        var record = await _silo.Grains.GetGrain<IWorkerGrain>(w).Get();
        Assert.Equal((WorkerPhase.Idle, null), (record!.Phase, record.JobId));
    }

    [Fact]
    public async Task A_placement_cut_short_by_a_crash_is_finished_when_the_scheduler_comes_back()
    {
        var r = Registry(_silo);
        var job = await r.SubmitAsync(Spec(2));
        await r.RegisterAsync("http://127.0.0.1:7001", 1, "w-a", "one");
        // A second worker whose registration reached its grain but not the scheduler.
        await _silo.Grains.GetGrain<IWorkerGrain>("w-b").Register("http://127.0.0.1:7002", 1, "two");
        await _silo.DisposeAsync();
        // The scheduler wrote its placement down and died before telling the job or the workers.
        EditSchedulerState(s =>
        {
            s["Pending"] = new System.Text.Json.Nodes.JsonArray();
            s["Workers"] = new System.Text.Json.Nodes.JsonArray("w-a", "w-b");
            s["Placing"] = new System.Text.Json.Nodes.JsonObject
            {
                ["JobId"] = job.Id, ["WorkerIds"] = new System.Text.Json.Nodes.JsonArray("w-a", "w-b"),
                ["Addresses"] = new System.Text.Json.Nodes.JsonArray("http://127.0.0.1:7001", "http://127.0.0.1:7002"), ["Generation"] = 41,
            };
        });

        _silo = await Silo.StartAsync(StateStorageChoice.File(_state), Beat);
        r = Registry(_silo);
        Live(r, "w-a");
        Live(r, "w-b");
        var a = await r.WaitForAssignmentAsync("w-a", new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        var b = await r.WaitForAssignmentAsync("w-b", new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        Assert.Equal((job.Id, 0, 41L), (a.JobId, a.Rank, a.Generation));
        Assert.Equal((job.Id, 1, 41L), (b.JobId, b.Rank, b.Generation));
        Assert.Equal(JobStatus.Running, (await r.GetAsync(job.Id)).Status);
    }

    [Fact]
    public async Task A_job_stored_as_pending_but_missing_from_the_queue_is_queued_again()
    {
        var r = Registry(_silo);
        var job = await r.SubmitAsync(Spec(1));
        await _silo.DisposeAsync();
        // The coordinator died between storing the submission and queueing it.
        EditSchedulerState(s => s["Pending"] = new System.Text.Json.Nodes.JsonArray());

        _silo = await Silo.StartAsync(StateStorageChoice.File(_state), Beat);
        r = Registry(_silo);
        string w = Live(r, await r.RegisterAsync("http://127.0.0.1:7001", 1, "w-q", "one"));
        Assert.Equal(job.Id, (await r.WaitForAssignmentAsync(w, new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token)).JobId);
    }

    [Fact]
    public async Task After_a_restart_a_worker_not_heard_from_again_is_not_placed()
    {
        var r = Registry(_silo);
        await r.RegisterAsync("http://127.0.0.1:7001", 1, "w-dead", "one"); // killed with its coordinator: it never beats again
        await _silo.DisposeAsync();

        _silo = await Silo.StartAsync(StateStorageChoice.File(_state), Beat);
        r = Registry(_silo);
        var job = await r.SubmitAsync(Spec(1));
        await Task.Delay(Beat);
        Assert.Equal(JobStatus.Pending, (await r.GetAsync(job.Id)).Status);
        string live = Live(r, await r.RegisterAsync("http://127.0.0.1:7002", 1, "w-live", "two"));
        Assert.Equal(job.Id, (await r.WaitForAssignmentAsync(live, new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token)).JobId);
        Assert.Equal(["http://127.0.0.1:7002"], (await r.GetAsync(job.Id)).Workers);
        await WaitForPhaseAsync("w-dead", WorkerPhase.Lost);
    }

    // Rewrites the scheduler's stored state (the file storage's JSON) while no silo runs, to stage a crash.
    private void EditSchedulerState(Action<System.Text.Json.Nodes.JsonObject> edit)
    {
        string path = Directory.GetFiles(_state, "scheduler.json", SearchOption.AllDirectories).Single();
        var envelope = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(envelope["State"]!.AsObject());
        File.WriteAllText(path, envelope.ToJsonString());
    }

    private static async Task<Job> WaitForJobAsync(JobRegistry r, string id, JobStatus status)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var job = await r.GetAsync(id);
            if (job.Status == status) return job;
            Assert.True(DateTime.UtcNow < until, $"{id} is still {job.Status}, not {status}");
            await Task.Delay(50);
        }
    }
}
