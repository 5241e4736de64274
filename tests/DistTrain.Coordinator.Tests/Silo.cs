using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DistTrain.Coordinator.Tests;

/// <summary>
/// A real Orleans silo in this process, configured exactly as the coordinator configures its own
/// (<see cref="StateStorageChoice.Configure"/>, and the <see cref="SchedulerKeeper"/> that wakes the scheduler), over
/// the given storage. Disposing stops it; starting another on the
/// same storage is how tests see state survive a restart.
/// </summary>
public sealed class Silo : IAsyncDisposable
{
    private readonly IHost _host;

    private Silo(IHost host) => _host = host;

    public IGrainFactory Grains => _host.Services.GetRequiredService<IGrainFactory>();

    /// <param name="heartbeat">The workers' heartbeat interval the grains judge liveness by (default 2 s); tests
    /// shorten it to see a worker lost within a second.</param>
    public static async Task<Silo> StartAsync(StateStorageChoice storage, TimeSpan? heartbeat = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.Configure<State.WorkerLiveness>(o =>
        {
            o.HeartbeatInterval = heartbeat ?? o.HeartbeatInterval;
            o.Grace = heartbeat is null ? o.Grace : TimeSpan.Zero;
        });
        builder.UseOrleans(silo => storage.Configure(silo));
        builder.Services.AddHostedService<SchedulerKeeper>();
        var host = builder.Build();
        await host.StartAsync();
        return new Silo(host);
    }

    public static string TempStateDir() => Directory.CreateTempSubdirectory("disttrain-state-").FullName;

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}
