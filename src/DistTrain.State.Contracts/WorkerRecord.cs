namespace DistTrain.State;

/// <summary>What a worker is doing, as the coordinator last saw it.</summary>
[GenerateSerializer]
public enum WorkerPhase
{
    Idle,
    Training,
    /// <summary>Missed its heartbeats (killed, frozen or cut off); never assigned until it registers again.</summary>
    Lost,
    /// <summary>Shut down on purpose (SIGTERM or SIGINT); never assigned again.</summary>
    Left,
}

/// <summary>A worker's durable record, kept by its <see cref="IWorkerGrain"/>.</summary>
/// <param name="Id">The worker's own stable identity, which it keeps across its restarts (an id file in its data directory).</param>
/// <param name="Rank">Its rank in <paramref name="JobId"/>, or −1 when idle.</param>
/// <param name="Incarnation">A random id per worker process: a registration under the same id from another incarnation
/// means the old process is gone.</param>
/// <param name="Note">Why the worker was lost or left.</param>
/// <param name="SecretHash">SHA-256 (hex) of the secret its registration returned, which its calls carry; never the secret itself.</param>
/// <param name="Launch">The launch (`disttrain launch`) whose job alone this worker trains; null: any ordinary job.</param>
/// <param name="SamplesPerSecond">What it trained per second before its last heartbeat, as it said (kept in memory, like the beat).</param>
[GenerateSerializer, Immutable]
public sealed record WorkerRecord(
    [property: Id(0)] string Id,
    [property: Id(1)] string Address,
    [property: Id(2)] int Threads,
    [property: Id(3)] WorkerPhase Phase,
    [property: Id(4)] string? JobId,
    [property: Id(5)] int Rank,
    [property: Id(6)] DateTime LastHeartbeatUtc,
    [property: Id(7)] string Incarnation,
    [property: Id(8)] string Note,
    [property: Id(9)] string? SecretHash = null,
    [property: Id(10)] double SamplesPerSecond = 0,
    [property: Id(11)] string? Launch = null)
{
    /// <summary>Idle or training: it beats, and idle ones can be placed.</summary>
    public bool IsLive => Phase is WorkerPhase.Idle or WorkerPhase.Training;
}

/// <summary>
/// A call about a worker the coordinator does not know, or has marked lost or left. The worker's answer is to register
/// again under its identity and carry on.
/// </summary>
[GenerateSerializer]
public sealed class UnknownWorkerException : Exception
{
    public UnknownWorkerException() { }

    public UnknownWorkerException(string message) : base(message) { }

    public UnknownWorkerException(string message, Exception inner) : base(message, inner) { }
}
