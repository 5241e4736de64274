using Orleans.Runtime;

namespace DistTrain.State;

/// <summary>
/// Keeps one job's record; every change is applied by <see cref="JobTransitions"/> and stored before it returns. The
/// change that ends the job is passed on to the scheduler, which frees the job's workers and places the next job.
/// </summary>
public sealed class JobGrain([PersistentState("job", StateStorage.Name)] IPersistentState<JobGrainState> state) : Grain, IJobGrain
{
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // A record stored before jobs kept their members' ids and dataset digest reads those as null.
        if (state.State.Record is { } r && (r.WorkerIds is null || r.DatasetDigest is null))
            state.State.Record = r with { WorkerIds = r.WorkerIds ?? [], DatasetDigest = r.DatasetDigest ?? "" };
        return Task.CompletedTask;
    }

    public Task<JobRecord?> Get() => Task.FromResult(state.State.Record);

    public async Task<JobRecord> Update(JobChange change)
    {
        var before = state.State.Record;
        var next = JobTransitions.Apply(this.GetPrimaryKeyString(), before, change, DateTime.UtcNow);
        state.State.Record = next;
        await state.WriteStateAsync();
        if (next.IsFinal && before is { IsFinal: false })
            GrainFactory.GetGrain<ISchedulerGrain>(SchedulerGrain.Key).JobEnded(next.Id).Ignore();
        return next;
    }

    public async Task MemberLost(string workerId, string reason)
    {
        if (state.State.Record is not { Phase: JobPhase.Running } job) return;
        int rank = job.WorkerIds.IndexOf(workerId);
        if (rank < 0) return; // a worker from an older membership
        await Update(new JobFailed($"rank {rank}: {reason}"));
    }
}
