namespace DistTrain.Collectives.Grpc;

/// <summary>
/// Environment variables a process that serves ring links should start with; `disttrain local` and the benchmarks set
/// them for their children, and the container image sets them for clusters. The shared ArrayPool keeps 32 arrays per
/// size per core by default, fewer than the 16 KiB blocks the HTTP/2 client holds for one 4 MiB ring window, so the
/// rest were allocated afresh: about half of every byte received, and a third of the allreduce bandwidth. The runtime
/// reads this setting from the environment only (a runtimeconfig property is ignored).
/// </summary>
public static class RingProcessEnvironment
{
    public static IReadOnlyDictionary<string, string> Variables { get; } = new Dictionary<string, string>
    {
        ["DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION"] = "512",
    };
}
