using System.Net.Http;
using System.Text.Json;
using DistTrain.Protos.Security;
using Xunit.Abstractions;

namespace DistTrain.Cli.Tests;

/// <summary>
/// Security with real processes: servers refuse to listen beyond loopback without a token, clients without the right
/// token exit with Unauthenticated, `local`'s token never shows in `ps`, a job runs over mutual TLS with certificates
/// from `disttrain certs` while a worker from another CA is refused, and a step with a NaN gradient is skipped on every
/// rank (or fails the job under --max-skipped-steps).
/// </summary>
public class SecurityTests : IDisposable
{
    private const string Token = "security-tests-token-9a8b7c6d5e";
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-sec-").FullName;
    private readonly Dictionary<string, string> _env;
    private readonly ITestOutputHelper _output;

    public SecurityTests(ITestOutputHelper output)
    {
        _output = output;
        _env = new() { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache"), [ClusterToken.Variable] = Token };
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Dictionary<string, string> Env(params (string Key, string Value)[] more)
    {
        var env = new Dictionary<string, string>(_env);
        foreach (var (k, v) in more) env[k] = v;
        return env;
    }

    private BackgroundProcess Coordinator(int port, Dictionary<string, string>? env = null, params string[] more)
    {
        var c = BackgroundProcess.Disttrain(["coordinator", "--bind", "127.0.0.1", "--port", port.ToString(), "--state-dir", Path.Combine(_dir, "state"),
            "--data-dir", _dir, .. more], env ?? _env);
        c.WaitForLine(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        return c;
    }

    [Fact]
    public void Servers_refuse_to_listen_beyond_loopback_without_a_token_unless_told_insecure()
    {
        var none = new Dictionary<string, string> { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache") };
        var coordinator = CliProcess.Run(["coordinator", "--bind", "0.0.0.0", "--port", BackgroundProcess.FreePort().ToString(), "--state-dir",
            Path.Combine(_dir, "state")], none, timeoutSeconds: 60);
        Assert.Equal(1, coordinator.ExitCode);
        Assert.Contains("without a cluster token", coordinator.Stderr);
        Assert.DoesNotContain("   at ", coordinator.Stderr);
        var worker = CliProcess.Run(["worker", "--bind", "0.0.0.0", "--coordinator", "http://127.0.0.1:9"], none, timeoutSeconds: 60);
        Assert.Equal(1, worker.ExitCode);
        Assert.Contains("ring service would listen on 0.0.0.0 without a cluster token", worker.Stderr);

        using var insecure = BackgroundProcess.Disttrain(["coordinator", "--bind", "0.0.0.0", "--port", BackgroundProcess.FreePort().ToString(),
            "--state-dir", Path.Combine(_dir, "state2"), "--insecure"], none);
        insecure.WaitForLine(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        Assert.Contains("warning: the coordinator listens on 0.0.0.0 with no cluster token (--insecure)", insecure.Output);
    }

    [Fact]
    public void A_client_without_the_token_or_with_a_wrong_one_exits_with_Unauthenticated()
    {
        int port = BackgroundProcess.FreePort();
        string url = $"http://127.0.0.1:{port}";
        using var coordinator = Coordinator(port);
        var without = CliProcess.Run(["jobs", "--coordinator", url], new Dictionary<string, string>(), timeoutSeconds: 60);
        Assert.Equal(1, without.ExitCode);
        Assert.Contains("Unauthenticated", without.Stderr);
        var wrong = CliProcess.Run(["jobs", "--coordinator", url], Env((ClusterToken.Variable, "not-the-token-0000000")), timeoutSeconds: 60);
        Assert.Equal(1, wrong.ExitCode);
        Assert.Contains("Unauthenticated: the cluster token is wrong", wrong.Stderr);
        string tokenFile = Path.Combine(_dir, "token");
        File.WriteAllText(tokenFile, Token + "\n");
        var right = CliProcess.Run(["jobs", "--coordinator", url, "--token-file", tokenFile], new Dictionary<string, string>(), timeoutSeconds: 60);
        Assert.True(right.ExitCode == 0, right.Stderr);
        var worker = CliProcess.Run(["worker", "--coordinator", url, "--bind", "127.0.0.1"], Env((ClusterToken.Variable, "not-the-token-0000000")),
            timeoutSeconds: 60);
        Assert.Equal(1, worker.ExitCode);
        Assert.Contains("Unauthenticated", worker.Stderr);
        // The token is never logged, by the coordinator or by a client.
        Assert.DoesNotContain(Token, coordinator.Output + right.Stdout + right.Stderr);
    }

    [Fact]
    public void Local_hands_its_children_a_random_token_through_their_environment_never_their_command_line()
    {
        SyntheticDigits.Write(_dir, train: 3000);
        using var local = BackgroundProcess.Disttrain(["local", "--workers", "2", "--epochs", "3", "--model", "mnist-cnn", "--data-dir", _dir,
            "--batch-size", "60"], new Dictionary<string, string> { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache") });
        int[] pids = BackgroundProcess.LocalPids(local.WaitForLine(l => l.Contains("(pids ", StringComparison.Ordinal), TimeSpan.FromSeconds(90)));
        Assert.Equal(3, pids.Length);
        var tokens = pids.Select(pid => File.ReadAllText($"/proc/{pid}/environ").Split('\0')
            .Single(v => v.StartsWith(ClusterToken.Variable + "=", StringComparison.Ordinal))[(ClusterToken.Variable.Length + 1)..]).Distinct().ToList();
        string token = Assert.Single(tokens);
        Assert.True(token.Length >= 40, token.Length.ToString());
        foreach (int pid in pids) Assert.DoesNotContain(token, File.ReadAllText($"/proc/{pid}/cmdline"));
        var ps = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("ps", ["-eo", "args"]) { RedirectStandardOutput = true })!;
        string all = ps.StandardOutput.ReadToEnd();
        ps.WaitForExit();
        Assert.DoesNotContain(token, all);
        Assert.Equal(0, local.ExitsWithin(TimeSpan.FromMinutes(5)));
        Assert.DoesNotContain(token, local.Output);
    }

    [Fact]
    public void A_two_worker_job_completes_over_mutual_TLS_and_a_worker_from_another_CA_is_refused()
    {
        SyntheticDigits.Write(_dir);
        string certs = Path.Combine(_dir, "certs"), rogue = Path.Combine(_dir, "rogue");
        foreach (var args in new[]
                 {
                     new[] { "certs", "init", "--dir", certs }, ["certs", "issue", "node", "--dir", certs, "--hosts", "localhost,127.0.0.1"],
                     ["certs", "init", "--dir", rogue], ["certs", "issue", "node", "--dir", rogue, "--hosts", "localhost,127.0.0.1"],
                 })
        {
            var r = CliProcess.Run(args, timeoutSeconds: 60);
            Assert.True(r.ExitCode == 0, r.Stderr);
        }
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(certs, "node.key")));
        string[] Tls(string dir, string ca) => ["--tls-cert", Path.Combine(dir, "node.pem"), "--tls-key", Path.Combine(dir, "node.key"), "--tls-ca", ca, "--mtls"];
        string ca = Path.Combine(certs, "ca.pem");
        int port = BackgroundProcess.FreePort();
        string url = $"https://127.0.0.1:{port}";
        using var coordinator = Coordinator(port, null, Tls(certs, ca));
        Assert.Contains("mutual TLS", coordinator.Output);
        using var w1 = BackgroundProcess.Disttrain(["worker", "--coordinator", url, "--bind", "127.0.0.1", "--once", .. Tls(certs, ca)], _env);
        using var w2 = BackgroundProcess.Disttrain(["worker", "--coordinator", url, "--bind", "127.0.0.1", "--once", .. Tls(certs, ca)], _env);
        foreach (var w in new[] { w1, w2 }) Assert.Contains("https://127.0.0.1:", w.WaitForLine(l => l.Contains(": registered with "), TimeSpan.FromSeconds(60)) + w.Output);

        // A party whose certificate another CA signed (it trusts the real CA, so it gets as far as presenting it).
        var stranger = CliProcess.Run(["jobs", "--coordinator", url, .. Tls(rogue, ca)], _env, timeoutSeconds: 60);
        Assert.Equal(1, stranger.ExitCode);
        _output.WriteLine($"client with another CA's certificate: {stranger.Stderr.Trim()}");
        using var rogueWorker = BackgroundProcess.Disttrain(["worker", "--coordinator", url, "--bind", "127.0.0.1", .. Tls(rogue, ca)], _env);
        // The server ends the handshake: the worker says so, and either keeps trying (Unavailable) or exits (Internal).
        string refused = rogueWorker.WaitForLine(l => l.Contains("handshake", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        _output.WriteLine($"worker with another CA's certificate: {refused}");
        Assert.DoesNotContain(": registered with ", rogueWorker.Output);
        // Without TLS at all, the same port refuses too.
        var cleartext = CliProcess.Run(["jobs", "--coordinator", $"http://127.0.0.1:{port}"], _env, timeoutSeconds: 60);
        Assert.Equal(1, cleartext.ExitCode);

        var submit = CliProcess.Run(["submit", "--coordinator", url, "--model", "mnist-mlp", "--epochs", "2", "--workers", "2", "--batch-size", "60", "--json",
            .. Tls(certs, ca)], _env, timeoutSeconds: 240);
        Assert.True(submit.ExitCode == 0, submit.Stderr + coordinator.Output + w1.Output + w2.Output);
        var result = JsonDocument.Parse(submit.LastLine).RootElement;
        Assert.True(result.GetProperty("test_accuracy").GetDouble() > 0.5, submit.LastLine);
        var workers = CliProcess.Run(["workers", "--coordinator", url, "--json", .. Tls(certs, ca)], _env, timeoutSeconds: 60);
        Assert.Equal(2, JsonDocument.Parse(workers.LastLine).RootElement.GetArrayLength()); // the rogue never registered
        Assert.All(JsonDocument.Parse(workers.LastLine).RootElement.EnumerateArray(), w => Assert.StartsWith("https://", w.GetProperty("address").GetString()));
    }

    [Fact]
    public async Task A_NaN_step_is_skipped_on_every_rank_and_counted_and_max_skipped_steps_0_fails_the_job_naming_the_step()
    {
        SyntheticDigits.Write(_dir);
        int port = BackgroundProcess.FreePort(), metrics = BackgroundProcess.FreePort();
        string url = $"http://127.0.0.1:{port}";
        using var coordinator = Coordinator(port, null, "--metrics-bind", "127.0.0.1", "--metrics-port", metrics.ToString());
        // Global step 2 (the third of the job) gets a NaN in one input on rank 1: its loss and gradient turn NaN, and after
        // the allreduce so does every rank's reduced gradient.
        var env = Env(("DISTTRAIN_FAULT_NAN_STEP", "2:1"));
        BackgroundProcess[] Workers() =>
        [
            BackgroundProcess.Disttrain(["worker", "--coordinator", url, "--bind", "127.0.0.1", "--once"], env),
            BackgroundProcess.Disttrain(["worker", "--coordinator", url, "--bind", "127.0.0.1", "--once"], env),
        ];
        var first = Workers();
        try
        {
            var ok = CliProcess.Run(["submit", "--coordinator", url, "--model", "mnist-mlp", "--epochs", "1", "--workers", "2", "--batch-size", "60"], _env,
                timeoutSeconds: 180);
            Assert.True(ok.ExitCode == 0, ok.Stderr);
            foreach (var w in first)
            {
                w.WaitForExit(TimeSpan.FromSeconds(60));
                Assert.Contains("skipped step 3 of epoch 1: the reduced gradient holds NaN or Inf (1 skipped so far)", w.Output);
            }
            var status = CliProcess.Run(["status", "job-1", "--coordinator", url, "--json"], _env, timeoutSeconds: 60);
            var job = JsonDocument.Parse(status.LastLine).RootElement;
            Assert.Equal(1, job.GetProperty("skipped_steps").GetInt32());
            // The epoch's mean loss took the NaN step: stored, and shown (as null in JSON, "NaN" in the table).
            Assert.Equal(JsonValueKind.Null, job.GetProperty("history")[0].GetProperty("loss").ValueKind);
            Assert.Contains("NaN", CliProcess.Run(["status", "job-1", "--coordinator", url], _env, timeoutSeconds: 60).Stdout);
            using var http = new HttpClient();
            string scraped = await http.GetStringAsync($"http://127.0.0.1:{metrics}/metrics");
            string? line = scraped.Split('\n').FirstOrDefault(l => l.StartsWith("disttrain_skipped_steps_total{", StringComparison.Ordinal) && l.Contains("\"job-1\""));
            Assert.True(line is not null && line.Split(' ')[1] == "1", $"no disttrain_skipped_steps_total of 1 for job-1 in:\n{string.Join('\n', scraped.Split('\n').Where(l => l.Contains("skipped")))}");
        }
        finally
        {
            foreach (var w in first) w.Dispose();
        }

        var second = Workers();
        try
        {
            var failed = CliProcess.Run(["submit", "--coordinator", url, "--model", "mnist-mlp", "--epochs", "1", "--workers", "2", "--batch-size", "60",
                "--max-skipped-steps", "0"], _env, timeoutSeconds: 180);
            Assert.NotEqual(0, failed.ExitCode);
            Assert.Contains("step 3 of epoch 1: the reduced gradient holds NaN or Inf; 1 step skipped, more than --max-skipped-steps 0", failed.Stderr);
            Assert.False(coordinator.HasExited);
        }
        finally
        {
            foreach (var w in second) w.Dispose();
        }
    }
}
