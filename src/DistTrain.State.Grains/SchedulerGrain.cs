using System.Collections.Immutable;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace DistTrain.State;

/// <summary>
/// The pending queue and placement. The oldest pending job starts as soon as at least its worker count of idle, live
/// workers is known; they take ranks in registration order, and the job gets a new worker-set generation, so messages
/// from an older set are refused by the ring. A job that is not placeable yet blocks those behind it (first come,
/// first served). Every beat the scheduler's timer also calls each live worker's grain, which re-activates it after
/// its coordinator died, so that a worker nothing else calls is still found lost.
/// </summary>
public sealed class SchedulerGrain(
    [PersistentState("scheduler", StateStorage.Name)] IPersistentState<SchedulerState> state,
    IOptions<WorkerLiveness> liveness) : Grain, ISchedulerGrain
{
    /// <summary>The one scheduler's key.</summary>
    public const string Key = "scheduler";

    // Workers found lost or left, which the timer no longer touches until they register again. Rebuilt as it goes.
    private readonly HashSet<string> _gone = [];

    private IWorkerGrain Worker(string id) => GrainFactory.GetGrain<IWorkerGrain>(id);
    private IJobGrain Job(string id) => GrainFactory.GetGrain<IJobGrain>(id);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var beat = liveness.Value.HeartbeatInterval;
        this.RegisterGrainTimer(WatchWorkersAsync, new GrainTimerCreationOptions(beat, beat) { KeepAlive = true });
        return Task.CompletedTask;
    }

    public Task Start() => PlaceAsync();

    public async Task Enqueue(string jobId)
    {
        if (!state.State.Pending.Contains(jobId))
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

    public Task<ImmutableList<string>> Workers() => Task.FromResult(state.State.Workers);

    private async Task PlaceAsync()
    {
        while (state.State.Pending.Count > 0)
        {
            string jobId = state.State.Pending[0];
            if (await Job(jobId).Get() is not { Phase: JobPhase.Pending } job)
            {
                state.State.Pending = state.State.Pending.RemoveAt(0); // cancelled while it waited
                await state.WriteStateAsync();
                continue;
            }
            var idle = new List<WorkerRecord>();
            foreach (string id in state.State.Workers)
            {
                if (await Worker(id).Get() is { Phase: WorkerPhase.Idle } w) idle.Add(w);
                if (idle.Count == job.RequestedWorkers) break;
            }
            if (idle.Count < job.RequestedWorkers) return;
            long generation = await GrainFactory.GetGrain<IJobIndexGrain>(JobIndexGrain.Key).NewGeneration();
            await Job(jobId).Update(new JobStarted([.. idle.Select(w => w.Address)], generation, [.. idle.Select(w => w.Id)]));
            state.State.Pending = state.State.Pending.RemoveAt(0);
            await state.WriteStateAsync();
            for (int rank = 0; rank < idle.Count; rank++)
            {
                try
                {
                    await Worker(idle[rank].Id).Assign(jobId, rank);
                }
                catch (Exception e) when (e is InvalidOperationException or UnknownWorkerException)
                {
                    // Lost between the look and the placement: the job cannot start as placed.
                    await Job(jobId).MemberLost(idle[rank].Id, e.Message);
                }
            }
        }
    }

    // Touches every live worker's grain: Get activates it (and its liveness timer) wherever the cluster puts it.
    private async Task WatchWorkersAsync(CancellationToken cancellationToken)
    {
        foreach (string id in state.State.Workers)
            if (!_gone.Contains(id) && await Worker(id).Get() is not { IsLive: true })
                _gone.Add(id);
    }
}
