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
    [property: Id(6)] double Seconds);

/// <summary>
/// A job's durable record, kept by its <see cref="IJobGrain"/>. It changes only through <see cref="JobTransitions.Apply"/>.
/// </summary>
/// <param name="Spec">The submitted JobSpec in protobuf JSON, so that the record stays readable in any storage.</param>
/// <param name="Generation">The worker set's generation; it changes whenever the set does (a ring refuses older ones).</param>
/// <param name="Checkpoint">Where the latest checkpoint of the model was written, if any.</param>
/// <param name="WorkerIds">The members' worker ids, in rank order (beside <paramref name="Workers"/>, their addresses).</param>
/// <param name="DatasetDigest">SHA-256 of the dataset file the job trains on, which workers fetch by it.</param>
/// <param name="RequestedWorkers">How many workers the job asked for.</param>
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
    [property: Id(20)] int RequestedWorkers)
{
    public bool IsFinal => Phase is JobPhase.Completed or JobPhase.Failed or JobPhase.Cancelled;
}
