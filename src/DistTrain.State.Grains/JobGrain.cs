using Orleans.Runtime;

namespace DistTrain.State;

/// <summary>Keeps one job's record; every change is applied by <see cref="JobTransitions"/> and stored before it returns.</summary>
public sealed class JobGrain([PersistentState("job", StateStorage.Name)] IPersistentState<JobGrainState> state) : Grain, IJobGrain
{
    public Task<JobRecord?> Get() => Task.FromResult(state.State.Record);

    public async Task<JobRecord> Update(JobChange change)
    {
        var next = JobTransitions.Apply(this.GetPrimaryKeyString(), state.State.Record, change, DateTime.UtcNow);
        state.State.Record = next;
        await state.WriteStateAsync();
        return next;
    }
}
