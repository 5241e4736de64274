using System.Text.Json;

namespace DistTrain.Cli.Tests;

/// <summary>
/// Real processes: a coordinator and a worker run a job to completion; the coordinator is killed and started again on
/// the same state directory, and `disttrain status` and `disttrain jobs` still show the finished job and its history.
/// A coordinator frozen mid-job (SIGSTOP) for longer than the workers' heartbeat window loses none of them.
/// </summary>
public class CoordinatorRestartTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-restart-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_coordinator_frozen_past_the_heartbeat_window_loses_no_worker()
    {
        SyntheticDigits.Write(_dir, train: 1800, test: 200);
        var env = new Dictionary<string, string> { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache") };
        int port = BackgroundProcess.FreePort();
        string url = $"http://127.0.0.1:{port}";
        using var coordinator = BackgroundProcess.Disttrain(["coordinator", "--bind", "127.0.0.1", "--port", port.ToString(), "--state-dir",
            Path.Combine(_dir, "state"), "--data-dir", _dir], env);
        coordinator.WaitForLine(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        using var w1 = BackgroundProcess.Disttrain(["worker", "--coordinator", url, "--bind", "127.0.0.1"], env);
        using var w2 = BackgroundProcess.Disttrain(["worker", "--coordinator", url, "--bind", "127.0.0.1"], env);
        string Logs() => $"{coordinator.Output}\n{w1.Output}\n{w2.Output}";
        using var channel = Protos.CoordinatorChannel.Create(url);
        var jobs = new Protos.Jobs.JobsClient(channel);
        var job = await jobs.SubmitAsync(new Protos.SubmitJobRequest
        {
            Spec = new Protos.JobSpec { Model = "mnist-mlp", Dataset = "mnist", Epochs = 30, GlobalBatchSize = 60, Workers = 2, Seed = 3 },
        });
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        Protos.Job mid;
        while ((mid = await jobs.GetAsync(new Protos.GetJobRequest { Id = job.Id })).History.Count < 1)
        {
            Assert.True(DateTime.UtcNow < until, $"{job.Id} did not finish epoch 1\n{Logs()}");
            await Task.Delay(100);
        }
        Assert.True(mid.Status == Protos.JobStatus.Running, $"{mid.Status} before the freeze"); // the freeze lands mid-run
        // Frozen for 10 s: the workers' beats go unheard, and so does everything else (a paused VM, a long stop of the world).
        coordinator.Signal(ProcessSignals.SIGSTOP);
        await Task.Delay(TimeSpan.FromSeconds(10));
        coordinator.Signal(ProcessSignals.SIGCONT);
        until = DateTime.UtcNow + TimeSpan.FromSeconds(180);
        Protos.Job done;
        while ((done = await jobs.GetAsync(new Protos.GetJobRequest { Id = job.Id }, deadline: DateTime.UtcNow.AddSeconds(30))).Status
            is Protos.JobStatus.Pending or Protos.JobStatus.Running)
        {
            Assert.True(DateTime.UtcNow < until, $"{job.Id} did not end: {done}\n{Logs()}");
            await Task.Delay(200);
        }
        Assert.True(done.Status == Protos.JobStatus.Completed, $"{done.Status}: {done.Error}\n{Logs()}");
        Assert.True(done.Events.Count == 0, $"the freeze changed the worker set: {done.Events}\n{Logs()}");
        Assert.Equal(Enumerable.Range(1, 30), done.History.Select(e => e.Epoch));
    }

    [Fact]
    public void A_finished_job_survives_a_coordinator_kill_and_restart()
    {
        SyntheticDigits.Write(_dir);
        var env = new Dictionary<string, string> { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache") };
        int port = BackgroundProcess.FreePort();
        string url = $"http://127.0.0.1:{port}", state = Path.Combine(_dir, "state");
        string[] coordinatorArgs = ["coordinator", "--bind", "127.0.0.1", "--port", port.ToString(), "--state-dir", state, "--data-dir", _dir];

        using (var coordinator = BackgroundProcess.Disttrain(coordinatorArgs, env))
        {
            coordinator.WaitForLine(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
            using var worker = BackgroundProcess.Disttrain(["worker", "--coordinator", url, "--bind", "127.0.0.1", "--once"], env);
            var submit = CliProcess.Run(["submit", "--coordinator", url, "--workers", "1", "--dataset", "mnist", "--model", "mnist-mlp",
                "--epochs", "2", "--batch-size", "32", "--json"], env, timeoutSeconds: 120);
            Assert.True(submit.ExitCode == 0, submit.Stderr + coordinator.Output + worker.Output);
            coordinator.Kill(); // no graceful shutdown: the state must already be on disk
        }

        using var restarted = BackgroundProcess.Disttrain(coordinatorArgs, env);
        restarted.WaitForLine(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        var status = CliProcess.Run(["status", "job-1", "--coordinator", url, "--json"], timeoutSeconds: 60);
        Assert.True(status.ExitCode == 0, status.Stderr);
        using var j = JsonDocument.Parse(status.LastLine);
        Assert.Equal("job-1", j.RootElement.GetProperty("job").GetString());
        Assert.Equal("completed", j.RootElement.GetProperty("status").GetString());
        Assert.Equal(1, j.RootElement.GetProperty("workers").GetInt32());
        var history = j.RootElement.GetProperty("history").EnumerateArray().ToList();
        Assert.Equal([1, 2], history.Select(e => e.GetProperty("epoch").GetInt32()));
        Assert.All(history, e => Assert.True(e.GetProperty("accuracy").GetDouble() > 0 && e.GetProperty("seconds").GetDouble() > 0));
        Assert.Equal(JsonValueKind.Null, j.RootElement.GetProperty("error").ValueKind);

        var table = CliProcess.Run(["status", "job-1", "--coordinator", url], timeoutSeconds: 60);
        Assert.Contains("test accuracy", table.Stdout);
        // Rank 0 stored the final model with the coordinator, whose store outlives it: it downloads and loads.
        Assert.Contains("checkpoint: final model (after epoch 2)", table.Stdout);
        string checkpoint = Path.Combine(_dir, "exported.dtm");
        var export = CliProcess.Run(["export", "job-1", "--coordinator", url, "--out", checkpoint], timeoutSeconds: 60);
        Assert.True(export.ExitCode == 0 && File.Exists(checkpoint), export.Stderr);
        var evaluate = CliProcess.Run(["evaluate", "--model-file", checkpoint, "--dataset", "mnist", "--data-dir", _dir, "--json"], env, timeoutSeconds: 60);
        Assert.True(evaluate.ExitCode == 0, evaluate.Stderr);
        var jobs = CliProcess.Run(["jobs", "--coordinator", url, "--json"], timeoutSeconds: 60);
        Assert.Contains("\"job\":\"job-1\"", jobs.LastLine);

        // Cancelling a finished job is refused, naming its status.
        var refused = CliProcess.Run(["cancel", "job-1", "--coordinator", url], timeoutSeconds: 60);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("job-1 is Completed (final); it cannot cancel", refused.Stderr);
    }
}
