using System.Net.Sockets;
using DistTrain.Protos;

namespace DistTrain.Cli.Tests;

/// <summary>
/// Two coordinators as one Orleans cluster on a shared store: a real redis-server (started on a free port and killed by
/// PID), or a real PostgreSQL with the repository's scripts; and two workers that know both coordinators. The coordinator the job was submitted to is killed with kill -9 mid-job;
/// the job completes through the survivor, which shows its whole history.
/// </summary>
public class TwoCoordinatorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-two-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static BackgroundProcess StartRedis(int port)
    {
        string server = BackgroundProcess.Program("redis-server", ".ci/run installs Debian's redis-server package");
        var redis = BackgroundProcess.Start(server, ["--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            try
            {
                using var c = new TcpClient();
                c.Connect("127.0.0.1", port);
                return redis;
            }
            catch (SocketException) when (DateTime.UtcNow < until && !redis.HasExited)
            {
                Thread.Sleep(100);
            }
        }
    }

    [Theory]
    [InlineData("redis")]
    [InlineData("postgres")]
    public async Task Killing_the_coordinator_a_job_was_submitted_to_loses_nothing(string kind)
    {
        SyntheticDigits.Write(_dir, train: 3000);
        var env = new Dictionary<string, string> { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache") };
        int storePort = BackgroundProcess.FreePort();
        using var redis = kind == "redis" ? StartRedis(storePort) : null;
        await using var postgres = kind == "postgres" ? await DistTrain.Coordinator.Tests.PostgresServer.StartAsync() : null;
        string storage = kind == "redis" ? $"redis=127.0.0.1:{storePort}" : $"postgres={postgres!.ConnectionString}";
        int[] ports = [BackgroundProcess.FreePort(), BackgroundProcess.FreePort()];
        string[] urls = [.. ports.Select(p => $"http://127.0.0.1:{p}")];
        BackgroundProcess Coordinator(int port) => BackgroundProcess.Disttrain(
            ["coordinator", "--bind", "127.0.0.1", "--port", port.ToString(), "--storage", storage, "--data-dir", _dir], env);
        var a = Coordinator(ports[0]);
        using var b = Coordinator(ports[1]);
        foreach (var c in new[] { a, b })
            c.WaitForLine(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), TimeSpan.FromSeconds(90));
        string both = string.Join(',', urls);
        using var w1 = BackgroundProcess.Disttrain(["worker", "--coordinator", both, "--bind", "127.0.0.1"], env);
        using var w2 = BackgroundProcess.Disttrain(["worker", "--coordinator", both, "--bind", "127.0.0.1"], env);

        using var toA = CoordinatorChannel.Create(urls[0]);
        var jobsA = new Jobs.JobsClient(toA);
        var job = await jobsA.SubmitAsync(new SubmitJobRequest
        {
            Spec = new JobSpec { Model = "mnist-cnn", Dataset = "mnist", Epochs = 4, GlobalBatchSize = 32, Workers = 2, Seed = 1 },
        });
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(180);
        Job mid;
        while ((mid = await jobsA.GetAsync(new GetJobRequest { Id = job.Id })).History.Count < 1 && mid.Status is JobStatus.Pending or JobStatus.Running)
        {
            Assert.True(DateTime.UtcNow < until, $"{job.Id} did not finish epoch 1\n{a.Output}\n{w1.Output}\n{w2.Output}");
            await Task.Delay(200);
        }
        a.Kill(); // kill -9 the coordinator the job was submitted to
        Assert.True(mid.Status == JobStatus.Running && mid.History.Count < 4, $"{mid.Status} with {mid.History.Count} epochs when A was killed");
        a.Dispose();

        using var toB = CoordinatorChannel.Create(urls[1]);
        var jobsB = new Jobs.JobsClient(toB);
        until = DateTime.UtcNow + TimeSpan.FromSeconds(240);
        Job done;
        while (true)
        {
            try
            {
                done = await jobsB.GetAsync(new GetJobRequest { Id = job.Id }, deadline: DateTime.UtcNow.AddSeconds(30));
                if (done.Status is not (JobStatus.Pending or JobStatus.Running)) break;
            }
            catch (Grpc.Core.RpcException) when (DateTime.UtcNow < until)
            {
                // the survivor is still taking over A's grains
            }
            Assert.True(DateTime.UtcNow < until, $"{job.Id} did not end through the survivor\n{b.Output}\n{w1.Output}\n{w2.Output}");
            await Task.Delay(500);
        }
        Assert.True(done.Status == JobStatus.Completed, $"{done.Status}: {done.Error}\n{b.Output}\n{w1.Output}\n{w2.Output}");
        // Each epoch once, whatever was retried across the kill; the record says what happened if not.
        Assert.True(done.History.Select(e => e.Epoch).SequenceEqual([1, 2, 3, 4]),
            $"history: {string.Join("; ", done.History.Select(e => $"epoch {e.Epoch} loss {e.Loss:F5} samples {e.Samples}"))}; events: {done.Events}\n{b.Output}\n{w1.Output}\n{w2.Output}");
        Assert.True(done.History[^1].TestAccuracy >= 0.8, $"test accuracy {done.History[^1].TestAccuracy}");

        var status = CliProcess.Run(["status", job.Id, "--coordinator", urls[1], "--json"], timeoutSeconds: 60);
        Assert.True(status.ExitCode == 0, status.Stderr);
        Assert.Contains("\"status\":\"completed\"", status.LastLine);
        Assert.False(w1.HasExited || w2.HasExited, "a worker exited\n" + w1.Output + w2.Output);
    }

    [Fact]
    public async Task Coordinators_over_Redis_with_mutual_TLS_form_one_cluster_and_a_silo_with_another_subject_cannot_join()
    {
        SyntheticDigits.Write(_dir);
        const string token = "two-coordinators-token-0123456789";
        var env = new Dictionary<string, string> { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache"), [Protos.Security.ClusterToken.Variable] = token };
        string certs = Path.Combine(_dir, "certs");
        foreach (var args in new[] { new[] { "certs", "init", "--dir", certs }, ["certs", "issue", "coordinator", "--dir", certs], ["certs", "issue", "worker", "--dir", certs] })
            Assert.Equal(0, CliProcess.Run(args, timeoutSeconds: 60).ExitCode);
        string[] Tls(string who) => ["--tls-cert", Path.Combine(certs, who + ".pem"), "--tls-key", Path.Combine(certs, who + ".key"), "--tls-ca", Path.Combine(certs, "ca.pem"), "--mtls"];
        int storePort = BackgroundProcess.FreePort();
        using var redis = StartRedis(storePort);
        BackgroundProcess Coordinator(int port, string who) => BackgroundProcess.Disttrain(
            ["coordinator", "--bind", "127.0.0.1", "--port", port.ToString(), "--storage", $"redis=127.0.0.1:{storePort}", "--data-dir", _dir, .. Tls(who)], env);
        int[] ports = [BackgroundProcess.FreePort(), BackgroundProcess.FreePort(), BackgroundProcess.FreePort()];
        using var a = Coordinator(ports[0], "coordinator");
        using var b = Coordinator(ports[1], "coordinator");
        foreach (var c in new[] { a, b })
            c.WaitForLine(l => l.StartsWith("coordinator listening", StringComparison.Ordinal), TimeSpan.FromSeconds(90));
        var client = new Protos.Security.ClusterSecurity(token, new Protos.Security.TlsSettings(Path.Combine(certs, "worker.pem"), Path.Combine(certs, "worker.key"),
            Path.Combine(certs, "ca.pem"), mutual: true));
        using var toA = CoordinatorChannel.Create($"https://127.0.0.1:{ports[0]}", security: client);
        using var toB = CoordinatorChannel.Create($"https://127.0.0.1:{ports[1]}", security: client);
        var submitted = await new Jobs.JobsClient(toA).SubmitAsync(new SubmitJobRequest
        {
            Spec = new JobSpec { Model = "mnist-mlp", Dataset = "mnist", Epochs = 1, GlobalBatchSize = 60, Workers = 3 },
        });
        // Jobs live in grains spread over both silos: B answering for A's job, and A for B's, goes over their TLS link.
        for (int i = 0; i < 4; i++)
        {
            var other = await new Jobs.JobsClient(toB).SubmitAsync(new SubmitJobRequest
            {
                Spec = new JobSpec { Model = "mnist-mlp", Dataset = "mnist", Epochs = 1, GlobalBatchSize = 60, Workers = 3 },
            });
            Assert.Equal(JobStatus.Pending, (await new Jobs.JobsClient(toA).GetAsync(new GetJobRequest { Id = other.Id })).Status);
        }
        Assert.Equal(5, (await new Jobs.JobsClient(toB).ListAsync(new ListJobsRequest())).Jobs.Count);
        Assert.Equal(submitted.Id, (await new Jobs.JobsClient(toB).GetAsync(new GetJobRequest { Id = submitted.Id })).Id);

        // A coordinator whose certificate the same CA signed, but for a worker: the others refuse its silo, so it never joins.
        using var rogue = Coordinator(ports[2], "worker");
        int code = rogue.ExitsWithin(TimeSpan.FromSeconds(120));
        Assert.NotEqual(0, code);
        Assert.DoesNotContain("coordinator listening", rogue.Output);
        // TLS refused every connection of its silo, and the cluster declared it dead: Orleans ends such a silo (exit 134).
        Assert.Contains("Authentication failed", rogue.Output);
        Assert.False(a.HasExited || b.HasExited, a.Output + b.Output);
        Assert.Equal(5, (await new Jobs.JobsClient(toA).ListAsync(new ListJobsRequest())).Jobs.Count);
    }
}
