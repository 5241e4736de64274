using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using DistTrain.Protos.Health;
using DistTrain.Protos.Security;

namespace DistTrain.Collectives.Grpc;

/// <summary>
/// Serves a worker's end of the ring: Kestrel on a cleartext HTTP/2-only endpoint (h2c needs Http2 alone) with the
/// Collective service, message caps lifted, and Kestrel's buffers in large blocks (<see cref="LargeBlockMemoryPool"/>). Binds where it is told; the address peers use is the caller's to
/// advertise, since a bind address such as 0.0.0.0 is not reachable as such.
/// </summary>
public static class CollectiveHost
{
    /// <summary>The largest ring frame either end accepts: a chunk of 16 Mi floats and its header (chunks are 1 MiB by default).</summary>
    public const int MaxFrameBytes = (64 << 20) + 1024;

    /// <summary>The largest request the service reads: a LinkRequest is a few numbers and the ring secret.</summary>
    public const int MaxRequestBytes = 4096;

    /// <summary>
    /// Starts serving; returns the app and the address it is bound to (with the real port when 0 was asked).
    /// <paramref name="security"/>: the cluster token every Link call must carry, and TLS; beyond loopback a token (or
    /// its explicit absence, --insecure) is required. <paramref name="notReady"/> says why the worker is not ready for
    /// the health service's readiness (null: ready; default: always ready).
    /// </summary>
    public static async Task<(WebApplication App, string BoundAddress)> StartAsync(string bindAddress, int port, RingOutbox outbox,
        CancellationToken cancellationToken = default, Protos.Security.ClusterSecurity? security = null, Action<string>? log = null,
        Func<string?>? notReady = null)
    {
        if (!IPAddress.TryParse(bindAddress, out var ip))
            throw new ArgumentException($"bind address '{bindAddress}' is not an IP address");
        security ??= Protos.Security.ClusterSecurity.None;
        security.CheckBind(ip, "worker's ring service", log ?? (_ => { }));
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // A failure to start (a port in use) reaches the caller as an exception with a message; the host's own log of it
        // would be a stack trace on the user's terminal.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        // Stopping (SIGTERM) waits this long at most for open calls, such as long polls that only end with their job.
        builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(3));
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = MaxRequestBytes;
            o.MaxSendMessageSize = MaxFrameBytes;
        });
        builder.Services.AddSingleton(outbox);
        builder.Services.AddGrpcHealth(_ => notReady ?? (() => null));
        builder.Services.AddSingleton<IMemoryPoolFactory<byte>, LargeBlockMemoryPool.Factory>();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.Http2.InitialConnectionWindowSize = 16 * 1024 * 1024;
            k.Limits.Http2.InitialStreamWindowSize = 8 * 1024 * 1024;
            // The sending side pings too: a receiver that froze stops draining its Link, and its sender's frames fail.
            k.Limits.Http2.KeepAlivePingDelay = RingKeepAlive.PingDelay;
            k.Limits.Http2.KeepAlivePingTimeout = RingKeepAlive.PingTimeout;
            k.Listen(ip, port, l =>
            {
                l.Protocols = HttpProtocols.Http2;
                if (security.Tls is { CanServe: true } tls) l.UseHttps(tls.Serve);
            });
        });
        var app = builder.Build();
        app.UseClusterToken(security.Token);
        app.MapGrpcService<CollectiveService>();
        app.MapGrpcHealth();
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        string bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return (app, bound);
    }
}
