using System.Net;
using DistTrain.Coordinator.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DistTrain.Coordinator;

/// <summary>The coordinator process: the Jobs, Workers and Datasets services on a cleartext HTTP/2 endpoint.</summary>
public static class CoordinatorHost
{
    public static async Task<(WebApplication App, string BoundAddress)> StartAsync(string bindAddress, int port, string? dataDir,
        Action<string> log, CancellationToken cancellationToken = default)
    {
        if (!IPAddress.TryParse(bindAddress, out var ip)) throw new ArgumentException($"bind address '{bindAddress}' is not an IP address");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = null;
            o.MaxSendMessageSize = null;
        });
        var preparer = new DatasetPreparer(dataDir, log);
        builder.Services.AddSingleton(new JobRegistry(preparer.Prepare));
        builder.WebHost.ConfigureKestrel(k => k.Listen(ip, port, l => l.Protocols = HttpProtocols.Http2));
        var app = builder.Build();
        app.MapGrpcService<JobsService>();
        app.MapGrpcService<WorkersService>();
        app.MapGrpcService<DatasetsService>();
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        return (app, app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }
}
