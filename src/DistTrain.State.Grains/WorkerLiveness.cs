namespace DistTrain.State;

/// <summary>
/// When a worker counts as lost: after <see cref="MissedBeats"/> heartbeats that did not come, at
/// <see cref="HeartbeatInterval"/> apart (default 3 × 2 s). A grain that has just activated (a coordinator restarted,
/// or another took over) first gives its worker <see cref="Grace"/> to reach it again.
/// </summary>
public sealed class WorkerLiveness
{
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(2);

    public int MissedBeats { get; set; } = 3;

    public TimeSpan Grace { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long a worker may stay silent before it is lost.</summary>
    public TimeSpan Window => HeartbeatInterval * MissedBeats;
}
