namespace DistTrain.State;

/// <summary>What a worker is doing, as the coordinator last saw it.</summary>
[GenerateSerializer]
public enum WorkerPhase
{
    Idle,
    Training,
    Lost,
    /// <summary>Shut down on purpose (SIGTERM or SIGINT); never assigned again.</summary>
    Left,
}

/// <summary>A worker's durable record, kept by its <see cref="IWorkerGrain"/>.</summary>
/// <param name="Rank">Its rank in <paramref name="JobId"/>, or −1 when idle.</param>
[GenerateSerializer, Immutable]
public sealed record WorkerRecord(
    [property: Id(0)] string Id,
    [property: Id(1)] string Address,
    [property: Id(2)] int Threads,
    [property: Id(3)] WorkerPhase Phase,
    [property: Id(4)] string? JobId,
    [property: Id(5)] int Rank,
    [property: Id(6)] DateTime LastHeartbeatUtc);

/// <summary>Everything that can happen to a worker.</summary>
[GenerateSerializer, Immutable]
public abstract record WorkerChange;

[GenerateSerializer, Immutable]
public sealed record WorkerRegistered([property: Id(0)] string Address, [property: Id(1)] int Threads) : WorkerChange;

[GenerateSerializer, Immutable]
public sealed record WorkerAssigned([property: Id(0)] string JobId, [property: Id(1)] int Rank) : WorkerChange;

[GenerateSerializer, Immutable]
public sealed record WorkerReleased : WorkerChange;

[GenerateSerializer, Immutable]
public sealed record WorkerHeartbeat : WorkerChange;

[GenerateSerializer, Immutable]
public sealed record WorkerLost([property: Id(0)] string Reason) : WorkerChange;

[GenerateSerializer, Immutable]
public sealed record WorkerLeft([property: Id(0)] string Reason) : WorkerChange;
