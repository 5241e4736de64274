using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Balancer;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace DistTrain.Protos;

/// <summary>
/// The channel to a coordinator, or to any of several coordinators of one cluster: `--coordinator URL1,URL2` balances
/// calls round-robin over the static list, and a call to one that is down goes to another (gRPC's own client-side
/// balancing, not a loop of ours). Workers also get gRPC's own retry policy, which retries a call that found no
/// coordinator, with backoff; together with WaitForReady on their calls, a worker waits out a coordinator restart.
/// </summary>
public static class CoordinatorChannel
{
    /// <summary>The addresses in a `--coordinator` value, each checked to be an http(s) URL.</summary>
    public static IReadOnlyList<Uri> Parse(string urls)
    {
        var list = urls.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (list.Length == 0) throw new ArgumentException("--coordinator needs at least one URL, such as http://10.0.0.2:7070");
        return list.Select(u => Uri.TryCreate(u, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri : throw new ArgumentException($"--coordinator: '{u}' is not an http:// or https:// URL")).ToList();
    }

    /// <param name="retry">Retry calls that found no coordinator (workers); a user's command fails at once instead.</param>
    /// <param name="security">The cluster token and TLS (default: none, for loopback).</param>
    /// <param name="workerSecret">A worker's: the secret of its registration, once it has one, put on every call.</param>
    public static GrpcChannel Create(string urls, bool retry = false, Security.ClusterSecurity? security = null, Func<string?>? workerSecret = null)
    {
        var addresses = Parse(urls);
        var config = new ServiceConfig { LoadBalancingConfigs = { new RoundRobinConfig() } };
        if (retry)
            config.MethodConfigs.Add(new MethodConfig
            {
                Names = { MethodName.Default },
                RetryPolicy = new RetryPolicy
                {
                    MaxAttempts = 5, InitialBackoff = TimeSpan.FromMilliseconds(500), MaxBackoff = TimeSpan.FromSeconds(4), BackoffMultiplier = 2,
                    RetryableStatusCodes = { StatusCode.Unavailable, StatusCode.Aborted },
                },
            });
        var options = new GrpcChannelOptions
        {
            ServiceConfig = config,
            // Datasets stream in 1 MiB chunks and jobs carry their spec: well under this, but never unbounded.
            MaxReceiveMessageSize = 64 << 20,
            MaxSendMessageSize = 64 << 20,
            // A coordinator that restarts is back within seconds: look for it again soon, not after gRPC's 2-minute cap.
            InitialReconnectBackoff = TimeSpan.FromMilliseconds(250),
            MaxReconnectBackoff = TimeSpan.FromSeconds(2),
        };
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            // A coordinator host that vanished without closing its connections is noticed by keepalive pings.
            KeepAlivePingDelay = TimeSpan.FromSeconds(10),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
        };
        options.HttpHandler = handler;
        bool secure = addresses[0].Scheme == "https";
        if (addresses.Any(a => (a.Scheme == "https") != secure)) throw new ArgumentException($"--coordinator {urls}: mixes http:// and https:// URLs");
        if (security?.Tls is not null && !secure) throw new ArgumentException($"--coordinator {urls}: with TLS settings, give the coordinator's https:// URL");
        if (addresses.Count > 1) options.Credentials = secure ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure;
        (security ?? Security.ClusterSecurity.None).ApplyTo(options, handler, secure, workerSecret);
        if (addresses.Count == 1) return GrpcChannel.ForAddress(addresses[0], options);
        var services = new ServiceCollection();
        services.AddSingleton<ResolverFactory>(new StaticResolverFactory(_ => addresses.Select(a => new BalancerAddress(a.Host, a.Port)).ToArray()));
        options.ServiceProvider = services.BuildServiceProvider();
        return GrpcChannel.ForAddress("static:///coordinators", options);
    }

    /// <summary>The trailer with which a coordinator marks a NOT_FOUND as "unknown worker".</summary>
    public const string UnknownWorkerTrailer = "disttrain-unknown-worker";

    /// <summary>True when a NOT_FOUND means "this worker is unknown here: register again" (the coordinator's trailer).</summary>
    public static bool IsUnknownWorker(RpcException e) =>
        e.StatusCode == StatusCode.NotFound && e.Trailers.Get(UnknownWorkerTrailer) is not null;
}
