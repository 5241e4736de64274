using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace DistTrain.Telemetry;

/// <summary>
/// Serves a process's metrics at /metrics: the DistTrain meter plus the runtime's own (GC, JIT, thread pool, process
/// CPU and memory), exported by the OpenTelemetry SDK's Prometheus exporter on a plain HTTP/1.1 endpoint, apart from
/// the process's gRPC endpoint (which is HTTP/2 only).
/// </summary>
public static class MetricsHost
{
    /// <summary>
    /// Starts the endpoint; returns it and its /metrics URL (with the real port when 0 was asked). <paramref name="role"/>
    /// ("coordinator", "worker") becomes the resource's service.name, "disttrain-ROLE", shown in target_info.
    /// </summary>
    public static async Task<(WebApplication App, string Url)> StartAsync(string bindAddress, int port, string role, CancellationToken cancellationToken = default)
    {
        if (!IPAddress.TryParse(bindAddress, out var ip)) throw new ArgumentException($"metrics bind address '{bindAddress}' is not an IP address");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // A failure to start (a port in use) reaches the caller as an exception with a message; the host's own log of it
        // would be a stack trace on the user's terminal.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        // Stopping (SIGTERM) waits this long at most for open calls, such as long polls that only end with their job.
        builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(3));
        AddMetrics(builder, role);
        builder.WebHost.ConfigureKestrel(k => k.Listen(ip, port, l => l.Protocols = HttpProtocols.Http1));
        var app = builder.Build();
        MapMetrics(app);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new IOException($"cannot serve metrics on {bindAddress}:{port}: {e.Message}", e);
        }
        var bound = new Uri(app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.First());
        string host = ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any) ? "127.0.0.1" : bound.Host;
        return (app, $"http://{host}:{bound.Port}/metrics");
    }

    /// <summary>
    /// Exports the DistTrain meter and the runtime's own from a host that serves other things too (the coordinator's web
    /// endpoint); <paramref name="role"/> as in <see cref="StartAsync"/>. <see cref="MapMetrics"/> then serves them.
    /// </summary>
    public static void AddMetrics(WebApplicationBuilder builder, string role) =>
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService($"disttrain-{role}", serviceNamespace: "disttrain",
                serviceVersion: typeof(MetricsHost).Assembly.GetName().Version?.ToString(3)))
            .WithMetrics(m => m
            .AddMeter(DistTrainMetrics.MeterName)
            .AddRuntimeInstrumentation()
            .AddPrometheusExporter());

    /// <summary>Serves what <see cref="AddMetrics"/> exports at /metrics, in Prometheus' text format.</summary>
    public static void MapMetrics(WebApplication app) => app.MapPrometheusScrapingEndpoint("/metrics");
}
