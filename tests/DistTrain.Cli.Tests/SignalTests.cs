using System.Diagnostics;
using System.Text.Json;

namespace DistTrain.Cli.Tests;

/// <summary>
/// SIGTERM, as Kubernetes, Docker and systemd send it, ends each kind of DistTrain process within 10 s with exit code
/// 0 or 143: real processes, a real signal.
/// </summary>
public class SignalTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-signal-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Dictionary<string, string> Env() => new() { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache") };

    private static void AssertStopsWithin(BackgroundProcess p, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        p.Signal(ProcessSignals.SIGTERM);
        int code = p.ExitsWithin(bound);
        Assert.True(code is 0 or 143, $"exit code {code} after SIGTERM:\n{p.Output}");
        Assert.True(clock.Elapsed < bound, $"took {clock.Elapsed.TotalSeconds:F1} s");
    }

    private BackgroundProcess Coordinator(out string url)
    {
        int port = BackgroundProcess.FreePort();
        url = $"http://127.0.0.1:{port}";
        var c = BackgroundProcess.Disttrain(["coordinator", "--bind", "127.0.0.1", "--port", port.ToString(), "--state-dir",
            Path.Combine(_dir, "state"), "--data-dir", _dir], Env());
        c.WaitForLine(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        return c;
    }

    [Fact]
    public void An_idle_coordinator_stops_on_SIGTERM()
    {
        using var coordinator = Coordinator(out _);
        AssertStopsWithin(coordinator, Bound);
    }

    [Fact]
    public void A_busy_worker_stops_on_SIGTERM_and_its_job_at_its_minimum_fails_naming_why()
    {
        SyntheticDigits.Write(_dir, 2000, 100);
        using var coordinator = Coordinator(out string url);
        using var w0 = BackgroundProcess.Disttrain(["worker", "--coordinator", url, "--bind", "127.0.0.1"], Env());
        using var w1 = BackgroundProcess.Disttrain(["worker", "--coordinator", url, "--bind", "127.0.0.1"], Env());
        using var submit = BackgroundProcess.Disttrain(["submit", "--coordinator", url, "--workers", "2", "--min-workers", "2", "--wait-for-workers", "1",
            "--dataset", "mnist", "--model", "mnist-cnn", "--epochs", "50", "--batch-size", "32"], Env());
        // Training: both workers have taken their ranks, and rank 0 has reported progress.
        WaitUntil(() => TryStatus(url) is { } job && job.GetProperty("step").GetInt32() > 0, TimeSpan.FromSeconds(90), submit);

        AssertStopsWithin(w1, Bound);
        Assert.Contains("left the coordinator: it received SIGTERM", w1.Output);
        // It cannot go on below its minimum of 2: it waits a second for a worker to join, then fails saying why.
        WaitUntil(() => TryStatus(url) is { } j && j.GetProperty("status").GetString() != "running", TimeSpan.FromSeconds(30), submit);
        var job = Status(url);
        Assert.Equal("failed", job.GetProperty("status").GetString());
        Assert.Matches(@"^fewer than its minimum of 2 workers since [0-9:]+ UTC \(rank \d: [a-z0-9.-]+ left: it received SIGTERM\); no worker joined within 1 s$",
            job.GetProperty("error").GetString());
        // The job's end releases its other worker, and the coordinator stays up for the next job.
        Assert.False(w0.HasExited, w0.Output);
        AssertStopsWithin(w0, Bound);
        AssertStopsWithin(coordinator, Bound);
    }

    [Fact]
    public void Local_stops_with_every_child_on_SIGTERM()
    {
        SyntheticDigits.Write(_dir, 2000, 100);
        using var local = BackgroundProcess.Disttrain(["local", "--workers", "2", "--dataset", "mnist", "--model", "mnist-cnn",
            "--epochs", "50", "--batch-size", "32", "--data-dir", _dir], Env());
        local.WaitForLine(l => l.Contains("epoch 1/50"), TimeSpan.FromSeconds(120)); // training, mid-run
        var pids = BackgroundProcess.LocalPids(local.Output);
        Assert.Equal(3, pids.Length);
        AssertStopsWithin(local, Bound);
        BackgroundProcess.AssertAllGone(local.Output);
    }

    [Fact]
    public void A_training_run_stops_on_SIGTERM_at_once()
    {
        SyntheticDigits.Write(_dir, 2000, 100);
        using var train = BackgroundProcess.Disttrain(["train", "--dataset", "mnist", "--model", "mnist-cnn", "--epochs", "50",
            "--batch-size", "32", "--data-dir", _dir], Env());
        train.WaitForLine(l => l.Contains("epoch 1/50"), TimeSpan.FromSeconds(120));
        var clock = Stopwatch.StartNew();
        train.Signal(ProcessSignals.SIGTERM);
        Assert.Equal(143, train.ExitsWithin(Bound));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed.TotalSeconds:F1} s"); // not the 8 s grace
        Assert.Contains("stopped: it received SIGTERM", train.Output);
    }

    private static JsonElement Status(string url) => TryStatus(url) ?? throw new Xunit.Sdk.XunitException("job-1 is unknown to the coordinator");

    // job-1's status, or null while it has not been submitted yet.
    private static JsonElement? TryStatus(string url)
    {
        var r = CliProcess.Run(["status", "job-1", "--coordinator", url, "--json"], timeoutSeconds: 30);
        if (r.ExitCode != 0 && r.Stderr.Contains("no job job-1")) return null;
        Assert.True(r.ExitCode == 0, r.Stderr);
        return JsonDocument.Parse(r.LastLine).RootElement;
    }

    private static void WaitUntil(Func<bool> condition, TimeSpan timeout, BackgroundProcess watched)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"not reached within {timeout.TotalSeconds:0} s:\n{watched.Output}");
            Thread.Sleep(250);
        }
    }
}
