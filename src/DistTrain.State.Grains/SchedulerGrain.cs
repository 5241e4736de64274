using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace DistTrain.State;

/// <summary>
/// The pending queue and placement. The oldest pending job starts as soon as at least its worker count of idle, live
/// workers is known; they take ranks in registration order, and the job gets a new worker-set generation, so messages
/// from an older set are refused by the ring. A job that is not placeable yet blocks those behind it (first come,
/// first served). A placement is written down before anyone hears of it and finished on the next activation if a
/// crash cut it short. Every beat the scheduler's timer also calls each live worker's grain, which re-activates it
/// after its coordinator died, so that a worker nothing else calls is still found lost.
/// </summary>
public sealed class SchedulerGrain(
    [PersistentState("scheduler", StateStorage.Name)] IPersistentState<SchedulerState> state,
    IOptions<WorkerLiveness> liveness,
    ILogger<SchedulerGrain> logger) : Grain, ISchedulerGrain
{
    /// <summary>The one scheduler's key.</summary>
    public const string Key = "scheduler";

    // Workers found lost or left, which the timer no longer touches until they register again. Rebuilt as it goes.
    private readonly HashSet<string> _gone = [];

    private IWorkerGrain Worker(string id) => GrainFactory.GetGrain<IWorkerGrain>(id);
    private IJobGrain Job(string id) => GrainFactory.GetGrain<IJobGrain>(id);
    private IJobIndexGrain Index => GrainFactory.GetGrain<IJobIndexGrain>(JobIndexGrain.Key);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var beat = liveness.Value.HeartbeatInterval;
        this.RegisterGrainTimer(WatchWorkersAsync, new GrainTimerCreationOptions(beat, beat) { KeepAlive = true });
        await RequeueAsync();
    }

    public async Task Start()
    {
        // Every coordinator calls this every beat; reading every job is not cheap, so the re-queue runs now and then.
        if (DateTime.UtcNow - _lastRequeue > RequeueInterval)
        {
            _lastRequeue = DateTime.UtcNow;
            await RequeueAsync();
        }
        await PlaceAsync();
    }

    /// <summary>How often the periodic Start also looks for pending jobs missing from the queue (a restart's lost Enqueue).</summary>
    private static readonly TimeSpan RequeueInterval = TimeSpan.FromSeconds(30);
    private DateTime _lastRequeue = DateTime.UtcNow;

    public async Task Enqueue(string jobId)
    {
        if (!state.State.Pending.Contains(jobId) && state.State.Placing?.JobId != jobId)
        {
            state.State.Pending = state.State.Pending.Add(jobId);
            await state.WriteStateAsync();
        }
        await PlaceAsync();
    }

    public async Task WorkerAvailable(string workerId)
    {
        _gone.Remove(workerId);
        if (!state.State.Workers.Contains(workerId))
        {
            state.State.Workers = state.State.Workers.Add(workerId);
            await state.WriteStateAsync();
        }
        await PlaceAsync();
    }

    public async Task JobEnded(string jobId)
    {
        if (state.State.Pending.Contains(jobId))
        {
            state.State.Pending = state.State.Pending.Remove(jobId);
            await state.WriteStateAsync();
        }
        if (await Job(jobId).Get() is { } job)
            foreach (string w in job.WorkerIds)
                await Worker(w).Release(jobId);
        await PlaceAsync();
    }

    public async Task NeedsWorkers(string jobId)
    {
        if (!state.State.Understaffed.Contains(jobId))
        {
            state.State.Understaffed = state.State.Understaffed.Add(jobId);
            await state.WriteStateAsync();
        }
        await PlaceAsync();
    }

    public Task<ImmutableList<string>> Workers() => Task.FromResult(state.State.Workers);

    // Idle workers join running jobs below their target, oldest job first: a job that lost a worker mid-run has the
    // first claim on a replacement.
    private async Task StaffAsync()
    {
        var refused = new HashSet<string>(); // workers a job did not take in this pass (say, still listed as members)
        // A job with no idle worker for it waits without holding back the jobs after it: a launched job draws only on
        // its own ranks, and ordinary jobs only on ordinary workers.
        for (int at = 0; at < state.State.Understaffed.Count;)
        {
            string jobId = state.State.Understaffed[at];
            if (await Job(jobId).Get() is not { Phase: JobPhase.Running } job || job.WorkerIds.Count >= job.RequestedWorkers)
            {
                state.State.Understaffed = state.State.Understaffed.RemoveAt(at);
                await state.WriteStateAsync();
                continue;
            }
            WorkerRecord? idle = null;
            foreach (string id in state.State.Workers)
                if (!_gone.Contains(id) && !refused.Contains(id) && await Worker(id).Available() is { } w && w.Launch == job.Launch)
                {
                    idle = w;
                    break;
                }
            if (idle is null)
            {
                at++;
                continue;
            }
            int rank = await Job(jobId).Join(idle.Id, idle.Address);
            if (rank < 0)
            {
                refused.Add(idle.Id);
                continue;
            }
            try
            {
                await Worker(idle.Id).Assign(jobId, rank);
            }
            catch (Exception e) when (e is InvalidOperationException or UnknownWorkerException)
            {
                // Lost or taken between the look and the join: the job goes on without it.
                await Job(jobId).MemberLost(idle.Id, e.Message);
            }
        }
    }

    // A job whose submission was stored but whose Enqueue never arrived (its coordinator died in between) is pending
    // all the same: the job index is the truth, the queue a cache of it.
    private async Task RequeueAsync()
    {
        var queued = state.State.Pending.ToHashSet();
        if (state.State.Placing is { } p) queued.Add(p.JobId);
        var missing = new List<string>();
        foreach (string id in await Index.Jobs())
            if (!queued.Contains(id) && await Job(id).Get() is { Phase: JobPhase.Pending }) missing.Add(id);
        if (missing.Count == 0) return;
        logger.LogInformation("re-queueing {Jobs}: pending, but missing from the queue", string.Join(", ", missing));
        // The index lists jobs oldest first; those already queued keep their places ahead of them.
        state.State.Pending = state.State.Pending.AddRange(missing);
        await state.WriteStateAsync();
    }

    // Places what can be placed. A failure here (a storage hiccup, a grain on a dying silo) is logged, not thrown: it
    // belongs to no caller, and the next call or the coordinators' periodic Start tries again.
    private async Task PlaceAsync()
    {
        try
        {
            if (state.State.Placing is { } unfinished) await FinishAsync(unfinished);
            await StaffAsync();
            // Ordinary jobs share the idle workers and start in order: the oldest that cannot start holds the rest back.
            // A launched job has a pool of its own (its program's ranks), so it neither waits behind them nor holds them.
            bool ordinaryWaiting = false;
            for (int at = 0; at < state.State.Pending.Count;)
            {
                string jobId = state.State.Pending[at];
                if (await Job(jobId).Get() is not { Phase: JobPhase.Pending } job)
                {
                    state.State.Pending = state.State.Pending.RemoveAt(at); // cancelled while it waited
                    await state.WriteStateAsync();
                    continue;
                }
                if (job.Launch is null && ordinaryWaiting)
                {
                    at++;
                    continue;
                }
                var idle = new List<WorkerRecord>();
                foreach (string id in state.State.Workers)
                {
                    if (!_gone.Contains(id) && await Worker(id).Available() is { } w && w.Launch == job.Launch) idle.Add(w);
                    if (idle.Count == job.RequestedWorkers) break;
                }
                if (idle.Count < job.RequestedWorkers)
                {
                    ordinaryWaiting |= job.Launch is null;
                    at++;
                    continue;
                }
                var placement = new Placement(jobId, [.. idle.Select(w => w.Id)], [.. idle.Select(w => w.Address)], await Index.NewGeneration());
                state.State.Pending = state.State.Pending.RemoveAt(at);
                state.State.Placing = placement;
                await state.WriteStateAsync();
                await FinishAsync(placement);
            }
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "placement did not finish; it is tried again on the next call");
        }
    }

    // Tells the job, then each worker, of a written-down placement. Every step may have been done already by a
    // scheduler that died after it, so each is safe to repeat.
    private async Task FinishAsync(Placement p)
    {
        var job = await Job(p.JobId).Get();
        if (job is { Phase: JobPhase.Pending })
        {
            try
            {
                job = await Job(p.JobId).Update(new JobStarted(p.Addresses, p.Generation, p.WorkerIds));
            }
            catch (InvalidJobChangeException)
            {
                job = await Job(p.JobId).Get(); // cancelled between the look and the start
            }
        }
        if (job is { Phase: JobPhase.Running } && job.Generation == p.Generation)
        {
            for (int rank = 0; rank < p.WorkerIds.Count; rank++)
            {
                try
                {
                    await Worker(p.WorkerIds[rank]).Assign(p.JobId, rank);
                }
                catch (Exception e) when (e is InvalidOperationException or UnknownWorkerException)
                {
                    // Lost (or taken) between the look and the placement: the job cannot run as placed.
                    await Job(p.JobId).MemberLost(p.WorkerIds[rank], e.Message);
                }
            }
        }
        else
        {
            // The job ended before it started: any worker already told is free again.
            foreach (string w in p.WorkerIds) await Worker(w).Release(p.JobId);
        }
        state.State.Placing = null;
        await state.WriteStateAsync();
    }

    // Touches every live worker's grain: Get activates it (and its liveness timer) wherever the cluster puts it.
    private async Task WatchWorkersAsync(CancellationToken cancellationToken)
    {
        foreach (string id in state.State.Workers)
            if (!_gone.Contains(id) && await Worker(id).Get() is not { IsLive: true })
                _gone.Add(id);
    }
}
