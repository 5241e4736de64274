using System.Collections.Immutable;

namespace DistTrain.State;

/// <summary>A job's state, keyed by job id ("job-7"). All changes go through <see cref="Update"/>.</summary>
public interface IJobGrain : IGrainWithStringKey
{
    /// <summary>The record, or null when no job has this id.</summary>
    Task<JobRecord?> Get();

    /// <summary>Applies a change (see <see cref="JobTransitions"/>) and stores the result before returning it.</summary>
    Task<JobRecord> Update(JobChange change);
}

/// <summary>A worker's state, keyed by worker id. All changes go through <see cref="Update"/>.</summary>
public interface IWorkerGrain : IGrainWithStringKey
{
    Task<WorkerRecord?> Get();

    Task<WorkerRecord> Update(WorkerChange change);
}

/// <summary>
/// The coordinator's counters and its list of jobs, in one grain (key "coordinator") so that ids and generations keep
/// counting up across restarts.
/// </summary>
public interface IJobIndexGrain : IGrainWithStringKey
{
    /// <summary>Reserves the next job id and lists it.</summary>
    Task<string> NewJob();

    Task<string> NewWorker();

    /// <summary>The next worker-set generation, larger than any handed out before.</summary>
    Task<long> NewGeneration();

    /// <summary>Every job id, oldest first.</summary>
    Task<ImmutableList<string>> Jobs();
}
