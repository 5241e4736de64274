using System.Net;
using DistTrain.State;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime.Hosting;
using StackExchange.Redis;

namespace DistTrain.Coordinator;

/// <summary>
/// Where the coordinator's grains keep their state, from `--storage`:
/// <list type="bullet">
/// <item><c>file</c> (the default): JSON files under the state directory (<see cref="FileGrainStorage"/>).</item>
/// <item><c>redis=HOST:PORT</c>: Orleans' Redis provider.</item>
/// <item><c>postgres=CONNECTION</c>: Orleans' ADO.NET providers on PostgreSQL; create their tables first with the
/// scripts in src/DistTrain.Coordinator/sql (Main, Persistence, Clustering).</item>
/// </list>
/// </summary>
public sealed record StateStorageChoice(string Kind, string Target)
{
    public static StateStorageChoice File(string stateDir) => new("file", stateDir);

    /// <summary>Parses `file`, `redis=HOST:PORT` or `postgres=CONNECTION`; <paramref name="stateDir"/> serves `file`.</summary>
    public static StateStorageChoice Parse(string? value, string stateDir)
    {
        if (string.IsNullOrEmpty(value) || value == "file") return File(stateDir);
        int eq = value.IndexOf('=');
        string kind = eq < 0 ? value : value[..eq], target = eq < 0 ? "" : value[(eq + 1)..];
        if (kind is not ("redis" or "postgres"))
            throw new ArgumentException($"--storage '{value}' is not one of: file, redis=HOST:PORT, postgres=CONNECTION");
        if (target.Length == 0) throw new ArgumentException($"--storage {kind}= needs a {(kind == "redis" ? "HOST:PORT" : "connection string")}");
        return new StateStorageChoice(kind, target);
    }

    // A Redis connection string may hold a password: it is never printed.
    public override string ToString() => Kind switch
    {
        "postgres" => "postgres",
        "redis" => $"redis {System.Text.RegularExpressions.Regex.Replace(Target, "(?i)password=[^,]*", "password=***")}",
        _ => $"{Kind} {Target}",
    };

    /// <summary>
    /// The silo's clustering and grain storage. With <c>file</c>, one silo with localhost clustering: a lone
    /// coordinator. With Redis or PostgreSQL, every coordinator given the same <c>--storage</c> joins one Orleans cluster
    /// through a membership table in that store, and grains move to a survivor when one dies; <paramref name="endpoint"/> is the
    /// address and ports this silo is reached at by the others. ServiceId and ClusterId are fixed: Redis and SQL key
    /// grain state by them, so a restarted coordinator finds its jobs.
    /// </summary>
    public void Configure(ISiloBuilder silo, SiloEndpoint? endpoint = null)
    {
        silo.Configure<ClusterOptions>(o => { o.ServiceId = "disttrain"; o.ClusterId = "disttrain"; });
        if (Kind is "redis" or "postgres")
        {
            var e = endpoint ?? SiloEndpoint.Loopback();
            // Set directly rather than through ConfigureEndpoints, whose wildcard form also listens for a gateway (on a
            // random port) even when asked for none: no gateway at all, and the silo port on the bind address alone.
            silo.Configure<EndpointOptions>(o =>
            {
                o.AdvertisedIPAddress = e.Address;
                o.SiloPort = e.SiloPort;
                o.GatewayPort = 0;
                o.SiloListeningEndpoint = e.AnyAddress ? new IPEndPoint(IPAddress.Any, e.SiloPort) : null;
                o.GatewayListeningEndpoint = null;
            });
            if (Kind == "redis") silo.UseRedisClustering(o => o.ConfigurationOptions = ConfigurationOptions.Parse(Target));
            else
                silo.UseAdoNetClustering(o =>
                {
                    o.Invariant = "Npgsql";
                    o.ConnectionString = Target;
                });
            // A coordinator killed outright is declared dead within about ten seconds (three missed 2 s probes), so that
            // its grains move on soon; Orleans' defaults take a minute or more. Fewer or shorter probes than this
            // declare a live but busy coordinator dead on a loaded two-core machine.
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                o.ProbeTimeout = TimeSpan.FromSeconds(2);
                o.NumMissedProbesLimit = 3;
                o.NumVotesForDeathDeclaration = 1;
                o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
                // A store it cannot join (say, PostgreSQL without the clustering script) fails the start within this,
                // not after Orleans' default five minutes.
                o.MaxJoinAttemptTime = TimeSpan.FromSeconds(30);
            });
        }
        else
        {
            // Gateway port 0: no Orleans gateway, which would let any local user call the grains past the token.
            silo.UseLocalhostClustering(LoopbackPort.Free(), gatewayPort: 0, serviceId: "disttrain", clusterId: "disttrain");
        }
        switch (Kind)
        {
            case "file":
                silo.Services.AddGrainStorage(StateStorage.Name, (_, _) => new FileGrainStorage(Target));
                break;
            case "redis":
                silo.AddRedisGrainStorage(StateStorage.Name, o => o.ConfigurationOptions = ConfigurationOptions.Parse(Target));
                break;
            case "postgres":
                silo.AddAdoNetGrainStorage(StateStorage.Name, o =>
                {
                    o.Invariant = "Npgsql";
                    o.ConnectionString = Target;
                });
                break;
        }
    }
}
