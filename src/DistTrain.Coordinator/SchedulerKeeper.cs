using DistTrain.State;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DistTrain.Coordinator;

/// <summary>
/// Keeps the cluster's scheduler awake: every coordinator calls its <see cref="ISchedulerGrain.Start"/> every heartbeat
/// interval. The scheduler's own timer watches every worker's liveness and retries placement, but a grain timer dies
/// with its silo; after a coordinator is killed, the next call from a survivor re-activates the scheduler there (and,
/// through its timer, every worker grain that lived on the dead one), without waiting for a submit or a registration.
/// </summary>
public sealed class SchedulerKeeper(IGrainFactory grains, IOptions<WorkerLiveness> liveness, ILogger<SchedulerKeeper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(liveness.Value.HeartbeatInterval);
        do
        {
            try
            {
                await grains.GetGrain<ISchedulerGrain>(SchedulerGrain.Key).Start().WaitAsync(liveness.Value.Window, stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // The cluster is still forming, or the scheduler's silo just died: the next tick tries again.
                logger.LogDebug(e, "waking the scheduler failed");
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
