using System.Collections.Immutable;

namespace DistTrain.State;

/// <summary>Where a job is in its life. Completed, Failed and Cancelled are final.</summary>
[GenerateSerializer]
public enum JobPhase
{
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}

/// <summary>One finished epoch, as rank 0 reported it for the whole job.</summary>
[GenerateSerializer, Immutable]
public sealed record EpochRecord(
    [property: Id(0)] int Epoch,
    [property: Id(1)] double Loss,
    [property: Id(2)] double Accuracy,
    [property: Id(3)] double TestLoss,
    [property: Id(4)] double TestAccuracy,
    [property: Id(5)] double SamplesPerSecond,
    [property: Id(6)] double Seconds,
    [property: Id(7)] long Samples = 0,
    [property: Id(8)] long LostSamples = 0,
    [property: Id(9)] long DuplicatedSamples = 0);

/// <summary>A change of a running job's worker set, as its grain decided it (see the proto's MembershipEvent).</summary>
[GenerateSerializer, Immutable]
public sealed record JobEvent(
    [property: Id(0)] DateTime TimeUtc,
    [property: Id(1)] int OldWorld,
    [property: Id(2)] int NewWorld,
    [property: Id(3)] string Reason,
    [property: Id(4)] int Epoch,
    [property: Id(5)] int Step,
    [property: Id(6)] double PauseSeconds,
    [property: Id(7)] long Generation,
    [property: Id(8)] string Kind = JobEvent.Membership)
{
    /// <summary>A member lost or a worker joined (the default, as events were before kinds).</summary>
    public const string Membership = "membership";

    /// <summary>The job went back to Pending to restart from its latest checkpoint.</summary>
    public const string Restart = "restart";

    /// <summary>Where the job started from (another job's checkpoint).</summary>
    public const string Resume = "resume";

    /// <summary>Something the user should know, such as a corrupt checkpoint passed over.</summary>
    public const string Warning = "warning";
}

/// <summary>A checkpoint of the job in the coordinator's store: its digest, where training stood, and when.</summary>
[GenerateSerializer, Immutable]
public sealed record CheckpointRecord(
    [property: Id(0)] string Digest,
    [property: Id(1)] int EpochsDone,
    [property: Id(2)] int Step,
    [property: Id(3)] DateTime TimeUtc,
    [property: Id(4)] long Bytes,
    [property: Id(5)] bool Final,
    [property: Id(6)] string JobId);

/// <summary>
/// A job's durable record, kept by its <see cref="IJobGrain"/>. It changes only through <see cref="JobTransitions.Apply"/>.
/// </summary>
/// <param name="Spec">The submitted JobSpec in protobuf JSON, so that the record stays readable in any storage.</param>
/// <param name="Generation">The worker set's generation; it changes whenever the set does (a ring refuses older ones).</param>
/// <param name="Checkpoint">The digest of the latest checkpoint in the coordinator's store, if any.</param>
/// <param name="WorkerIds">The members' worker ids, in rank order (beside <paramref name="Workers"/>, their addresses).</param>
/// <param name="DatasetDigest">SHA-256 of the dataset file the job trains on, which workers fetch by it.</param>
/// <param name="RequestedWorkers">How many workers the job asked for: its target.</param>
/// <param name="MinWorkers">The fewest it trains on; below, it waits up to <paramref name="WaitForWorkersSeconds"/> for joiners, then fails.</param>
/// <param name="Events">Membership changes, oldest first.</param>
/// <param name="ShortSinceUtc">Since when the job has been below its minimum, waiting for workers; null when it is not.</param>
/// <param name="Checkpoints">The checkpoints kept, oldest first (at most <paramref name="KeepCheckpoints"/>).</param>
/// <param name="ResumeFrom">The checkpoints the job started from (another job's, newest first), tried after its own.</param>
/// <param name="Launch">A launched job's launch id (`disttrain launch`): only workers registered with it train the job.</param>
/// <param name="Restarts">Times the job went back to Pending to restart from its latest checkpoint (at most <paramref name="MaxRestarts"/>).</param>
[GenerateSerializer, Immutable]
public sealed record JobRecord(
    [property: Id(0)] string Id,
    [property: Id(1)] string Spec,
    [property: Id(2)] JobPhase Phase,
    [property: Id(3)] string Error,
    [property: Id(4)] int Epoch,
    [property: Id(5)] int Step,
    [property: Id(6)] int StepsPerEpoch,
    [property: Id(7)] int TrainSamples,
    [property: Id(8)] int TestSamples,
    [property: Id(9)] double Loss,
    [property: Id(10)] double Accuracy,
    [property: Id(11)] double SamplesPerSecond,
    [property: Id(12)] ImmutableList<EpochRecord> History,
    [property: Id(13)] ImmutableList<string> Workers,
    [property: Id(14)] long Generation,
    [property: Id(15)] string? Checkpoint,
    [property: Id(16)] DateTime SubmittedUtc,
    [property: Id(17)] DateTime UpdatedUtc,
    [property: Id(18)] ImmutableList<string> WorkerIds,
    [property: Id(19)] string DatasetDigest,
    [property: Id(20)] int RequestedWorkers,
    [property: Id(21)] int MinWorkers = 1,
    [property: Id(22)] ImmutableList<JobEvent>? Events = null,
    [property: Id(23)] int WaitForWorkersSeconds = 60,
    [property: Id(24)] DateTime? ShortSinceUtc = null,
    [property: Id(25)] ImmutableList<CheckpointRecord>? Checkpoints = null,
    [property: Id(26)] int KeepCheckpoints = 3,
    [property: Id(27)] ImmutableList<CheckpointRecord>? ResumeFrom = null,
    [property: Id(28)] int Restarts = 0,
    [property: Id(29)] int MaxRestarts = 0,
    [property: Id(30)] string? RingSecret = null,
    [property: Id(31)] long SkippedSteps = 0,
    [property: Id(32)] string? Launch = null)
{
    /// <summary>What a worker that holds no state of the job starts from, newest first: its own checkpoints, then those it resumed from.</summary>
    public IEnumerable<CheckpointRecord> StartingPoints() => (Checkpoints ?? []).Reverse().Concat(ResumeFrom ?? []);

    public bool IsFinal => Phase is JobPhase.Completed or JobPhase.Failed or JobPhase.Cancelled;

    /// <summary>Running with a worker set that trains (not waiting below its minimum).</summary>
    public bool IsTraining => Phase == JobPhase.Running && ShortSinceUtc is null;
}
