using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DistTrain.Coordinator.Tests;

/// <summary>
/// A real Orleans silo in this process, configured exactly as the coordinator configures its own
/// (<see cref="StateStorageChoice.Configure"/>), over the given storage. Disposing stops it; starting another on the
/// same storage is how tests see state survive a restart.
/// </summary>
public sealed class Silo : IAsyncDisposable
{
    private readonly IHost _host;

    private Silo(IHost host) => _host = host;

    public IGrainFactory Grains => _host.Services.GetRequiredService<IGrainFactory>();

    public static async Task<Silo> StartAsync(StateStorageChoice storage)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleans(storage.Configure);
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
