using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using DistTrain.Cli.Output;
using DistTrain.Collectives;
using DistTrain.Collectives.Grpc;

namespace DistTrain.Cli.Commands;

/// <summary>
/// `disttrain bench allreduce --workers N --size-mb S`: N processes on loopback, each a rank of a gRPC ring, time
/// allreduces of S MB. Every rank serves its ring end and says "ready"; the parent answers "go" once all are ready,
/// so no rank connects before its neighbour listens. Timed as the gloo yardstick (run.sh allreduce) times itself,
/// the mean of back-to-back iterations after a warm-up (until the JIT settles, see WarmUpAsync); the slowest rank's mean is the collective's time,
/// and S counts MiB as the yardstick does. algbw = bytes / time and busbw = algbw · 2(N−1)/N, as nccl-tests define
/// them. Take the best of several runs, as run.sh does.
/// </summary>
public static class AllreduceBench
{
    public static Command Create()
    {
        var workers = CommonOptions.Positive("--workers", 2, "Processes in the ring", max: 64);
        var size = CommonOptions.Positive("--size-mb", 64, "Buffer size in MiB (2^20 bytes), as the gloo yardstick counts", max: 4096);
        var iterations = CommonOptions.Positive("--iterations", 10, "Timed back-to-back allreduces after the warm-up");
        var streams = CommonOptions.Positive("--streams", GrpcRingTransport.DefaultStreams, "Parallel gRPC streams per ring link", max: 16);
        var warmUp = new Option<int>("--max-warmup-seconds")
        {
            Description = "Longest warm-up; it ends sooner once the JIT has settled (0: just the two warm-up allreduces)",
            DefaultValueFactory = _ => 60,
        };
        warmUp.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--max-warmup-seconds must be 0 or more"); });
        var json = CommonOptions.Json();
        var tls = new Option<bool>("--tls") { Description = "Mutual TLS on every link, with certificates from a throwaway development CA" };
        var command = new Command("allreduce", "Ring allreduce bandwidth across N processes on loopback") { workers, size, iterations, streams, warmUp, tls, json };
        command.SetAction(p => Run(p.GetValue(workers), p.GetValue(size), p.GetValue(iterations), p.GetValue(streams), p.GetValue(warmUp), p.GetValue(tls),
            p.GetValue(json)));
        return command;
    }

    /// <summary>The hidden per-rank command the benchmark starts.</summary>
    public static Command RankCommand()
    {
        var rank = new Option<int>("--rank") { Required = true };
        var peers = new Option<string>("--peers") { Required = true };
        var size = new Option<int>("--size-mb") { Required = true };
        var iterations = new Option<int>("--iterations") { Required = true };
        var streams = new Option<int>("--streams") { Required = true };
        var warmUp = new Option<int>("--max-warmup-seconds") { Required = true };
        var certs = new Option<string?>("--certs");
        // tests/cluster/bench.sh starts the ranks itself, one per network namespace, each listening on its host's address.
        var bind = new Option<string>("--bind") { DefaultValueFactory = _ => "127.0.0.1" };
        var command = new Command("allreduce-rank", "One rank of bench allreduce (started by it)") { rank, peers, size, iterations, streams, warmUp, certs, bind };
        command.Hidden = true;
        command.SetAction((p, ct) => RankAsync(p.GetValue(rank), p.GetValue(peers)!.Split(','), p.GetValue(size), p.GetValue(iterations), p.GetValue(streams),
            TimeSpan.FromSeconds(p.GetValue(warmUp)), p.GetValue(certs), p.GetValue(bind)!, ct));
        return command;
    }

    private static int Run(int n, int sizeMb, int iterations, int streams, int maxWarmUpSeconds, bool tls, bool json)
    {
        using var cluster = new LocalCluster();
        var ports = Enumerable.Range(0, n).Select(_ => LocalCluster.FreePort()).ToArray();
        string peers = string.Join(',', ports.Select(port => $"{(tls ? "https" : "http")}://127.0.0.1:{port}"));
        string[] certs = [];
        if (tls)
        {
            string folder = Path.Combine(cluster.LogDirectory, "certs");
            DevelopmentCertificates.CreateCa(folder, 1);
            DevelopmentCertificates.Issue(folder, "rank", ["127.0.0.1"], 1);
            certs = ["--certs", folder];
        }
        // Every link carries the run's token (LocalCluster hands it to the ranks) and a ring secret, as a job's do.
        var ranks = Enumerable.Range(0, n).Select(r => cluster.Start($"rank-{r}", true, ["bench", "allreduce-rank", "--rank", r.ToString(),
            "--peers", peers, "--size-mb", sizeMb.ToString(), "--iterations", iterations.ToString(), "--streams", streams.ToString(),
            "--max-warmup-seconds", maxWarmUpSeconds.ToString(), .. certs])).ToArray();
        var seconds = cluster.Collect(ranks, TimeSpan.FromMinutes(10));
        long bytes = (long)sizeMb << 20;
        double time = seconds.Max(), algbw = bytes / time / 1e9, busbw = algbw * 2 * (n - 1) / n;
        Console.Out.WriteLine($"allreduce workers={n} bytes={bytes} seconds={time:F4} algbw={algbw:F3} GB/s busbw={busbw:F3} GB/s{(tls ? " (mutual TLS)" : "")}");
        if (json)
            JsonLine.Write(new JsonObject
            {
                ["workers"] = n, ["bytes"] = bytes, ["seconds"] = Math.Round(time, 5),
                ["algbw_gbps"] = Math.Round(algbw, 4), ["busbw_gbps"] = Math.Round(busbw, 4), ["tls"] = tls,
            });
        return 0;
    }

    private static async Task<int> RankAsync(int rank, string[] peers, int sizeMb, int iterations, int streams, TimeSpan maxWarmUp, string? certs,
        string bind, CancellationToken ct)
    {
        int n = peers.Length;
        var outbox = new RingOutbox();
        var port = new Uri(peers[rank]).Port;
        var security = new Protos.Security.ClusterSecurity(Protos.Security.ClusterToken.Read(null), certs is null ? null
            : new Protos.Security.TlsSettings(Path.Combine(certs, "rank.pem"), Path.Combine(certs, "rank.key"), Path.Combine(certs, DevelopmentCertificates.CaCert), mutual: true));
        var (host, _) = await CollectiveHost.StartAsync(bind, port, outbox, ct, security);
        await using var _ = host;
        Console.Out.WriteLine("ready");
        if (await Console.In.ReadLineAsync(ct) != "go") return 1;
        // The run's token doubles as the ring secret: every rank has it, as every member of a generation has that generation's.
        await using var transport = GrpcRingTransport.Connect(rank, n, 1, peers[RingPlan.Mod(rank - 1, n)], outbox, streams, security.Token ?? "", security);
        var ring = new RingAllreduce(transport);
        var buffer = new float[((long)sizeMb << 20) / sizeof(float)];
        // The first allreduce checks the result: rank r contributes r + 1 everywhere.
        Array.Fill(buffer, rank + 1f);
        await ring.AllreduceAsync(buffer, 0, cancellationToken: ct);
        float expected = n * (n + 1) / 2f;
        int wrong = Array.FindIndex(buffer, v => v != expected);
        if (wrong >= 0)
        {
            Console.Error.WriteLine($"rank {rank}: element {wrong} is {buffer[wrong]} after the allreduce, expected {expected}");
            return 1;
        }
        long operation = await WarmUpAsync(ring, buffer, n, maxWarmUp, ct);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < iterations; i++) await ring.AllreduceAsync(buffer, operation++, cancellationToken: ct);
        double mean = clock.Elapsed.TotalSeconds / iterations;
        Console.Out.WriteLine("seconds " + mean.ToString("R", CultureInfo.InvariantCulture));
        return 0;
    }

    // At least two more allreduces, as the gloo yardstick does, and then until the JIT has settled. A fresh .NET
    // process recompiles its hot paths (tiered compilation) during its first seconds, which gloo's C++ does not; with
    // four ranks on two cores that took over 10 s and a fifth of the CPU, so a fixed short warm-up measured the JIT.
    // The warm-up ends once no rank has compiled a method for two allreduces in a row (or at maxWarmUp); the ranks
    // agree on that with a one-float allreduce, so every rank runs the same operations.
    private static async Task<long> WarmUpAsync(RingAllreduce ring, float[] buffer, int n, TimeSpan maxWarmUp, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        long operation = 1;
        var quiet = new float[1];
        for (int i = 0, quietInARow = 0; ; i++)
        {
            long compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
            await ring.AllreduceAsync(buffer, operation++, cancellationToken: ct);
            quiet[0] = System.Runtime.JitInfo.GetCompiledMethodCount() == compiled ? 1 : 0;
            await ring.AllreduceAsync(quiet, operation++, cancellationToken: ct);
            quietInARow = quiet[0] == n ? quietInARow + 1 : 0;
            if (i >= 1 && (quietInARow >= 2 || clock.Elapsed >= maxWarmUp)) return operation;
        }
    }
}
