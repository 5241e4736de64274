using System.Diagnostics;
using System.Net.Sockets;
using DistTrain.State;

namespace DistTrain.Coordinator.Tests;

/// <summary>
/// The silo on Orleans' Redis provider against a real redis-server (which .ci/run installs), started on a free port
/// for this test and killed by PID afterwards: state written by one silo is read back by the next.
/// </summary>
public sealed class RedisStorageTests : IAsyncLifetime
{
    private Process? _redis;
    private int _port;

    public async Task InitializeAsync()
    {
        string server = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("redis-server is not installed; .ci/run installs Debian's redis-server package");
        _port = LoopbackPort.Free();
        _redis = Process.Start(new ProcessStartInfo(server,
            ["--port", _port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"])
        {
            RedirectStandardOutput = true,
        })!;
        _redis.BeginOutputReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync("127.0.0.1", _port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !_redis.HasExited)
            {
                await Task.Delay(100);
            }
        }
    }

    public Task DisposeAsync()
    {
        if (_redis is { HasExited: false }) _redis.Kill();
        _redis?.WaitForExit();
        _redis?.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Job_state_and_its_curve_in_redis_survive_a_silo_restart_and_refuse_illegal_changes()
    {
        var storage = StateStorageChoice.Parse($"redis=127.0.0.1:{_port}", "/unused");
        Assert.Equal("redis", storage.Kind);
        string id;
        await using (var silo = await Silo.StartAsync(storage))
        {
            var registry = new JobRegistry(silo.Grains, _ => new PreparedDataset("d", "/none", 1000, 200, [28, 28, 1]));
            var job = await registry.SubmitAsync(new Protos.JobSpec { Model = "mnist-mlp", Dataset = "mnist", Epochs = 1, GlobalBatchSize = 100, Workers = 1 });
            id = job.Id;
            var grain = silo.Grains.GetGrain<IJobGrain>(id);
            await grain.Update(new JobStarted(["http://10.0.0.1:7000"], 1, ["w1"]));
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
            Assert.Equal(JobPhase.Completed, record.Phase);
            Assert.Equal(0.9, record.History[0].TestAccuracy);
            Assert.True(double.IsNaN(record.History[1].Loss) && double.IsPositiveInfinity(record.History[1].TestLoss), "non-finite figures survive");
            var curve = await silo.Grains.GetGrain<IJobGrain>(id).Series();
            Assert.Equal((2, 2L), (curve.Points.Count, curve.LastSeq));
            Assert.Equal((3, 2.3, 0.02), (curve.Points[0].Step, curve.Points[0].Loss, curve.Points[0].AllreduceSeconds));
            Assert.True(double.IsNaN(curve.Points[1].Loss), "a diverged step's loss survives as NaN");
            var e = await Assert.ThrowsAsync<InvalidJobChangeException>(() => silo.Grains.GetGrain<IJobGrain>(id).Update(new JobCancelled("late")));
            Assert.Contains("is Completed (final); it cannot cancel", e.Message);
            Assert.Contains(id, await silo.Grains.GetGrain<IJobIndexGrain>("coordinator").Jobs());
        }
    }

    [Fact]
    public async Task A_worker_is_not_lost_while_its_job_grain_waits_on_a_paused_redis()
    {
        // Beats every second (a 3 s window). The job's grain is held up writing to a Redis paused with SIGSTOP for 8 s; the
        // worker's grain asks that job grain on every beat, and must go on hearing the beats meanwhile.
        var beat = TimeSpan.FromSeconds(1);
        await using var silo = await Silo.StartAsync(StateStorageChoice.Parse($"redis=127.0.0.1:{_port}", "/unused"), beat);
        var registry = new JobRegistry(silo.Grains, _ => new PreparedDataset("d", "/none", 1000, 200, [28, 28, 1]));
        var job = await registry.SubmitAsync(new Protos.JobSpec { Model = "mnist-mlp", Dataset = "mnist", Epochs = 2, GlobalBatchSize = 100, Workers = 1 });
        string w = await registry.RegisterAsync("http://127.0.0.1:7001", 1, "w-paused-store", "one");
        using var stop = new CancellationTokenSource();
        var beating = WorkerLivenessTests.KeepAliveAsync(registry, w, stop.Token);
        Assert.Equal(job.Id, (await registry.WaitForAssignmentAsync(w, new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token)).JobId);

        Signal("STOP");
        Task<bool>[] reports;
        try
        {
            // Each report's write waits for Redis (until its client times out): the job's grain is busy throughout.
            reports = [.. Enumerable.Range(1, 3).Select(step => registry.ReportAsync(new Protos.ProgressReport { WorkerId = w, JobId = job.Id, Rank = 0, Epoch = 1, Step = step }))];
            await Task.Delay(TimeSpan.FromSeconds(8));
        }
        finally
        {
            Signal("CONT");
        }
        await Task.WhenAll(reports.Select(r => r.ContinueWith(_ => { }, TaskScheduler.Default)));
        var worker = await silo.Grains.GetGrain<IWorkerGrain>(w).Get();
        Assert.True(worker!.Phase == WorkerPhase.Training, $"{w} is {worker.Phase}: {worker.Note}");
        var record = await registry.GetAsync(job.Id);
        Assert.True(record.Events.Count == 0 && record.Status == Protos.JobStatus.Running, $"{record.Status}: {record.Events}");
        await stop.CancelAsync();
        await beating;
    }

    private void Signal(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", _redis!.Id.ToString()])!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    [Theory]
    [InlineData("redis", "needs a HOST:PORT")]
    [InlineData("mongo=db:27017", "is not one of: file, redis=HOST:PORT, postgres=CONNECTION")]
    [InlineData("postgres=", "needs a connection string")]
    public void A_bad_storage_option_names_what_is_wrong(string value, string expected)
    {
        Assert.Contains(expected, Assert.Throws<ArgumentException>(() => StateStorageChoice.Parse(value, "/state")).Message);
    }
}
