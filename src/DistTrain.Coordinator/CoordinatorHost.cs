using System.Net;
using DistTrain.Coordinator.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using DistTrain.State;
using Orleans.Runtime;
using DistTrain.Protos.Health;
using DistTrain.Protos.Security;
using DistTrain.Telemetry;
using DistTrain.Coordinator.Web;

namespace DistTrain.Coordinator;

/// <summary>How a coordinator listens, where it keeps its state, and when it counts a worker lost.</summary>
/// <param name="SiloPort">The port other coordinators of a Redis cluster reach this one's silo at (0: a free one).</param>
/// <param name="MissedHeartbeats">Heartbeats (2 s apart) a worker may miss before it is lost.</param>
/// <param name="CheckpointDir">Where the checkpoint store keeps its files (default: "checkpoints" under the state directory,
/// or under the data cache when the state lives in Redis or PostgreSQL). Coordinators of one cluster must share it.</param>
/// <param name="Security">The cluster token every call must carry, and TLS (default: neither, which only loopback allows).</param>
/// <param name="Web">Where the HTTP/1.1 endpoint listens that serves the live page and /metrics (null: none).</param>
public sealed record CoordinatorOptions(string Bind, int Port, string? DataDir, StateStorageChoice Storage, int SiloPort = 0, int MissedHeartbeats = 3,
    string? CheckpointDir = null, ClusterSecurity? Security = null, WebEndpoint? Web = null);

/// <summary>The address and port of a coordinator's HTTP/1.1 endpoint (port 0: a free one).</summary>
/// <param name="Ticket">A secret that logs a browser in through a link, apart from the cluster token (see <see cref="Web.WebSession"/>).</param>
public sealed record WebEndpoint(string Bind, int Port, string? Ticket = null);

/// <summary>
/// The coordinator process: the Jobs, Workers and Datasets services on a cleartext HTTP/2 endpoint, and an Orleans
/// silo in the same host whose grains keep the job and worker state and make every decision about them
/// (<see cref="JobRegistry"/>). Coordinators started on the same Redis form one cluster. With a web endpoint, the same
/// host serves the live page (<see cref="Web.WebPage"/>) and /metrics on HTTP/1.1.
/// </summary>
public static class CoordinatorHost
{
    public static async Task<(WebApplication App, string BoundAddress)> StartAsync(CoordinatorOptions options, Action<string> log,
        CancellationToken cancellationToken = default)
    {
        if (!IPAddress.TryParse(options.Bind, out var ip)) throw new ArgumentException($"bind address '{options.Bind}' is not an IP address");
        var security = options.Security ?? ClusterSecurity.None;
        security.CheckBind(ip, "coordinator", log);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // A failure to start (a port in use) reaches the caller as an exception with a message; the host's own log of it
        // would be a stack trace on the user's terminal.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        // Stopping (SIGTERM) waits this long at most for open calls, such as long polls that only end with their job.
        builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(3));
        if (options.MissedHeartbeats < 1) throw new ArgumentException($"--missed-heartbeats must be at least 1, got {options.MissedHeartbeats}");
        builder.Services.Configure<WorkerLiveness>(o => o.MissedBeats = options.MissedHeartbeats);
        var endpoint = SiloEndpoint.For(ip, options.SiloPort);
        bool clustered = options.Storage.Kind is "redis" or "postgres";
        if (clustered) SiloSecurity.Check(endpoint, security, log);
        builder.UseOrleans(silo =>
        {
            options.Storage.Configure(silo, endpoint);
            if (clustered) SiloSecurity.Apply(silo, security);
        });
        builder.Services.AddHostedService<SchedulerKeeper>();
        builder.Services.AddGrpcHealth(Readiness);
        // Message caps per service, each what its calls need: a stranger's oversized message is refused
        // (RESOURCE_EXHAUSTED) before it is buffered, and no reply grows without bound.
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = 64 * 1024;
            o.MaxSendMessageSize = 4 << 20;
        })
            // A spec (a model's JSON included; above SpecLimits.MaxSpecChars, so that a spec too long is told so by name)
            // and a job list with every job's history.
            .AddServiceOptions<JobsService>(o => (o.MaxReceiveMessageSize, o.MaxSendMessageSize) = (2 << 20, 64 << 20))
            // Progress reports and assignments are small; a worker list grows with the workers.
            .AddServiceOptions<WorkersService>(o => (o.MaxReceiveMessageSize, o.MaxSendMessageSize) = (256 * 1024, 16 << 20))
            // Upload chunks of up to 4 MiB in, 1 MiB chunks out.
            .AddServiceOptions<CheckpointsService>(o => (o.MaxReceiveMessageSize, o.MaxSendMessageSize) = ((4 << 20) + 64 * 1024, 2 << 20))
            // A digest or an upload's 1 MiB chunks in, 1 MiB chunks out.
            .AddServiceOptions<DatasetsService>(o => (o.MaxReceiveMessageSize, o.MaxSendMessageSize) = ((1 << 20) + 4096, 2 << 20));
        var preparer = new DatasetPreparer(options.DataDir, log);
        DatasetPreparer.SweepUploads();
        builder.Services.AddSingleton(preparer);
        var store = new Checkpoints.FileCheckpointStore(options.CheckpointDir
            ?? Path.Combine(options.Storage.Kind == "file" ? options.Storage.Target : Data.DataCache.Root, "checkpoints"));
        builder.Services.AddSingleton(sp => new Checkpoints.CheckpointKeeper(sp.GetRequiredService<IGrainFactory>(), store, m => log($"warning: {m}")));
        builder.Services.AddSingleton(sp => new JobRegistry(sp.GetRequiredService<IGrainFactory>(), preparer.Prepare, DatasetPreparer.Find,
            sp.GetRequiredService<Checkpoints.CheckpointKeeper>()));
        IPAddress? webIp = null;
        if (options.Web is { } web && !IPAddress.TryParse(web.Bind, out webIp))
            throw new ArgumentException($"the page's bind address '{web.Bind}' is not an IP address");
        var pageAddress = new Web.WebPageAddress();
        builder.Services.AddSingleton(pageAddress);
        if (webIp is not null) MetricsHost.AddMetrics(builder, "coordinator");
        ListenOptions? grpcListener = null, webListener = null;
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(ip, options.Port, l =>
            {
                l.Protocols = HttpProtocols.Http2;
                if (security.Tls is { CanServe: true } tls) l.UseHttps(tls.Serve);
                grpcListener = l;
            });
            if (webIp is not null)
                k.Listen(webIp, options.Web!.Port, l =>
                {
                    l.Protocols = HttpProtocols.Http1;
                    if (security.Tls is { CanServe: true } tls) l.UseHttps(tls.ServeBrowsers);
                    webListener = l;
                });
        });
        var app = builder.Build();
        // gRPC calls carry the token; the page's own requests (HTTP/1.1, which the gRPC endpoint does not speak) are
        // checked by its session, and /metrics stays open to scrapers as a worker's does.
        app.UseWhen(context => !pageAddress.Serves(context), branch => branch.UseClusterToken(security.Token));
        app.MapGrpcService<JobsService>();
        app.MapGrpcService<WorkersService>();
        app.MapGrpcService<DatasetsService>();
        app.MapGrpcService<CheckpointsService>();
        app.MapGrpcHealth();
        if (webIp is not null)
        {
            MetricsHost.MapMetrics(app);
            var session = new WebSession(security.Token, loopbackOnly: IPAddress.IsLoopback(webIp), security.Insecure, options.Web!.Ticket);
            if (!session.PageServed)
                log($"warning: the page is not served on {webIp} without a cluster token (only /metrics is): give --token-file, bind it to 127.0.0.1, "
                    + "or pass --insecure for a read-only page");
            else if (security.Token is null && !IPAddress.IsLoopback(webIp))
                log($"warning: the page listens on {webIp} with no cluster token (--insecure): anyone who reaches it sees every job, read-only");
            app.MapWebPage(session, log);
        }
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e) when (webIp is not null)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new IOException($"cannot listen on {options.Bind}:{options.Port} and {options.Web!.Bind}:{options.Web.Port}: {e.Message}", e);
        }
        // Kestrel writes the port it bound into each listener's endpoint (port 0 asks for a free one).
        string scheme = security.Tls is { CanServe: true } ? "https" : "http";
        if (webListener?.IPEndPoint is { } page)
        {
            pageAddress.Port = page.Port;
            pageAddress.Url = $"{scheme}://{UrlHost(page.Address)}:{page.Port}/";
        }
        var grpc = grpcListener!.IPEndPoint!;
        return (app, $"{scheme}://{UrlHost(grpc.Address, wildcard: grpc.Address)}:{grpc.Port}");
    }

    // How a URL names a bound address: a wildcard as this machine's loopback (or as itself, for the gRPC address, as
    // before), an IPv6 address in brackets.
    private static string UrlHost(IPAddress address, IPAddress? wildcard = null)
    {
        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)) address = wildcard ?? IPAddress.Loopback;
        return address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
    }

    /// <summary>The live page's root URL, when the coordinator serves one.</summary>
    public static string? PageUrl(WebApplication app) => app.Services.GetRequiredService<Web.WebPageAddress>().Url;

    // Ready once the host has started (the silo has joined its cluster and Kestrel listens) and while the local silo is
    // an active member: a coordinator whose silo was voted dead, or that is shutting down, takes no more calls.
    private static Func<string?> Readiness(IServiceProvider services)
    {
        var lifetime = services.GetRequiredService<IHostApplicationLifetime>();
        var membership = services.GetRequiredService<IClusterMembershipService>();
        var silo = services.GetRequiredService<ILocalSiloDetails>().SiloAddress;
        return () =>
            !lifetime.ApplicationStarted.IsCancellationRequested ? "the coordinator is starting"
            : lifetime.ApplicationStopping.IsCancellationRequested ? "the coordinator is stopping"
            : membership.CurrentSnapshot.GetSiloStatus(silo) is var status && status != SiloStatus.Active ? $"its silo is {status}, not active"
            : null;
    }
}
