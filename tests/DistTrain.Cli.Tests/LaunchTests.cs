using System.Text.Json;
using DistTrain.Cli;

namespace DistTrain.Cli.Tests;

/// <summary>
/// `disttrain launch` running the repository's sample program (samples/CustomTraining, built with the solution) as real
/// processes: one host with its own coordinator, two "hosts" (two launches) against one coordinator, and a rank killed
/// with SIGKILL.
/// </summary>
public class LaunchTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-launch-").FullName;
    private readonly Dictionary<string, string> _env;

    public LaunchTests() => _env = new() { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache") };

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The sample program, as the solution's build left it, and its CSV.</summary>
    private static string Sample => Path.Combine(BackgroundProcess.RepositoryRoot(), "samples", "CustomTraining", "bin", "Release", "net10.0", "CustomTraining.dll");

    private static string Csv => Path.Combine(BackgroundProcess.RepositoryRoot(), "samples", "CustomTraining", "clusters.csv");

    private static double ValAccuracy(string output) =>
        double.Parse(output.Split('\n').Single(l => l.Contains("val_accuracy ")).Split("val_accuracy ")[1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void A_program_launched_on_two_workers_trains_as_one_job_and_learns_what_it_learns_alone()
    {
        using var alone = BackgroundProcess.Start("dotnet", [Sample, Csv], _env);
        Assert.Equal(0, alone.ExitsWithin(TimeSpan.FromSeconds(60)));
        double aloneAccuracy = ValAccuracy(alone.Output);
        Assert.True(aloneAccuracy > 0.9, alone.Output);

        using var launch = BackgroundProcess.Disttrain(["launch", "--workers", "2", "--json", "--", "dotnet", Sample, Csv], _env);
        Assert.True(launch.ExitsWithin(TimeSpan.FromSeconds(180)) == 0, launch.Output);
        Assert.Contains("[0] ", launch.Output);
        Assert.Contains("[1] ", launch.Output);
        // Only rank 0 prints the result, and the job learns what one process learns (up to the order of float additions).
        double launched = ValAccuracy(launch.Output);
        Assert.True(Math.Abs(launched - aloneAccuracy) < 0.02, $"alone {aloneAccuracy}, launched {launched}");
        using var json = JsonDocument.Parse(launch.Output.TrimEnd().Split('\n')[^1]);
        var r = json.RootElement;
        Assert.Equal(2, r.GetProperty("workers").GetInt32());
        Assert.Equal("CustomTraining", r.GetProperty("model").GetString()); // the job's name: the program's
        Assert.Equal(1200, r.GetProperty("train_samples").GetInt32());
        Assert.True(r.GetProperty("test_accuracy").GetDouble() > 0.9, launch.Output);
        BackgroundProcess.AssertAllGone(launch.Output);
    }

    [Fact]
    public void Two_launches_of_one_rank_each_join_one_job_on_a_shared_coordinator_and_it_is_listed_by_name()
    {
        int port = BackgroundProcess.FreePort();
        string url = $"http://127.0.0.1:{port}";
        using var coordinator = BackgroundProcess.Disttrain(["coordinator", "--bind", "127.0.0.1", "--port", port.ToString(), "--state-dir", Path.Combine(_dir, "state")], _env);
        string[] Launch() => ["launch", "--workers", "1", "--world-size", "2", "--launch-id", "shared-run", "--coordinator", url, "--name", "clusters",
            "--", "dotnet", Sample, Csv];
        // Two hosts' launches, one rank each: the job starts once both have registered.
        using var first = BackgroundProcess.Disttrain(Launch(), _env);
        using var second = BackgroundProcess.Disttrain(Launch(), _env);
        Assert.True(first.ExitsWithin(TimeSpan.FromSeconds(180)) == 0, first.Output);
        Assert.True(second.ExitsWithin(TimeSpan.FromSeconds(60)) == 0, second.Output);
        Assert.Single(new[] { first.Output, second.Output }, o => o.Contains("val_accuracy"));

        var jobs = CliProcess.Run(["jobs", "--coordinator", url, "--json"], _env);
        Assert.True(jobs.ExitCode == 0, jobs.Stderr);
        using var list = JsonDocument.Parse(jobs.LastLine);
        var job = Assert.Single(list.RootElement.EnumerateArray());
        Assert.Equal("clusters", job.GetProperty("name").GetString());
        Assert.Equal("shared-run", job.GetProperty("launch_id").GetString());
        Assert.Equal("completed", job.GetProperty("status").GetString());
        Assert.Equal(2, job.GetProperty("workers").GetInt32());
        var status = CliProcess.Run(["status", "job-1", "--coordinator", url], _env);
        Assert.True(status.ExitCode == 0, status.Stderr);
        Assert.Contains("job-1 (clusters)", status.Stdout);

        // A third launch under the same id is refused by name: the run has ended.
        using var late = BackgroundProcess.Disttrain(Launch(), _env);
        Assert.Equal(1, late.ExitsWithin(TimeSpan.FromSeconds(60)));
        Assert.Contains("has already ended", late.Output);
    }

    [Fact]
    public void Ranks_on_different_data_are_refused_by_name_and_a_launch_whose_partner_never_joins_gives_up_at_its_rendezvous_timeout()
    {
        int port = BackgroundProcess.FreePort();
        string url = $"http://127.0.0.1:{port}";
        using var coordinator = BackgroundProcess.Disttrain(["coordinator", "--bind", "127.0.0.1", "--port", port.ToString(), "--state-dir", Path.Combine(_dir, "state")], _env);
        // As many rows as the sample's CSV (so the counts agree), but other values.
        string other = Path.Combine(_dir, "other.csv");
        TabularData.WriteCsv(other, 1500, seed: 5);
        // A rendezvous time long enough that the second launch, not the first's timeout, ends the job (the timeout is tested below).
        string[] Launch(string csv) => ["launch", "--workers", "1", "--world-size", "2", "--launch-id", "mixed", "--coordinator", url,
            "--rendezvous-timeout", "120", "--", "dotnet", Sample, csv];
        using var first = BackgroundProcess.Disttrain(Launch(Csv), _env);
        first.WaitForLine(l => l.Contains("copy 0 on this host: job-1"), TimeSpan.FromSeconds(60));
        using var second = BackgroundProcess.Disttrain(Launch(other), _env);
        Assert.Equal(1, second.ExitsWithin(TimeSpan.FromSeconds(90)));
        Assert.Contains("this rank's data hashes to", second.Output);
        // A rank that cannot join fails the run, as a node that fails fails torchrun's: its launch cancels the job, and
        // the first launch then stops its copy, which was waiting to be placed.
        Assert.Contains("cancelled it", second.Output);
        Assert.Equal(1, first.ExitsWithin(TimeSpan.FromSeconds(60)));
        Assert.Contains("job-1 cancelled", first.Output);
        BackgroundProcess.AssertAllGone(first.Output);

        // A launch whose partner never comes at all gives up at its rendezvous time and cancels its job.
        using var alone = BackgroundProcess.Disttrain(["launch", "--workers", "1", "--world-size", "2", "--launch-id", "alone", "--coordinator", url,
            "--rendezvous-timeout", "5", "--", "dotnet", Sample, Csv], _env);
        Assert.Equal(1, alone.ExitsWithin(TimeSpan.FromSeconds(60)));
        Assert.Contains("did not start within 5 s", alone.Output);
        BackgroundProcess.AssertAllGone(alone.Output);
        var status = CliProcess.Run(["status", "job-2", "--coordinator", url, "--json"], _env);
        Assert.Contains("\"status\":\"cancelled\"", status.LastLine.Replace(" ", ""));
    }

    [Fact]
    public void A_rank_killed_with_sigkill_fails_the_launch_within_a_bound_and_leaves_no_process()
    {
        using var launch = BackgroundProcess.Disttrain(["launch", "--workers", "2", "--", "dotnet", Sample, Csv, "100000"], _env);
        string started = launch.WaitForLine(l => l.Contains("copies of"), TimeSpan.FromSeconds(60));
        int[] pids = BackgroundProcess.LocalPids(started);
        Assert.Equal(2, pids.Length);
        launch.WaitForLine(l => l.Contains("rank 0 of 2"), TimeSpan.FromSeconds(60));
        Thread.Sleep(1000);
        Assert.True(ProcessSignals.Send(pids[1], ProcessSignals.SIGKILL));
        Assert.Equal(1, launch.ExitsWithin(TimeSpan.FromSeconds(150)));
        Assert.Contains("failed", launch.Output);
        foreach (int pid in pids) Assert.False(BackgroundProcess.Alive(pid), $"pid {pid} outlived the launch");
        BackgroundProcess.AssertAllGone(launch.Output);
    }
}
