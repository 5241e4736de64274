using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace DistTrain.State;

/// <summary>
/// One worker's record and liveness. A heartbeat moves its deadline on; a grain timer checks the deadline twice a beat
/// and, once it has passed, marks the worker <see cref="WorkerPhase.Lost"/> and tells its job. The timer keeps the
/// grain active while the worker is live, and the scheduler's own timer re-activates it wherever the cluster places
/// it, so a loss is noticed even when nothing else calls the grain (a killed worker, a coordinator that died).
/// A worker is judged only on time the grain could hear it: a beat never waits long on another grain, and a check that
/// itself ran late (the grain or its coordinator was held up) moves the deadline on by the time lost.
/// </summary>
public sealed class WorkerGrain(
    [PersistentState("worker", StateStorage.Name)] IPersistentState<WorkerGrainState> state,
    IOptions<WorkerLiveness> liveness) : Grain, IWorkerGrain
{
    private readonly WorkerLiveness _liveness = liveness.Value;
    private DateTime _deadline;
    private bool _heard; // a beat or registration reached this activation
    private DateTime _lastBeat;
    private DateTime _lastCheck; // when the liveness check last ran
    private double _samplesPerSecond;
    private IGrainTimer? _timer;
    private TaskCompletionSource _assigned = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private string Id => this.GetPrimaryKeyString();
    private WorkerRecord? Record => state.State.Record;

    // The record as callers see it: with the last beat this activation heard, which is newer than the stored one.
    private WorkerRecord? Seen => _heard && Record is { } r ? r with { LastHeartbeatUtc = _lastBeat, SamplesPerSecond = r.IsLive ? _samplesPerSecond : 0 } : Record;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Whatever the stored last beat says, the worker could not reach this activation before it existed: it gets the
        // grace period to do so (a coordinator restart must not lose every worker at once).
        _deadline = DateTime.UtcNow + Grace;
        if (Record is { IsLive: true }) Watch();
        return Task.CompletedTask;
    }

    public Task<WorkerRecord?> Get() => Task.FromResult(Seen);

    public Task<WorkerRecord?> Available() =>
        Task.FromResult(_heard && Record is { Phase: WorkerPhase.Idle } ? Seen : null);

    public async Task<WorkerRecord> Register(string address, int threads, string incarnation, string? secretHash = null, string? launch = null)
    {
        var old = Record;
        var now = DateTime.UtcNow;
        // The same process registering again (its coordinator lost track of it, or it was wrongly thought lost) keeps
        // its place; another process under this identity means the old one is gone, and so is its place in a job.
        bool sameProcess = old is not null && old.Incarnation == incarnation;
        if (old is { Phase: WorkerPhase.Training, JobId: { } job } && !sameProcess)
            GrainFactory.GetGrain<IJobGrain>(job).MemberLost(Id, $"{Id} restarted").Ignore();
        var next = sameProcess && old!.Phase == WorkerPhase.Training
            ? old with { Address = address, Threads = threads, LastHeartbeatUtc = now, SecretHash = secretHash, Launch = launch }
            : new WorkerRecord(Id, address, threads, WorkerPhase.Idle, null, -1, now, incarnation, "", secretHash, Launch: launch);
        await SaveAsync(next);
        Beat(now);
        Watch();
        return next;
    }

    public async Task<bool> Heartbeat(double samplesPerSecond = 0)
    {
        var r = Require();
        _samplesPerSecond = double.IsFinite(samplesPerSecond) && samplesPerSecond >= 0 ? samplesPerSecond : 0;
        // The beat lives in memory only (a write per beat per worker would be an fsync every two seconds each); the
        // stored record changes when the phase does.
        Beat(DateTime.UtcNow);
        if (r.JobId is null || await JobEndedAsync(r.JobId) is not true) return true;
        // Its job has ended: whatever became of the scheduler's own release (a one-way message), the worker is free.
        if (await Release(r.JobId)) GrainFactory.GetGrain<ISchedulerGrain>(SchedulerGrain.Key).WorkerAvailable(Id).Ignore();
        return false;
    }

    public async Task Assign(string jobId, int rank)
    {
        var r = Require();
        if (r.Phase == WorkerPhase.Training && r.JobId == jobId)
        {
            // The job's worker set changed: the same member, another rank.
            if (r.Rank != rank) await SaveAsync(r with { Rank = rank });
            return;
        }
        if (r.Phase != WorkerPhase.Idle) throw new InvalidOperationException($"{Id} is {r.Phase}; it cannot be placed in {jobId}");
        await SaveAsync(r with { Phase = WorkerPhase.Training, JobId = jobId, Rank = rank });
        var waiting = _assigned;
        _assigned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        waiting.TrySetResult();
    }

    public async Task<bool> Release(string jobId)
    {
        if (Record is not { Phase: WorkerPhase.Training } r || r.JobId != jobId) return false;
        await SaveAsync(r with { Phase = WorkerPhase.Idle, JobId = null, Rank = -1 });
        return true;
    }

    public async Task<WorkerRecord> Leave(string reason)
    {
        var r = Record ?? throw new UnknownWorkerException($"no worker {Id}; register first");
        await SaveAsync(r with { Phase = WorkerPhase.Left, JobId = null, Rank = -1, Note = reason });
        Unwatch();
        return r;
    }

    public async Task<string?> WaitForJob(string? finishedJob, TimeSpan wait)
    {
        var until = DateTime.UtcNow + wait;
        while (true)
        {
            var r = Require();
            if (r.Phase == WorkerPhase.Training && r.JobId != finishedJob) return r.JobId;
            var left = until - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) return null;
            try
            {
                await _assigned.Task.WaitAsync(left);
            }
            catch (TimeoutException)
            {
                return null;
            }
        }
    }

    // Whether the job has ended, asked within a beat: its grain may sit on a coordinator that has just died, and until the
    // cluster declares that coordinator dead a call to it can hang for its whole response timeout. Meanwhile this
    // (non-reentrant) grain would hear no beat, and its check, queued behind the call, would find the worker silent. Not
    // knowing is an answer too (null): the worker trains on, and its next beat asks again.
    private async Task<bool?> JobEndedAsync(string jobId)
    {
        var asked = GrainFactory.GetGrain<IJobGrain>(jobId).Get();
        try
        {
            // A quarter of a beat: well within the worker's own deadline for the call (one beat).
            return (await asked.WaitAsync(_liveness.HeartbeatInterval / 4)) is { IsFinal: true };
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
            asked.Ignore();
            return null;
        }
    }

    private TimeSpan Grace => _liveness.Grace > _liveness.Window ? _liveness.Grace : _liveness.Window;

    private WorkerRecord Require() => Record switch
    {
        null => throw new UnknownWorkerException($"no worker {Id}; register first"),
        { IsLive: false } r => throw new UnknownWorkerException($"{Id} is {r.Phase.ToString().ToLowerInvariant()} ({r.Note}); register again"),
        var r => r,
    };

    private void Beat(DateTime now)
    {
        _lastBeat = now;
        _deadline = now + _liveness.Window;
        _heard = true;
    }

    // Checked twice a beat, so that a loss shows at most half a beat after the window closes.
    private TimeSpan CheckInterval => _liveness.HeartbeatInterval / 2;

    private void Watch()
    {
        if (_timer is not null) return;
        _lastCheck = DateTime.UtcNow;
        _timer = this.RegisterGrainTimer(CheckAsync, new GrainTimerCreationOptions(CheckInterval, CheckInterval) { KeepAlive = true });
    }

    private void Unwatch()
    {
        _timer?.Dispose();
        _timer = null;
    }

    // The timer's tick: a live worker past its deadline is lost, and its job is told.
    private async Task CheckAsync(CancellationToken cancellationToken)
    {
        if (Record is not { IsLive: true } r)
        {
            Unwatch();
            return;
        }
        var now = DateTime.UtcNow;
        var sinceCheck = now - _lastCheck;
        _lastCheck = now;
        // This check ran a beat or more late: the grain, or its whole coordinator, was held up (a call that waited on a
        // dead one, a cluster moving grains after a coordinator died, a starved or paused process), and a worker's beats
        // were held up with it. The time lost is not counted against the worker: its deadline moves on by as much, and
        // to at least a beat from now. No more: a coordinator that stalls now and then still finds a dead worker, later
        // by its stalls (only one late by more than a beat at every check never would, and then it hears nothing anyway).
        if (sinceCheck > _liveness.HeartbeatInterval)
        {
            var moved = _deadline + (sinceCheck - CheckInterval);
            _deadline = moved > now + _liveness.HeartbeatInterval ? moved : now + _liveness.HeartbeatInterval;
        }
        if (now <= _deadline) return;
        string reason = _heard
            ? $"{Id} lost: no heartbeat for {_liveness.Window.TotalSeconds:0.#} s"
            : $"{Id} lost: it did not reach the coordinator within {Grace.TotalSeconds:0.#} s of the coordinator (re)starting";
        await SaveAsync(r with { Phase = WorkerPhase.Lost, Note = reason });
        Unwatch();
        if (r.JobId is { } job) GrainFactory.GetGrain<IJobGrain>(job).MemberLost(Id, reason).Ignore();
    }

    // Stores a phase change, with the last beat heard so far (beats themselves are not stored).
    private async Task SaveAsync(WorkerRecord next)
    {
        state.State.Record = _heard && next.LastHeartbeatUtc < _lastBeat ? next with { LastHeartbeatUtc = _lastBeat } : next;
        await state.WriteStateAsync();
    }
}
