using System.Net;
using DistTrain.Coordinator.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using DistTrain.State;
using Orleans.Runtime;
using DistTrain.Protos.Health;
using DistTrain.Protos.Security;

namespace DistTrain.Coordinator;

/// <summary>How a coordinator listens, where it keeps its state, and when it counts a worker lost.</summary>
/// <param name="SiloPort">The port other coordinators of a Redis cluster reach this one's silo at (0: a free one).</param>
/// <param name="MissedHeartbeats">Heartbeats (2 s apart) a worker may miss before it is lost.</param>
/// <param name="CheckpointDir">Where the checkpoint store keeps its files (default: "checkpoints" under the state directory,
/// or under the data cache when the state lives in Redis or PostgreSQL). Coordinators of one cluster must share it.</param>
/// <param name="Security">The cluster token every call must carry, and TLS (default: neither, which only loopback allows).</param>
public sealed record CoordinatorOptions(string Bind, int Port, string? DataDir, StateStorageChoice Storage, int SiloPort = 0, int MissedHeartbeats = 3,
    string? CheckpointDir = null, ClusterSecurity? Security = null);

/// <summary>
/// The coordinator process: the Jobs, Workers and Datasets services on a cleartext HTTP/2 endpoint, and an Orleans
/// silo in the same host whose grains keep the job and worker state and make every decision about them
/// (<see cref="JobRegistry"/>). Coordinators started on the same Redis form one cluster.
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
            // A digest in, 1 MiB chunks out.
            .AddServiceOptions<DatasetsService>(o => (o.MaxReceiveMessageSize, o.MaxSendMessageSize) = (4096, 2 << 20));
        var preparer = new DatasetPreparer(options.DataDir, log);
        var store = new Checkpoints.FileCheckpointStore(options.CheckpointDir
            ?? Path.Combine(options.Storage.Kind == "file" ? options.Storage.Target : Data.DataCache.Root, "checkpoints"));
        builder.Services.AddSingleton(sp => new Checkpoints.CheckpointKeeper(sp.GetRequiredService<IGrainFactory>(), store, m => log($"warning: {m}")));
        builder.Services.AddSingleton(sp => new JobRegistry(sp.GetRequiredService<IGrainFactory>(), preparer.Prepare, DatasetPreparer.Find,
            sp.GetRequiredService<Checkpoints.CheckpointKeeper>()));
        builder.WebHost.ConfigureKestrel(k => k.Listen(ip, options.Port, l =>
        {
            l.Protocols = HttpProtocols.Http2;
            if (security.Tls is { CanServe: true } tls) l.UseHttps(tls.Serve);
        }));
        var app = builder.Build();
        app.UseClusterToken(security.Token);
        app.MapGrpcService<JobsService>();
        app.MapGrpcService<WorkersService>();
        app.MapGrpcService<DatasetsService>();
        app.MapGrpcService<CheckpointsService>();
        app.MapGrpcHealth();
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        return (app, app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

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
