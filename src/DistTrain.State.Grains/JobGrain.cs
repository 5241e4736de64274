using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace DistTrain.State;

/// <summary>
/// Keeps one job's record; every change is applied by <see cref="JobTransitions"/> and stored before it returns. The
/// change that ends the job is passed on to the scheduler, which frees the job's workers and places the next job.
/// <para>
/// The grain also decides a running job's worker set. A member is lost when its heartbeats stop
/// (<see cref="MemberLost"/>) or when its peers' ring breaks (<see cref="ReportBroken"/>). Reports of a broken ring
/// are gathered: a member that reported is alive; one that some report points at and that did not report itself is
/// taken for lost; once every member is one or the other, or <see cref="GatherWindow"/> has passed, the members that
/// did not report are dropped. The survivors keep their order and form the next generation; a worker that joins goes
/// last. Below the minimum, the job keeps its survivors and waits for joiners, then fails naming what was lost when.
/// </para>
/// </summary>
public sealed class JobGrain(
    [PersistentState("job", StateStorage.Name)] IPersistentState<JobGrainState> state,
    [PersistentState("series", StateStorage.Name)] IPersistentState<JobSeriesState> series,
    ILogger<JobGrain> logger) : Grain, IJobGrain
{
    /// <summary>
    /// The per-step curve is written at most this often while a job trains (and at each epoch's end, at the job's end and
    /// on deactivation): a coordinator killed outright loses at most this much of the curve, never a record.
    /// </summary>
    public static readonly TimeSpan SeriesWriteInterval = TimeSpan.FromSeconds(5);

    /// <summary>How long reports of a broken ring are gathered before the members that did not report are dropped.</summary>
    public static readonly TimeSpan GatherWindow = TimeSpan.FromSeconds(3);

    // The gathering for the current generation: who reported (and whom they pointed at), and who was found lost.
    private readonly Dictionary<string, string?> _reported = [];
    private readonly Dictionary<string, string> _lost = [];
    private string? _firstReason;
    private IGrainTimer? _gatherTimer, _waitTimer;
    private TaskCompletionSource _changed = NewSignal();
    private bool _seriesDirty;
    private DateTime _seriesWrittenUtc;

    private JobRecord? Record => state.State.Record;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // A record stored before jobs kept their members' ids and dataset digest reads those as null.
        if (Record is { } r && (r.WorkerIds is null || r.DatasetDigest is null))
            state.State.Record = r with { WorkerIds = r.WorkerIds ?? [], DatasetDigest = r.DatasetDigest ?? "" };
        // A job that was waiting for workers when its coordinator died goes on waiting, for what is left of its wait.
        if (Record is { Phase: JobPhase.Running, ShortSinceUtc: not null }) StartWaitTimer();
        return Task.CompletedTask;
    }

    public Task<JobRecord?> Get() => Task.FromResult(Record);

    public Task<StepSeries> Series() => Task.FromResult(series.State.Series ?? StepSeries.Empty);

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_seriesDirty) await WriteSeriesAsync();
    }

    public async Task<JobRecord> Update(JobChange change)
    {
        var before = Record;
        var next = JobTransitions.Apply(this.GetPrimaryKeyString(), before, change, DateTime.UtcNow);
        // Each generation's ring gets its own secret, handed only to its members (Link calls must present it).
        // (A job stored before ring secrets existed gets one at its next change.)
        if (next.Generation != before?.Generation || next.RingSecret is null)
            next = next with { RingSecret = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) };
        state.State.Record = next;
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            // Not stored, not changed: the grain keeps what its storage holds, and the caller gets the error.
            state.State.Record = before;
            throw;
        }
        await KeepSeriesAsync(change, next);
        if (next.IsFinal && before is { IsFinal: false })
            GrainFactory.GetGrain<ISchedulerGrain>(SchedulerGrain.Key).JobEnded(next.Id).Ignore();
        if (next.Generation != before?.Generation || next.IsFinal) Signal();
        return next;
    }

    public async Task MemberLost(string workerId, string reason)
    {
        if (Record is not { Phase: JobPhase.Running } job || !job.WorkerIds.Contains(workerId)) return; // not (or no longer) a member
        _lost[workerId] = reason;
        // While reports of a broken ring are being gathered, a loss settles it only if no member is still unheard from:
        // one that has not reported yet is not dropped for being slow before the window ends.
        if (_reported.Count == 0 || Settled(job)) await DecideAsync();
    }

    // Every member has reported the broken ring, or is pointed at by a report, or is known lost.
    private bool Settled(JobRecord job) =>
        job.WorkerIds.All(w => _reported.ContainsKey(w) || _lost.ContainsKey(w) || _reported.ContainsValue(w));

    public async Task ReportBroken(string workerId, long generation, int suspectRank, string reason)
    {
        if (Record is not { IsTraining: true } job || generation != job.Generation || !job.WorkerIds.Contains(workerId)) return;
        string? suspect = suspectRank >= 0 && suspectRank < job.WorkerIds.Count ? job.WorkerIds[suspectRank] : null;
        _reported[workerId] = suspect;
        _firstReason ??= reason;
        if (Settled(job)) await DecideAsync();
        else
            _gatherTimer ??= this.RegisterGrainTimer(_ => DecideAsync(), new GrainTimerCreationOptions(GatherWindow, Timeout.InfiniteTimeSpan));
    }

    public async Task<JobRecord?> WaitForGeneration(long after, TimeSpan wait)
    {
        var until = DateTime.UtcNow + wait;
        while (true)
        {
            if (Record is not { } job || job.IsFinal || job.Generation > after) return Record;
            var left = until - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) return job;
            try
            {
                await _changed.Task.WaitAsync(left);
            }
            catch (TimeoutException)
            {
                return Record;
            }
        }
    }

    public async Task<int> Join(string workerId, string address)
    {
        if (_lost.Count > 0) await DecideAsync(); // members known lost go first, not into the joiner's worker set
        if (Record is not { Phase: JobPhase.Running } job || job.WorkerIds.Contains(workerId) || job.WorkerIds.Count >= job.RequestedWorkers) return -1;
        var ids = job.WorkerIds.Add(workerId);
        var addresses = job.Workers.Add(address);
        await ChangeMembersAsync(job, ids, addresses, $"{workerId} joined");
        return ids.Count - 1;
    }

    // Drops the lost and the silent, and forms the next worker set from the rest (or waits, below the minimum).
    private async Task DecideAsync()
    {
        _gatherTimer?.Dispose();
        _gatherTimer = null;
        if (Record is not { Phase: JobPhase.Running } job)
        {
            ClearGathering();
            return;
        }
        bool gathering = _reported.Count > 0;
        var dropped = job.WorkerIds.Where(w => _lost.ContainsKey(w) || (gathering && !_reported.ContainsKey(w))).ToList();
        if (dropped.Count == 0 && !gathering) return;
        var keep = Enumerable.Range(0, job.WorkerIds.Count).Where(r => !dropped.Contains(job.WorkerIds[r])).ToList();
        string why = string.Join("; ", dropped.Select(w => _lost.TryGetValue(w, out var lost)
            ? $"rank {job.WorkerIds.IndexOf(w)}: {lost}"
            : $"rank {job.WorkerIds.IndexOf(w)}: {w} did not answer after the ring broke ({_firstReason})"));
        if (dropped.Count == 0) why = $"the ring broke ({_firstReason}); every member answered";
        // A member dropped for not answering is not freed here: if it is alive, its next poll tells it that it is out
        // and it frees itself; if it is dead, its heartbeats say so. Freeing it now could hand a dead worker straight
        // back to this job.
        await ChangeMembersAsync(job, [.. keep.Select(r => job.WorkerIds[r])], [.. keep.Select(r => job.Workers[r])], why);
    }

    // The next generation of members (or a wait below the minimum), with each member's grain told its new rank.
    private async Task ChangeMembersAsync(JobRecord job, ImmutableList<string> ids, ImmutableList<string> addresses, string reason)
    {
        _gatherTimer?.Dispose();
        _gatherTimer = null;
        ClearGathering(); // reports about the old generation's ring are moot from here on
        long generation = await GrainFactory.GetGrain<IJobIndexGrain>(JobIndexGrain.Key).NewGeneration();
        int min = Math.Max(1, job.MinWorkers);
        if (ids.Count == 0 && job.Restarts < job.MaxRestarts)
        {
            // Every member is gone: there is no state to keep, so the job restarts from its latest checkpoint at once, on a
            // full worker set, rather than waiting for joiners that would train it at another world size.
            await RestartAsync(job, reason);
            return;
        }
        if (ids.Count >= min)
        {
            _waitTimer?.Dispose();
            _waitTimer = null;
            job = await Update(new JobReformed(addresses, generation, ids, reason));
        }
        else
        {
            job = await Update(new JobShort(addresses, ids, reason, generation));
            StartWaitTimer();
        }
        for (int rank = 0; rank < ids.Count; rank++) GrainFactory.GetGrain<IWorkerGrain>(ids[rank]).Assign(job.Id, rank).Ignore();
        if (ids.Count < job.RequestedWorkers) GrainFactory.GetGrain<ISchedulerGrain>(SchedulerGrain.Key).NeedsWorkers(job.Id).Ignore();
    }

    // Below the minimum, the job waits for joiners until its wait ends, then fails saying what was lost and when.
    private void StartWaitTimer()
    {
        if (_waitTimer is not null || Record is not { ShortSinceUtc: { } since } job) return;
        var left = since + TimeSpan.FromSeconds(job.WaitForWorkersSeconds) - DateTime.UtcNow;
        _waitTimer = this.RegisterGrainTimer(async _ =>
        {
            _waitTimer?.Dispose();
            _waitTimer = null;
            if (Record is not { Phase: JobPhase.Running, ShortSinceUtc: { } shortSince } r) return;
            string lost = r.Events?.LastOrDefault(e => e.NewWorld == 0)?.Reason ?? "workers were lost";
            string why = $"fewer than its minimum of {Math.Max(1, r.MinWorkers)} workers since {shortSince:HH:mm:ss} UTC ({lost}); no worker joined within {r.WaitForWorkersSeconds} s";
            if (r.Restarts < r.MaxRestarts) await RestartAsync(r, why);
            else await Update(new JobFailed(why));
        }, new GrainTimerCreationOptions(left > TimeSpan.Zero ? left : TimeSpan.Zero, Timeout.InfiniteTimeSpan));
    }

    // Back to Pending, to be placed again when workers are free; its workers start from its latest checkpoint. Members
    // still holding on (below the minimum) learn from their long poll that they are out, and free themselves; the
    // scheduler's periodic re-queue also finds the job should this one-way call be lost.
    private async Task RestartAsync(JobRecord job, string reason)
    {
        _waitTimer?.Dispose();
        _waitTimer = null;
        long generation = await GrainFactory.GetGrain<IJobIndexGrain>(JobIndexGrain.Key).NewGeneration();
        await Update(new JobRestarted(reason, generation));
        GrainFactory.GetGrain<ISchedulerGrain>(SchedulerGrain.Key).Enqueue(job.Id).Ignore();
    }

    // A step report adds a point to the curve; the curve is written every SeriesWriteInterval, and whenever an epoch or
    // the job ends. A failed write of the curve fails no change of the record: the points stay, to be written next time.
    private async Task KeepSeriesAsync(JobChange change, JobRecord next)
    {
        if (change is JobProgressed p)
        {
            series.State.Series = (series.State.Series ?? StepSeries.Empty).Add(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), p.Epoch, p.Step, p.Loss,
                p.SamplesPerSecond, p.StepSeconds, p.AllreduceSeconds);
            _seriesDirty = true;
        }
        if (_seriesDirty && (change is JobEpochEnded || next.IsFinal || DateTime.UtcNow - _seriesWrittenUtc >= SeriesWriteInterval))
            await WriteSeriesAsync();
    }

    private async Task WriteSeriesAsync()
    {
        try
        {
            await series.WriteStateAsync();
            _seriesDirty = false;
            _seriesWrittenUtc = DateTime.UtcNow;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _seriesWrittenUtc = DateTime.UtcNow; // tried: the next try waits its interval too
            logger.LogWarning("{Job}'s curve was not stored ({Error}); it is tried again in {Seconds} s",
                this.GetPrimaryKeyString(), e.Message, SeriesWriteInterval.TotalSeconds);
        }
    }

    private void ClearGathering()
    {
        _reported.Clear();
        _lost.Clear();
        _firstReason = null;
    }

    private void Signal()
    {
        var old = _changed;
        _changed = NewSignal();
        old.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
