namespace DistTrain.Collectives.Grpc;

/// <summary>
/// HTTP/2 keepalive on ring links, both ends: a ping after this long without frames, and the link is dead when its
/// answer takes longer than the timeout. A frozen peer (SIGSTOP) or a vanished host is found within about five
/// seconds, well inside the collective timeout; a busy but live peer answers pings from its I/O threads.
/// </summary>
public static class RingKeepAlive
{
    public static readonly TimeSpan PingDelay = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(3);
}
