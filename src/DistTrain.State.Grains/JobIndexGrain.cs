using System.Collections.Immutable;
using Orleans.Runtime;

namespace DistTrain.State;

/// <summary>The coordinator's id counters, generation and job list; each call changes and stores them in <see cref="Change"/>.</summary>
public sealed class JobIndexGrain([PersistentState("index", StateStorage.Name)] IPersistentState<JobIndexState> state) : Grain, IJobIndexGrain
{
    /// <summary>The one index's key.</summary>
    public const string Key = "coordinator";

    public Task<string> NewJob() => Change(s =>
    {
        string id = $"job-{++s.LastJob}";
        s.Jobs = s.Jobs.Add(id);
        return id;
    });

    public Task<string> JobForLaunch(string launch) => Change(s =>
    {
        if (s.Launches.FirstOrDefault(l => l.Launch == launch) is { } known) return known.JobId;
        string id = $"job-{++s.LastJob}";
        s.Jobs = s.Jobs.Add(id);
        s.Launches = s.Launches.Add(new LaunchJob(launch, id));
        return id;
    });

    public Task<string> NewWorker() => Change(s => $"worker-{++s.LastWorker}");

    public Task<long> NewGeneration() => Change(s => ++s.LastGeneration);

    public Task<ImmutableList<string>> Jobs() => Task.FromResult(state.State.Jobs);

    private async Task<T> Change<T>(Func<JobIndexState, T> change)
    {
        var result = change(state.State);
        await state.WriteStateAsync();
        return result;
    }
}
