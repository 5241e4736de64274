using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace DistTrain.Cli.Tests;

/// <summary>`disttrain local` for real: a coordinator and worker processes on loopback, gRPC between them.</summary>
public class LocalCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-local-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static int[] Pids(string stderr) =>
        Regex.Match(stderr, @"pids ([0-9, ]+)\)").Groups[1].Value.Split(", ", StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();

    private static bool Alive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

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
        var pids = Pids(run.Stderr);
        Assert.Equal(3, pids.Length);
        Assert.All(pids, pid => Assert.False(Alive(pid), $"process {pid} was left running"));
    }

    [Fact]
    public void An_unworkable_job_is_refused_cleanly_and_its_processes_are_ended()
    {
        SyntheticDigits.Write(_dir, 100, 20);
        var env = new Dictionary<string, string> { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache") };
        var run = CliProcess.Run(["local", "--workers", "3", "--model", "mnist-mlp", "--batch-size", "32", "--data-dir", _dir], env, timeoutSeconds: 120);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("a global batch of 32 cannot be split evenly across 3 workers", run.Stderr);
        Assert.DoesNotContain("   at ", run.Stderr);
        Assert.All(Pids(run.Stderr), pid => Assert.False(Alive(pid), $"process {pid} was left running"));
    }
}
