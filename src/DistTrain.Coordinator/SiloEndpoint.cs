using System.Net;
using System.Net.Sockets;

namespace DistTrain.Coordinator;

/// <summary>
/// Where the other coordinators of a cluster reach this one's silo: an address and the silo port, and whether it listens
/// on every address of the host (bound to a wildcard) or on that one alone. There is no gateway port: nothing of
/// DistTrain is an Orleans client, and a gateway would let anyone who reaches it call grains (StateStorageChoice opens none).
/// </summary>
public sealed record SiloEndpoint(IPAddress Address, int SiloPort, bool AnyAddress = false)
{
    /// <summary>A free loopback port: every coordinator of the cluster on this machine.</summary>
    public static SiloEndpoint Loopback() => new(IPAddress.Loopback, LoopbackPort.Free());

    /// <summary>
    /// The endpoint for a coordinator bound to <paramref name="bind"/>: that address when it is a specific one, else
    /// this host's first IPv4 address that is not loopback (what a pod or a VM is reached at), else loopback.
    /// </summary>
    public static SiloEndpoint For(IPAddress bind, int siloPort)
    {
        var address = !bind.Equals(IPAddress.Any) && !bind.Equals(IPAddress.IPv6Any) ? bind
            : Dns.GetHostAddresses(Dns.GetHostName()).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
              ?? IPAddress.Loopback;
        return new SiloEndpoint(address, siloPort > 0 ? siloPort : LoopbackPort.Free(), bind.Equals(IPAddress.Any) || bind.Equals(IPAddress.IPv6Any));
    }
}
