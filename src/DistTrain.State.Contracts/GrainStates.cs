using System.Collections.Immutable;

namespace DistTrain.State;

/// <summary>What a job grain persists: its record once submitted.</summary>
[GenerateSerializer]
public sealed class JobGrainState
{
    [Id(0)] public JobRecord? Record { get; set; }
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
}

/// <summary>What the scheduler grain persists: the pending queue and the registered workers, both oldest first.</summary>
[GenerateSerializer]
public sealed class SchedulerState
{
    [Id(0)] public ImmutableList<string> Pending { get; set; } = [];
    [Id(1)] public ImmutableList<string> Workers { get; set; } = [];
}
