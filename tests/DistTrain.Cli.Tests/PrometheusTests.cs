using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace DistTrain.Cli.Tests;

/// <summary>
/// A real Prometheus server (Debian's package, which .ci/run installs) with deploy/prometheus/prometheus.yml, scraping
/// a real `disttrain local --metrics-port 9464` run, and a second job submitted beside it to a worker of its own:
/// every rank's throughput is positive, each job is its own series under its own job_id (Prometheus' own job label
/// untouched), and every query of the Grafana dashboard returns data. The runs are then cancelled, which must stop
/// their workers cleanly.
/// </summary>
public class PrometheusTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-prom-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Promtool_accepts_the_configuration()
    {
        string promtool = BackgroundProcess.Program("promtool", ".ci/run installs Debian's prometheus package");
        using var check = BackgroundProcess.Start(promtool, ["check", "config", Path.Combine(BackgroundProcess.RepositoryRoot(), "deploy/prometheus/prometheus.yml")]);
        check.WaitForExit(TimeSpan.FromSeconds(60));
        Assert.True(check.ExitCode == 0, check.Output);
        Assert.Contains("SUCCESS", check.Output);
    }

    [Fact]
    public async Task Prometheus_sees_every_rank_of_two_concurrent_jobs_and_every_dashboard_query_then_a_cancel_stops_the_run()
    {
        string prometheus = BackgroundProcess.Program("prometheus", ".ci/run installs Debian's prometheus package");
        string root = BackgroundProcess.RepositoryRoot();
        SyntheticDigits.Write(_dir, 1200, 200);
        var env = new Dictionary<string, string> { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache") };
        using var run = BackgroundProcess.Disttrain(["local", "--workers", "2", "--dataset", "mnist", "--model", "mnist-cnn", "--epochs", "500",
            "--batch-size", "32", "--data-dir", _dir, "--metrics-port", "9464", "--json"], env);
        int webPort = BackgroundProcess.FreePort();
        using var server = BackgroundProcess.Start(prometheus, [
            $"--config.file={Path.Combine(root, "deploy/prometheus/prometheus.yml")}", $"--storage.tsdb.path={Path.Combine(_dir, "tsdb")}",
            $"--web.listen-address=127.0.0.1:{webPort}",
        ]);
        string started = run.WaitForLine(l => l.StartsWith("coordinator http://", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        string coordinator = Regex.Match(started, @"coordinator (http://\S+)").Groups[1].Value;
        string tokenFile = Regex.Match(run.WaitForLine(l => l.Contains("--token-file", StringComparison.Ordinal), TimeSpan.FromSeconds(5)),
            @"--token-file (\S+)").Groups[1].Value; // the run's own token
        run.WaitForLine(l => l.StartsWith("metrics: coordinator http://127.0.0.1:9464/metrics", StringComparison.Ordinal), TimeSpan.FromSeconds(5));

        // A second job at the same time, on a third worker (its metrics on 9467, which the configuration scrapes too),
        // once job-1 trains on the run's own two workers: started sooner, the third could be placed in job-1.
        var training = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            var status = CliProcess.Run(["status", "job-1", "--coordinator", coordinator, "--token-file", tokenFile, "--json"], timeoutSeconds: 60);
            if (status.ExitCode == 0 && JsonDocument.Parse(status.LastLine).RootElement is var job
                && job.GetProperty("status").GetString() == "running" && job.GetProperty("step").GetInt64() > 0) break;
            Assert.True(DateTime.UtcNow < training, $"job-1 did not start training within 90 s: {status.Stdout}{status.Stderr}\n{run.Output}");
            Thread.Sleep(500);
        }
        using var worker = BackgroundProcess.Disttrain(["worker", "--coordinator", coordinator, "--token-file", tokenFile, "--bind", "127.0.0.1",
            "--metrics-port", "9467", "--metrics-bind", "127.0.0.1", "--once"], env);
        using var second = BackgroundProcess.Disttrain(["submit", "--coordinator", coordinator, "--token-file", tokenFile, "--workers", "1",
            "--dataset", "mnist", "--model", "mnist-mlp", "--epochs", "500", "--batch-size", "32"], env);

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{webPort}") };
        var dashboard = JsonDocument.Parse(File.ReadAllText(Path.Combine(root, "deploy/grafana/dashboards/disttrain.json")));
        var queries = dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("expr").GetString()!))
            .Select(q => q.Replace("$job_id", ".*").Replace("$rank", ".*")).ToList(); // the variables' "All"
        Assert.True(queries.Count >= 10, "the dashboard lost its panels");

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(150);
        List<string> missing = [];
        Dictionary<string, double> rates = [];
        List<Sample> epochs = [];
        while (DateTime.UtcNow < deadline)
        {
            Assert.False(run.HasExited, $"the run ended before Prometheus saw everything:\n{run.Output}");
            Assert.False(second.HasExited, $"the second job ended before Prometheus saw everything:\n{second.Output}\n{worker.Output}");
            rates = (await QueryAsync(http, "rate(disttrain_samples_total[30s])"))
                .ToDictionary(r => $"{r.Labels.GetValueOrDefault("job_id", "?")} rank {r.Labels.GetValueOrDefault("rank", "?")}", r => r.Value);
            epochs = await QueryAsync(http, "disttrain_epoch");
            missing = [];
            foreach (var q in queries)
                if ((await QueryAsync(http, q)).Count == 0) missing.Add(q);
            if (missing.Count == 0 && rates.Count == 3 && rates.Values.All(v => v > 0) && epochs.Count == 2) break;
            await Task.Delay(2000);
        }
        Assert.True(rates.Count == 3 && rates.Values.All(v => v > 0), $"samples rate per job and rank: {string.Join(", ", rates)}");
        Assert.Equal(["job-1 rank 0", "job-1 rank 1", "job-2 rank 0"], rates.Keys.Order());
        // Two jobs, two series, each under its own id; Prometheus' job label is still its scrape job's, never renamed away.
        Assert.Equal(["job-1", "job-2"], epochs.Select(e => e.Labels.GetValueOrDefault("job_id", "?")).Order());
        Assert.All(epochs, e => Assert.Equal("disttrain-local", e.Labels["job"]));
        Assert.DoesNotContain(epochs, e => e.Labels.ContainsKey("exported_job"));
        Assert.True(missing.Count == 0, "dashboard queries without data: " + string.Join(" | ", missing));
        var throughput = await QueryAsync(http, "sum by (job_id) (rate(disttrain_samples_total[30s]))");
        Assert.Equal(2, throughput.Count);

        var cancelSecond = CliProcess.Run(["cancel", "job-2", "--coordinator", coordinator, "--token-file", tokenFile], timeoutSeconds: 60);
        Assert.True(cancelSecond.ExitCode == 0, cancelSecond.Stderr);
        second.WaitForExit(TimeSpan.FromSeconds(60));
        worker.WaitForExit(TimeSpan.FromSeconds(60));

        // Cancel through the CLI: every rank stops after the same step, and `local` reports the cancellation and ends its processes.
        var cancel = CliProcess.Run(["cancel", "job-1", "--coordinator", coordinator, "--token-file", tokenFile], timeoutSeconds: 60);
        Assert.True(cancel.ExitCode == 0, cancel.Stderr);
        Assert.Contains("job-1 cancelled", cancel.Stdout);
        run.WaitForExit(TimeSpan.FromSeconds(90));
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("job-1 cancelled: cancelled by request", run.Output);
        Assert.Equal(3, BackgroundProcess.LocalPids(run.Output).Length);
        BackgroundProcess.AssertAllGone(run.Output);
        string workerLog = File.ReadAllText(Path.Combine(Regex.Match(run.Output, @"logs in (\S+)").Groups[1].Value, "worker-0.log"));
        // The ranks stop on the stop flag that rides on every step, or on the coordinator's answer to their long poll.
        Assert.Matches("all ranks stopped together|job-1 ended at the coordinator", workerLog);
    }

    private sealed record Sample(Dictionary<string, string> Labels, double Value);

    private static async Task<List<Sample>> QueryAsync(HttpClient http, string query)
    {
        var doc = await http.GetFromJsonAsync<JsonElement>($"/api/v1/query?query={Uri.EscapeDataString(query)}");
        Assert.Equal("success", doc.GetProperty("status").GetString());
        return doc.GetProperty("data").GetProperty("result").EnumerateArray()
            .Select(r => new Sample(r.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!),
                double.Parse(r.GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture)))
            .Where(s => !double.IsNaN(s.Value))
            .ToList();
    }
}
