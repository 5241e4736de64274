using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace DistTrain.Worker;

/// <summary>
/// The URL peers should use for this worker when none is given. A bound address is used as it is unless it is a
/// wildcard (0.0.0.0 or [::]), which peers cannot dial; then the host's first non-loopback IPv4 address that is up is
/// used (a pod's IP in Kubernetes), so that nothing assumes 127.0.0.1. Only a host with no such address falls back to
/// loopback, which serves a single machine.
/// </summary>
public static class AdvertisedAddress
{
    public static string For(string boundUrl)
    {
        var uri = new Uri(boundUrl);
        if (!IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) || !(ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any)))
            return boundUrl;
        var host = FirstNonLoopbackIPv4() ?? IPAddress.Loopback;
        return new UriBuilder(uri) { Host = host.ToString() }.Uri.ToString().TrimEnd('/');
    }

    private static IPAddress? FirstNonLoopbackIPv4() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
}
