using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace DistTrain.Protos.Health;

/// <summary>
/// The standard gRPC health service (grpc.health.v1, Grpc.AspNetCore.HealthChecks) on a process's gRPC port, where
/// Kubernetes' native gRPC probes, Docker's HEALTHCHECK (through `disttrain health`) and any grpc-health-probe look.
/// Two names, as probes need them:
/// <list type="bullet">
/// <item>"" (the default): ready, i.e. worth sending calls to. What that takes is the process's own question, asked on
/// every Check: a coordinator's silo has joined its cluster, a worker is registered with its coordinator.</item>
/// <item>"liveness": the process serves at all. A worker waiting for its coordinator is alive but not ready, and
/// restarting it would not help. (A coordinator opens its gRPC port only once its silo has joined the cluster, so
/// until then it answers nothing; a startup probe must allow for that.)</item>
/// </list>
/// Check needs no cluster token (<see cref="Security.TokenCheck"/> lets it through): probes carry none, and it tells
/// a caller nothing but SERVING, NOT_SERVING or, for another name, NOT_FOUND.
/// </summary>
public static class GrpcHealth
{
    /// <summary>The service name a liveness probe asks for.</summary>
    public const string Liveness = "liveness";

    private const string ReadyTag = "ready";
    private const string LiveTag = "live";

    /// <summary>
    /// Registers the health service. <paramref name="notReady"/> is asked on every Check and returns why the process
    /// is not ready yet, or null once it is.
    /// </summary>
    public static void AddGrpcHealth(this IServiceCollection services, Func<IServiceProvider, Func<string?>> notReady)
    {
        services.AddGrpcHealthChecks(o =>
        {
            o.Services.Clear();
            o.Services.Map("", r => r.Tags.Contains(ReadyTag));
            o.Services.Map(Liveness, r => r.Tags.Contains(LiveTag));
            // Each Check runs the checks then and there: a probe sees the state of this moment, not of the last
            // background round (which by default runs every 30 s).
            o.UseHealthChecksCache = false;
        })
            .AddCheck("serving", () => HealthCheckResult.Healthy(), tags: [LiveTag])
            .Add(new HealthCheckRegistration("ready", sp => new ReadyCheck(notReady(sp)), HealthStatus.Unhealthy, [ReadyTag]));
        // A probe's NOT_SERVING is an answer, not an error: the health check service would log every one as a failure.
        services.Configure<LoggerFilterOptions>(o => o.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.None));
    }

    /// <summary>Serves the health service on the app's gRPC endpoint.</summary>
    public static void MapGrpcHealth(this WebApplication app) => app.MapGrpcHealthChecksService();

    private sealed class ReadyCheck(Func<string?> notReady) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(notReady() is { } why ? HealthCheckResult.Unhealthy(why) : HealthCheckResult.Healthy());
    }
}
