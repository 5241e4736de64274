using System.Collections.Immutable;

namespace DistTrain.State;

/// <summary>Everything that can happen to a job; <see cref="JobTransitions"/> says which changes each phase accepts.</summary>
[GenerateSerializer, Immutable]
public abstract record JobChange
{
    /// <summary>A short name for error messages.</summary>
    public abstract string Name { get; }
}

/// <summary>The job is accepted: it exists from now on, Pending.</summary>
[GenerateSerializer, Immutable]
public sealed record JobSubmitted([property: Id(0)] string Spec, [property: Id(1)] int StepsPerEpoch, [property: Id(2)] int TrainSamples,
    [property: Id(3)] int TestSamples, [property: Id(4)] string DatasetDigest, [property: Id(5)] int Workers,
    [property: Id(6)] int MinWorkers = 1, [property: Id(7)] int WaitForWorkersSeconds = 60, [property: Id(8)] int KeepCheckpoints = 3,
    [property: Id(9)] int MaxRestarts = 0, [property: Id(10)] ImmutableList<CheckpointRecord>? ResumeFrom = null,
    [property: Id(11)] ImmutableList<string>? Warnings = null, [property: Id(12)] ImmutableList<EpochRecord>? History = null,
    [property: Id(13)] string? Launch = null) : JobChange
{
    public override string Name => "submit";
}

/// <summary>The scheduler placed the job: Pending → Running with this worker set (ids and addresses in rank order).</summary>
[GenerateSerializer, Immutable]
public sealed record JobStarted([property: Id(0)] ImmutableList<string> Workers, [property: Id(1)] long Generation,
    [property: Id(2)] ImmutableList<string> WorkerIds) : JobChange
{
    public override string Name => "start";
}

/// <summary>Rank 0's latest step and figures; the step time and its allreduce part are means since its previous report
/// (0: not measured), which the job's <see cref="StepSeries"/> keeps.</summary>
[GenerateSerializer, Immutable]
public sealed record JobProgressed([property: Id(0)] int Epoch, [property: Id(1)] int Step, [property: Id(2)] double Loss,
    [property: Id(3)] double Accuracy, [property: Id(4)] double SamplesPerSecond, [property: Id(5)] double StepSeconds = 0,
    [property: Id(6)] double AllreduceSeconds = 0) : JobChange
{
    public override string Name => "progress";
}

/// <summary>An epoch ended and was evaluated.</summary>
[GenerateSerializer, Immutable]
public sealed record JobEpochEnded([property: Id(0)] EpochRecord Epoch) : JobChange
{
    public override string Name => "epoch end";
}

/// <summary>A checkpoint was stored; the job keeps its newest few (the record's KeepCheckpoints).</summary>
[GenerateSerializer, Immutable]
public sealed record JobCheckpointed([property: Id(0)] CheckpointRecord Checkpoint) : JobChange
{
    public override string Name => "checkpoint";
}

/// <summary>The last epoch ended: Running → Completed.</summary>
[GenerateSerializer, Immutable]
public sealed record JobCompleted : JobChange
{
    public override string Name => "complete";
}

/// <summary>The job cannot go on: it fails with this reason.</summary>
[GenerateSerializer, Immutable]
public sealed record JobFailed([property: Id(0)] string Reason) : JobChange
{
    public override string Name => "fail";
}

/// <summary>Someone cancelled the job.</summary>
[GenerateSerializer, Immutable]
public sealed record JobCancelled([property: Id(0)] string Reason) : JobChange
{
    public override string Name => "cancel";
}

/// <summary>
/// The job's grain decided a new worker set for a running job (members lost, or a worker joined): the ranks go to the
/// members in their old order, joiners last, under a new generation. With fewer than the minimum the job waits
/// instead (<see cref="JobShort"/>).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record JobReformed([property: Id(0)] ImmutableList<string> Workers, [property: Id(1)] long Generation,
    [property: Id(2)] ImmutableList<string> WorkerIds, [property: Id(3)] string Reason) : JobChange
{
    public override string Name => "re-form";
}

/// <summary>
/// A running job fell below its minimum: it keeps these members under a new generation that does not train, and waits
/// for joiners (or fails when the wait ends). The new generation tells the members to stop their ring.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record JobShort([property: Id(0)] ImmutableList<string> Workers, [property: Id(1)] ImmutableList<string> WorkerIds,
    [property: Id(2)] string Reason, [property: Id(3)] long Generation) : JobChange
{
    public override string Name => "wait for workers";
}

/// <summary>The job has skipped <paramref name="Total"/> steps so far because their reduced gradient held NaN or Inf.</summary>
[GenerateSerializer, Immutable]
public sealed record JobStepsSkipped([property: Id(0)] long Total) : JobChange
{
    public override string Name => "count skipped steps";
}

/// <summary>The new ring of <paramref name="Generation"/> committed its first step, this long after the change.</summary>
[GenerateSerializer, Immutable]
public sealed record JobRecovered([property: Id(0)] long Generation, [property: Id(1)] double Seconds) : JobChange
{
    public override string Name => "recover";
}

/// <summary>
/// A running job that would fail for want of workers goes back to Pending instead (it has restarts left): its worker
/// set is emptied under a new generation, and the scheduler places it again; its workers start from its latest checkpoint.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record JobRestarted([property: Id(0)] string Reason, [property: Id(1)] long Generation) : JobChange
{
    public override string Name => "restart";
}
