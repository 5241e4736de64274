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

namespace DistTrain.Coordinator;

/// <summary>How a coordinator listens and where it keeps its state.</summary>
public sealed record CoordinatorOptions(string Bind, int Port, string? DataDir, StateStorageChoice Storage);

/// <summary>
/// The coordinator process: the Jobs, Workers and Datasets services on a cleartext HTTP/2 endpoint, and an Orleans
/// silo in the same host whose grains keep the job and worker state (<see cref="JobRegistry"/>).
/// </summary>
public static class CoordinatorHost
{
    public static async Task<(WebApplication App, string BoundAddress)> StartAsync(CoordinatorOptions options, Action<string> log,
        CancellationToken cancellationToken = default)
    {
        if (!IPAddress.TryParse(options.Bind, out var ip)) throw new ArgumentException($"bind address '{options.Bind}' is not an IP address");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // A failure to start (a port in use) reaches the caller as an exception with a message; the host's own log of it
        // would be a stack trace on the user's terminal.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        // Stopping (SIGTERM) waits this long at most for open calls, such as long polls that only end with their job.
        builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(3));
        builder.UseOrleans(options.Storage.Configure);
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = null;
            o.MaxSendMessageSize = null;
        });
        var preparer = new DatasetPreparer(options.DataDir, log);
        builder.Services.AddSingleton(sp => new JobRegistry(sp.GetRequiredService<IGrainFactory>(), preparer.Prepare));
        builder.WebHost.ConfigureKestrel(k => k.Listen(ip, options.Port, l => l.Protocols = HttpProtocols.Http2));
        var app = builder.Build();
        app.MapGrpcService<JobsService>();
        app.MapGrpcService<WorkersService>();
        app.MapGrpcService<DatasetsService>();
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        await app.Services.GetRequiredService<JobRegistry>().RecoverAsync().ConfigureAwait(false);
        return (app, app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }
}
