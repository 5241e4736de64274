using DistTrain.State;

namespace DistTrain.Coordinator.Tests;

/// <summary>
/// The silo on Orleans' ADO.NET provider with DistTrain's PostgreSQL scripts, against a real PostgreSQL server this
/// test starts (<see cref="PostgresServer"/>): state written by one silo is read back by the next.
/// </summary>
public sealed class PostgresStorageTests : IAsyncLifetime
{
    private PostgresServer _server = null!;

    public async Task InitializeAsync() => _server = await PostgresServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Job_state_and_its_curve_in_postgres_survive_a_silo_restart()
    {
        var storage = StateStorageChoice.Parse("postgres=" + _server.ConnectionString, "/unused");
        string id = $"job-pg-{Guid.NewGuid():N}";
        await using (var silo = await Silo.StartAsync(storage))
        {
            var grain = silo.Grains.GetGrain<IJobGrain>(id);
            await grain.Update(new JobSubmitted("{}", 7, 1000, 200, "d", 1));
            await grain.Update(new JobStarted(["http://10.0.0.1:7000"], 4, ["w1"]));
            // Two step reports, one diverged: the per-step curve is stored beside the record (at the epoch's end).
            await grain.Update(new JobProgressed(1, 3, 2.3, 0, 900, 0.1, 0.02));
            await grain.Update(new JobProgressed(1, 6, double.NaN, 0, 950, 0.1, 0.02));
            await grain.Update(new JobEpochEnded(new EpochRecord(1, 0.4, 0.88, 0.35, 0.9, 1000, 2)));
            await grain.Update(new JobEpochEnded(new EpochRecord(2, double.NaN, 0.1, double.PositiveInfinity, 0.1, 1000, 2))); // diverged
            await grain.Update(new JobCompleted());
        }
        await using (var silo = await Silo.StartAsync(storage))
        {
            var record = await silo.Grains.GetGrain<IJobGrain>(id).Get();
            Assert.NotNull(record);
            Assert.Equal((JobPhase.Completed, 4L), (record.Phase, record.Generation));
            Assert.Equal(0.9, record.History[0].TestAccuracy);
            Assert.True(double.IsNaN(record.History[1].Loss) && double.IsPositiveInfinity(record.History[1].TestLoss), "non-finite figures survive");
            var curve = await silo.Grains.GetGrain<IJobGrain>(id).Series();
            Assert.Equal((2, 2L), (curve.Points.Count, curve.LastSeq));
            Assert.Equal((3, 2.3, 0.02), (curve.Points[0].Step, curve.Points[0].Loss, curve.Points[0].AllreduceSeconds));
            Assert.True(double.IsNaN(curve.Points[1].Loss), "a diverged step's loss survives as NaN");
        }
    }
}
