using System.Net;
using System.Net.Sockets;

namespace DistTrain.Coordinator;

/// <summary>A port free on loopback right now (the OS picks it), for silos, local clusters and benchmarks.</summary>
public static class LoopbackPort
{
    public static int Free()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
