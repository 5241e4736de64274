using System.Text.Json;

namespace DistTrain.Cli.Tests;

/// <summary>`disttrain local` for real: a coordinator and worker processes on loopback, gRPC between them.</summary>
public class LocalCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-local-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Two_workers_train_and_every_process_is_gone_afterwards()
    {
        SyntheticDigits.Write(_dir);
        var env = new Dictionary<string, string> { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache") };
        var run = CliProcess.Run(["local", "--workers", "2", "--dataset", "mnist", "--model", "mnist-mlp", "--epochs", "3",
            "--batch-size", "32", "--data-dir", _dir, "--json"], env, timeoutSeconds: 180);
        Assert.True(run.ExitCode == 0, run.Stderr);
        using var j = JsonDocument.Parse(run.LastLine);
        Assert.Equal(2, j.RootElement.GetProperty("workers").GetInt32());
        Assert.Equal(600, j.RootElement.GetProperty("train_samples").GetInt32());
        Assert.True(j.RootElement.GetProperty("test_accuracy").GetDouble() > 0.9, run.LastLine);
        Assert.Equal(3, BackgroundProcess.LocalPids(run.Stderr).Length);
        BackgroundProcess.AssertAllGone(run.Stderr);
    }

    [Fact]
    public void An_unworkable_job_is_refused_cleanly_and_its_processes_are_ended()
    {
        SyntheticDigits.Write(_dir, 100, 20);
        var env = new Dictionary<string, string> { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache") };
        var run = CliProcess.Run(["local", "--workers", "3", "--model", "mnist-mlp", "--batch-size", "2", "--data-dir", _dir], env, timeoutSeconds: 120);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("a global batch of 2 leaves some of the 3 workers without a sample", run.Stderr);
        Assert.DoesNotContain("   at ", run.Stderr);
        BackgroundProcess.AssertAllGone(run.Stderr);
    }

    [Fact]
    public void Local_data_uploads_the_users_own_npz_once_and_two_workers_learn_it()
    {
        var env = new Dictionary<string, string> { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache") };
        string npz = Path.Combine(_dir, "blobs.npz"), spec = Path.Combine(_dir, "mlp.json");
        TabularData.WriteNpz(npz, 900, 300);
        File.WriteAllText(spec, TabularData.Spec());
        var r = CliProcess.Run(["local", "--workers", "2", "--data", npz, "--model", spec, "--epochs", "8", "--no-metrics", "--json"], env, timeoutSeconds: 240);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("uploading blobs", r.Stderr);
        using var json = System.Text.Json.JsonDocument.Parse(r.LastLine);
        Assert.Equal("blobs", json.RootElement.GetProperty("dataset").GetString());
        Assert.Equal(900, json.RootElement.GetProperty("train_samples").GetInt32());
        Assert.True(json.RootElement.GetProperty("test_accuracy").GetDouble() > 0.85, r.LastLine);

        // The same data again: the coordinator's disk has it, so nothing is sent; a model that cannot take it is refused by name.
        string wrong = Path.Combine(_dir, "wrong.json");
        File.WriteAllText(wrong, TabularData.Spec(units: 2));
        var again = CliProcess.Run(["local", "--workers", "2", "--data", npz, "--model", wrong, "--epochs", "1", "--no-metrics"], env, timeoutSeconds: 120);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already holds blobs", again.Stderr);
        Assert.Contains("3 classes but the last layer has 2 units", again.Stderr);
    }
}
