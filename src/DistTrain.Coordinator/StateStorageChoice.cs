using DistTrain.State;
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
/// <item><c>postgres=CONNECTION</c>: Orleans' ADO.NET provider on PostgreSQL; create its tables first with the
/// scripts in src/DistTrain.Coordinator/sql.</item>
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

    public override string ToString() => Kind == "postgres" ? "postgres" : $"{Kind} {Target}";

    /// <summary>
    /// One silo with localhost clustering on free ports: a single coordinator. A multi-silo deployment would replace
    /// UseLocalhostClustering with a membership table every silo shares (UseRedisClustering or UseAdoNetClustering, on
    /// the same store as the grain state), give each silo its own advertised IP and ports, and keep ServiceId fixed.
    /// ServiceId is fixed here too: Redis and SQL key grain state by it, so a restarted coordinator finds its jobs.
    /// </summary>
    public void Configure(ISiloBuilder silo)
    {
        silo.UseLocalhostClustering(LoopbackPort.Free(), LoopbackPort.Free(), serviceId: "disttrain", clusterId: "disttrain");
        silo.Configure<ClusterOptions>(o => { o.ServiceId = "disttrain"; o.ClusterId = "disttrain"; });
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
