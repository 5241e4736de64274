using System.Collections.Immutable;

namespace DistTrain.State;

/// <summary>What a job grain persists: its record once submitted.</summary>
[GenerateSerializer]
public sealed class JobGrainState
{
    [Id(0)] public JobRecord? Record { get; set; }
}

/// <summary>What a job grain persists beside its record: the per-step curve, written less often than the record.</summary>
[GenerateSerializer]
public sealed class JobSeriesState
{
    [Id(0)] public StepSeries? Series { get; set; }
}

/// <summary>What a worker grain persists: its record once registered.</summary>
[GenerateSerializer]
public sealed class WorkerGrainState
{
    [Id(0)] public WorkerRecord? Record { get; set; }
}

/// <summary>What the index grain persists: the counters and the job list.</summary>
[GenerateSerializer]
public sealed class JobIndexState
{
    [Id(0)] public int LastJob { get; set; }
    [Id(1)] public int LastWorker { get; set; }
    [Id(2)] public long LastGeneration { get; set; }
    [Id(3)] public ImmutableList<string> Jobs { get; set; } = [];
    /// <summary>Each launch's job (`disttrain launch`): every rank of a launch submits, and all get this one. A list, not a
    /// dictionary: the Redis and SQL storages' JSON (Newtonsoft, preserving references) cannot read an immutable dictionary back.</summary>
    [Id(4)] public ImmutableList<LaunchJob> Launches { get; set; } = [];
}

/// <summary>A launch's id and its job's.</summary>
[GenerateSerializer, Immutable]
public sealed record LaunchJob([property: Id(0)] string Launch, [property: Id(1)] string JobId);

/// <summary>
/// What the scheduler grain persists: the pending queue and the registered workers, both oldest first, and a placement
/// it has decided but may not have finished telling the job and the workers.
/// </summary>
[GenerateSerializer]
public sealed class SchedulerState
{
    [Id(0)] public ImmutableList<string> Pending { get; set; } = [];
    [Id(1)] public ImmutableList<string> Workers { get; set; } = [];
    [Id(2)] public Placement? Placing { get; set; }
    /// <summary>Running jobs below their target, which idle workers join.</summary>
    [Id(3)] public ImmutableList<string> Understaffed { get; set; } = [];
}

/// <summary>
/// A placement, written down before the job and its workers hear of it (an intent log of one entry): a scheduler that
/// crashed halfway finishes it on its next activation instead of leaving a job running on workers that think they are
/// idle.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record Placement(
    [property: Id(0)] string JobId,
    [property: Id(1)] ImmutableList<string> WorkerIds,
    [property: Id(2)] ImmutableList<string> Addresses,
    [property: Id(3)] long Generation);
