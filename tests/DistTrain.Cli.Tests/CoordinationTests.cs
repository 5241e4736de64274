using System.Text.Json;
using DistTrain.Protos;
using Xunit.Abstractions;

namespace DistTrain.Cli.Tests;

/// <summary>
/// Coordination in grains, with real processes and real signals: a worker killed with kill -9 is found lost and comes
/// back under its identity; workers started before their coordinator wait for it; a coordinator killed mid-job and
/// started again loses nothing, and neither worker exits.
/// </summary>
public class CoordinationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-coord-").FullName;
    private readonly Dictionary<string, string> _env;
    private readonly ITestOutputHelper _output;

    public CoordinationTests(ITestOutputHelper output)
    {
        _env = new() { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache") };
        _output = output;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string[] CoordinatorArgs(int port) =>
        ["coordinator", "--bind", "127.0.0.1", "--port", port.ToString(), "--state-dir", Path.Combine(_dir, "state"), "--data-dir", _dir];

    private BackgroundProcess Worker(string url) => BackgroundProcess.Disttrain(["worker", "--coordinator", url, "--bind", "127.0.0.1"], _env);

    private static BackgroundProcess Started(BackgroundProcess coordinator)
    {
        coordinator.WaitForLine(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        return coordinator;
    }

    // The id a worker registered under, from its log ("ID: registered with URL").
    private static string IdOf(BackgroundProcess worker) =>
        worker.WaitForLine(l => l.Contains(": registered with ", StringComparison.Ordinal), TimeSpan.FromSeconds(60)).Split(':')[0];

    private static List<JsonElement> Workers(string url)
    {
        var r = CliProcess.Run(["workers", "--coordinator", url, "--json"], timeoutSeconds: 60);
        Assert.True(r.ExitCode == 0, r.Stderr);
        return JsonDocument.Parse(r.LastLine).RootElement.EnumerateArray().ToList();
    }

    private static string StatusOf(List<JsonElement> workers, string id) =>
        workers.Single(w => w.GetProperty("worker").GetString() == id).GetProperty("status").GetString()!;

    private static async Task<Job> WaitForJobAsync(Jobs.JobsClient jobs, string id, Func<Job, bool> done, TimeSpan timeout, string context)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                var job = await jobs.GetAsync(new GetJobRequest { Id = id }, deadline: DateTime.UtcNow.AddSeconds(10));
                if (done(job)) return job;
            }
            catch (Grpc.Core.RpcException) when (DateTime.UtcNow < until)
            {
                // the coordinator is restarting
            }
            Assert.True(DateTime.UtcNow < until, $"{id} did not get there within {timeout.TotalSeconds:0} s\n{context}");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task A_killed_worker_is_lost_within_10_s_is_never_placed_and_comes_back_under_its_identity()
    {
        SyntheticDigits.Write(_dir);
        int port = BackgroundProcess.FreePort();
        string url = $"http://127.0.0.1:{port}";
        using var coordinator = Started(BackgroundProcess.Disttrain(CoordinatorArgs(port), _env));
        using var w1 = Worker(url);
        using var w2 = Worker(url);
        var w3 = Worker(url);
        string[] ids = [IdOf(w1), IdOf(w2), IdOf(w3)];
        Assert.Equal(3, ids.Distinct().Count());
        Assert.All(ids, id => Assert.Equal("idle", StatusOf(Workers(url), id)));

        w3.Kill(); // kill -9
        var killed = DateTime.UtcNow;
        // The bound is the issue's: `disttrain workers` shows it lost within 10 s of the kill (3 missed 2 s beats, checked
        // every second), measured when the command has answered.
        while (StatusOf(Workers(url), ids[2]) != "lost")
        {
            Assert.True(DateTime.UtcNow - killed < TimeSpan.FromSeconds(10), $"{ids[2]} not lost 10 s after kill -9\n{coordinator.Output}");
            Thread.Sleep(250);
        }
        _output.WriteLine($"{ids[2]} shown lost {(DateTime.UtcNow - killed).TotalSeconds:0.0} s after kill -9");
        w3.Dispose();

        using var channel = CoordinatorChannel.Create(url);
        var jobs = new Jobs.JobsClient(channel);
        var job = await jobs.SubmitAsync(new SubmitJobRequest
        {
            Spec = new JobSpec { Model = "mnist-mlp", Dataset = "mnist", Epochs = 1, GlobalBatchSize = 32, Workers = 2, Seed = 1 },
        });
        var done = await WaitForJobAsync(jobs, job.Id, j => j.Status is not (JobStatus.Pending or JobStatus.Running), TimeSpan.FromSeconds(120),
            coordinator.Output + w1.Output + w2.Output);
        Assert.True(done.Status == JobStatus.Completed, done.Error);
        var placed = Workers(url).Where(w => w.GetProperty("status").GetString() != "lost").Select(w => w.GetProperty("address").GetString()).ToList();
        Assert.Equal(placed.Order(), done.Workers.Order());

        // Restarted on the same data directory, it takes its old identity back: one entry, idle again.
        using var back = Worker(url);
        Assert.Equal(ids[2], IdOf(back));
        var after = Workers(url);
        Assert.Equal(3, after.Count);
        Assert.Equal("idle", StatusOf(after, ids[2]));
    }

    [Fact]
    public async Task Workers_wait_for_their_coordinator_and_a_job_survives_its_coordinator_being_killed_mid_job()
    {
        SyntheticDigits.Write(_dir, train: 3000);
        int port = BackgroundProcess.FreePort();
        string url = $"http://127.0.0.1:{port}";
        // Order of start: the workers come first, and wait.
        using var w1 = Worker(url);
        using var w2 = Worker(url);
        Thread.Sleep(3000);
        Assert.False(w1.HasExited || w2.HasExited, w1.Output + w2.Output);
        var coordinator = Started(BackgroundProcess.Disttrain(CoordinatorArgs(port), _env));
        IdOf(w1);
        IdOf(w2);

        using var channel = CoordinatorChannel.Create(url);
        var jobs = new Jobs.JobsClient(channel);
        var job = await jobs.SubmitAsync(new SubmitJobRequest
        {
            Spec = new JobSpec { Model = "mnist-cnn", Dataset = "mnist", Epochs = 4, GlobalBatchSize = 32, Workers = 2, Seed = 1 },
        });
        var mid = await WaitForJobAsync(jobs, job.Id, j => j.History.Count == 1 && j.Epoch == 2 || j.Status != JobStatus.Pending && j.Status != JobStatus.Running,
            TimeSpan.FromSeconds(180), coordinator.Output);
        coordinator.Kill(); // kill -9 during epoch 2
        Assert.True(mid.Status == JobStatus.Running && mid.History.Count == 1, $"{mid.Status} with {mid.History.Count} epochs done when the coordinator was killed");
        string before = coordinator.Output;
        coordinator.Dispose();
        Thread.Sleep(1000);
        using var restarted = Started(BackgroundProcess.Disttrain(CoordinatorArgs(port), _env));

        var done = await WaitForJobAsync(jobs, job.Id, j => j.Status is not (JobStatus.Pending or JobStatus.Running), TimeSpan.FromSeconds(240),
            before + restarted.Output + w1.Output + w2.Output);
        Assert.True(done.Status == JobStatus.Completed, $"{done.Status}: {done.Error}\n{restarted.Output}\n{w1.Output}\n{w2.Output}");
        // Each epoch once, whatever was retried across the kill; the record says what happened if not.
        Assert.True(done.History.Select(e => e.Epoch).SequenceEqual([1, 2, 3, 4]),
            $"history: {string.Join("; ", done.History.Select(e => $"epoch {e.Epoch} loss {e.Loss:F5} samples {e.Samples}"))}; events: {done.Events}");
        Assert.True(done.History[^1].TestAccuracy >= 0.8, $"test accuracy {done.History[^1].TestAccuracy}");
        Assert.False(w1.HasExited || w2.HasExited, "a worker exited\n" + w1.Output + w2.Output);
    }
}
