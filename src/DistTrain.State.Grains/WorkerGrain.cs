using Orleans.Runtime;

namespace DistTrain.State;

/// <summary>Keeps one worker's record: address, rank, phase and last heartbeat, changed only in <see cref="Update"/>.</summary>
public sealed class WorkerGrain([PersistentState("worker", StateStorage.Name)] IPersistentState<WorkerGrainState> state) : Grain, IWorkerGrain
{
    public Task<WorkerRecord?> Get() => Task.FromResult(state.State.Record);

    public async Task<WorkerRecord> Update(WorkerChange change)
    {
        string id = this.GetPrimaryKeyString();
        var now = DateTime.UtcNow;
        var current = state.State.Record;
        var next = (current, change) switch
        {
            (null, WorkerRegistered r) => new WorkerRecord(id, r.Address, r.Threads, WorkerPhase.Idle, null, -1, now),
            (null, _) => throw new InvalidOperationException($"{id} has not registered"),
            ({ Phase: WorkerPhase.Idle }, WorkerAssigned a) => current with { Phase = WorkerPhase.Training, JobId = a.JobId, Rank = a.Rank, LastHeartbeatUtc = now },
            ({ Phase: not (WorkerPhase.Lost or WorkerPhase.Left) }, WorkerReleased) => current with { Phase = WorkerPhase.Idle, JobId = null, Rank = -1 },
            ({ Phase: not (WorkerPhase.Lost or WorkerPhase.Left) }, WorkerHeartbeat) => current with { LastHeartbeatUtc = now },
            (_, WorkerLost) => current with { Phase = WorkerPhase.Lost },
            (_, WorkerLeft) => current with { Phase = WorkerPhase.Left, JobId = null, Rank = -1 },
            _ => throw new InvalidOperationException($"{id} is {current.Phase}; it cannot take {change.GetType().Name}"),
        };
        state.State.Record = next;
        await state.WriteStateAsync();
        return next;
    }
}
