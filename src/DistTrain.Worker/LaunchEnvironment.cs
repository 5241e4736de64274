using System.Globalization;

namespace DistTrain.Worker;

/// <summary>
/// What `disttrain launch` tells each copy of a user's program through its environment, as torchrun does: where the
/// coordinator is, the launch's id (shared by every rank of the run, on every host), the world size, and this copy's
/// index on its host. A program started without them runs alone.
/// </summary>
/// <param name="LocalRank">This copy's index among its launch's copies on this host (the job's rank is the coordinator's to give).</param>
/// <param name="Bind">The address the rank serves its end of the ring on: loopback for a one-host launch, else every interface.</param>
public sealed record LaunchEnvironment(string Coordinator, string LaunchId, int WorldSize, int LocalRank, string Name, int Threads, string Bind)
{
    public const string CoordinatorVariable = "DISTTRAIN_COORDINATOR";
    public const string LaunchVariable = "DISTTRAIN_LAUNCH_ID";
    public const string WorldSizeVariable = "DISTTRAIN_WORLD_SIZE";
    public const string LocalRankVariable = "DISTTRAIN_LOCAL_RANK";
    public const string NameVariable = "DISTTRAIN_JOB_NAME";
    public const string ThreadsVariable = "DISTTRAIN_THREADS";
    public const string BindVariable = "DISTTRAIN_BIND";

    /// <summary>The variables to set for a copy.</summary>
    public IReadOnlyDictionary<string, string> Variables => new Dictionary<string, string>
    {
        [CoordinatorVariable] = Coordinator, [LaunchVariable] = LaunchId, [WorldSizeVariable] = WorldSize.ToString(CultureInfo.InvariantCulture),
        [LocalRankVariable] = LocalRank.ToString(CultureInfo.InvariantCulture), [NameVariable] = Name,
        [ThreadsVariable] = Threads.ToString(CultureInfo.InvariantCulture), [BindVariable] = Bind,
    };

    /// <summary>This process's launch, or null when it was not started by `disttrain launch` (no coordinator variable).</summary>
    public static LaunchEnvironment? Read(Func<string, string?>? variable = null)
    {
        variable ??= Environment.GetEnvironmentVariable;
        if (variable(CoordinatorVariable) is not { Length: > 0 } coordinator) return null;
        string Need(string name) => variable(name) is { Length: > 0 } v ? v
            : throw new InvalidOperationException($"${CoordinatorVariable} is set but ${name} is not; start the program with `disttrain launch`");
        int Number(string name, int min)
        {
            string text = Need(name);
            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= min ? n
                : throw new InvalidOperationException($"${name} is '{text}'; expected a whole number of at least {min}");
        }
        return new LaunchEnvironment(coordinator, Need(LaunchVariable), Number(WorldSizeVariable, 1), Number(LocalRankVariable, 0),
            variable(NameVariable) ?? "", variable(ThreadsVariable) is { Length: > 0 } ? Number(ThreadsVariable, 1) : 1,
            variable(BindVariable) is { Length: > 0 } bind ? bind : "0.0.0.0");
    }
}
