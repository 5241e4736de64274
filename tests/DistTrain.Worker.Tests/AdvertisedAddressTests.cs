namespace DistTrain.Worker.Tests;

public class AdvertisedAddressTests
{
    [Fact]
    public void A_specific_bound_address_is_advertised_as_it_is()
    {
        Assert.Equal("http://10.1.2.3:7000", AdvertisedAddress.For("http://10.1.2.3:7000"));
        Assert.Equal("http://127.0.0.1:7000", AdvertisedAddress.For("http://127.0.0.1:7000"));
    }

    [Theory]
    [InlineData("http://0.0.0.0:7123")]
    [InlineData("http://[::]:7123")]
    public void A_wildcard_is_replaced_by_a_dialable_address_with_the_same_port(string bound)
    {
        var advertised = new Uri(AdvertisedAddress.For(bound));
        Assert.Equal(7123, advertised.Port);
        Assert.True(System.Net.IPAddress.TryParse(advertised.Host, out var ip));
        Assert.NotEqual(System.Net.IPAddress.Any, ip);
        // A machine with a network interface advertises it rather than loopback.
        bool hasInterface = System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces().Any(n =>
            n.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up &&
            n.NetworkInterfaceType != System.Net.NetworkInformation.NetworkInterfaceType.Loopback &&
            n.GetIPProperties().UnicastAddresses.Any(a => a.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork));
        Assert.Equal(hasInterface, !System.Net.IPAddress.IsLoopback(ip));
    }
}
