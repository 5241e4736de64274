using DistTrain.Cli.Output;
using DistTrain.Telemetry;
using Microsoft.AspNetCore.Builder;

namespace DistTrain.Cli;

/// <summary>A process's optional /metrics endpoint (<see cref="MetricsHost"/>), announced on stderr and stopped with the process.</summary>
public sealed class MetricsEndpoint : IAsyncDisposable
{
    private readonly WebApplication? _app;

    private MetricsEndpoint(WebApplication? app) => _app = app;

    public static async Task<MetricsEndpoint> StartAsync(string bind, int? port, string role, CancellationToken cancellationToken)
    {
        if (port is not { } p) return new MetricsEndpoint(null);
        var (app, url) = await MetricsHost.StartAsync(bind, p, role, cancellationToken);
        Terminal.Info($"{role} metrics at {url}");
        return new MetricsEndpoint(app);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync();
    }
}
