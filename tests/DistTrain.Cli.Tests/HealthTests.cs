using DistTrain.Protos.Security;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace DistTrain.Cli.Tests;

/// <summary>
/// The gRPC health service through `disttrain health`, as Docker's HEALTHCHECK and Compose run it, on real processes:
/// a worker started before its coordinator waits for it, alive but not ready; it becomes ready once registered; and
/// it turns not ready when its coordinator is killed (SIGKILL), stays alive, and is ready again once the coordinator
/// restarts on the same state. Check needs no token; Watch, a stream that never ends, does.
/// </summary>
public class HealthTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-health-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_worker_waits_for_its_coordinator_alive_but_not_ready_and_outlives_a_coordinator_restart()
    {
        int coordinatorPort = BackgroundProcess.FreePort(), workerPort = BackgroundProcess.FreePort();
        string coordinator = $"http://127.0.0.1:{coordinatorPort}", ring = $"http://127.0.0.1:{workerPort}";
        // A token on both servers; the health calls below carry none.
        var env = new Dictionary<string, string> { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache"), [ClusterToken.Variable] = "health-test-token-0123456789" };
        using var worker = BackgroundProcess.Disttrain(["worker", "--coordinator", coordinator, "--bind", "127.0.0.1", "--port", workerPort.ToString()], env);
        worker.WaitForLine(l => l.Contains("serving the ring at", StringComparison.Ordinal), TimeSpan.FromSeconds(60));

        var notReady = Health(ring);
        Assert.True(notReady.ExitCode == 1, notReady.Stdout + notReady.Stderr);
        Assert.Contains("NotServing", notReady.Stderr);
        Assert.Equal(0, Health(ring, "liveness").ExitCode);
        var absent = Health(coordinator);
        Assert.Equal(1, absent.ExitCode);
        Assert.Contains("not serving: Unavailable", absent.Stderr);

        string[] coordinatorArgs = ["coordinator", "--bind", "127.0.0.1", "--port", coordinatorPort.ToString(), "--state-dir", Path.Combine(_dir, "state")];
        using (var first = BackgroundProcess.Disttrain(coordinatorArgs, env))
        {
            WaitUntilServing(coordinator, first);
            Assert.Equal(0, Health(coordinator, "liveness").ExitCode);
            WaitUntilServing(ring, worker);
            using (var channel = GrpcChannel.ForAddress(coordinator))
            {
                var health = new Health.HealthClient(channel);
                Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Check(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(10)).Status);
                var watch = Assert.Throws<RpcException>(() =>
                {
                    using var call = health.Watch(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(10));
                    call.ResponseStream.MoveNext().GetAwaiter().GetResult();
                });
                Assert.Equal(StatusCode.Unauthenticated, watch.StatusCode);
            }
            first.Kill(); // SIGKILL, with the worker waiting for a job
        }
        // Unheard from for three heartbeats (6 s), the worker is no longer ready; it is alive and waits.
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (Health(ring).ExitCode == 0)
        {
            Assert.True(DateTime.UtcNow < until, "the worker still reports ready 30 s after its coordinator died");
            Thread.Sleep(500);
        }
        Assert.False(worker.HasExited, $"the worker died with its coordinator:\n{worker.Output}");
        Assert.Equal(0, Health(ring, "liveness").ExitCode);

        using var second = BackgroundProcess.Disttrain(coordinatorArgs, env);
        WaitUntilServing(coordinator, second);
        WaitUntilServing(ring, worker);
        var workers = CliProcess.Run(["workers", "--coordinator", coordinator, "--json"], env, timeoutSeconds: 60);
        Assert.True(workers.ExitCode == 0, workers.Stderr);
        Assert.Contains("\"status\":\"idle\"", workers.LastLine);
    }

    private static CliProcess.Result Health(string address, string service = "") =>
        CliProcess.Run(["health", "--address", address, "--service", service, "--timeout", "10"], timeoutSeconds: 60);

    private static void WaitUntilServing(string address, BackgroundProcess process)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        CliProcess.Result last;
        do
        {
            Assert.False(process.HasExited, $"{address} exited:\n{process.Output}");
            last = Health(address);
            if (last.ExitCode == 0)
            {
                Assert.Contains("Serving", last.Stdout);
                return;
            }
            Thread.Sleep(500);
        } while (DateTime.UtcNow < deadline);
        Assert.Fail($"{address} was not serving within 90 s: {last.Stderr}\n{process.Output}");
    }
}
