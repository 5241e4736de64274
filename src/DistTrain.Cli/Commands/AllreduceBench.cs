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
/// so no rank connects before its neighbour listens. Each rank reports its best time over the iterations; the
/// slowest rank's best is the collective's time. algbw = bytes / time and busbw = algbw · 2(N−1)/N, as nccl-tests
/// define them.
/// </summary>
public static class AllreduceBench
{
    public static Command Create()
    {
        var workers = CommonOptions.Positive("--workers", 2, "Processes in the ring", max: 64);
        var size = CommonOptions.Positive("--size-mb", 64, "Buffer size in MB (10^6 bytes)", max: 4096);
        var iterations = CommonOptions.Positive("--iterations", 5, "Timed allreduces after one warm-up");
        var json = CommonOptions.Json();
        var command = new Command("allreduce", "Ring allreduce bandwidth across N processes on loopback") { workers, size, iterations, json };
        command.SetAction(p => Run(p.GetValue(workers), p.GetValue(size), p.GetValue(iterations), p.GetValue(json)));
        return command;
    }

    /// <summary>The hidden per-rank command the benchmark starts.</summary>
    public static Command RankCommand()
    {
        var rank = new Option<int>("--rank") { Required = true };
        var peers = new Option<string>("--peers") { Required = true };
        var size = new Option<int>("--size-mb") { Required = true };
        var iterations = new Option<int>("--iterations") { Required = true };
        var command = new Command("allreduce-rank", "One rank of bench allreduce (started by it)") { rank, peers, size, iterations };
        command.Hidden = true;
        command.SetAction((p, ct) => RankAsync(p.GetValue(rank), p.GetValue(peers)!.Split(','), p.GetValue(size), p.GetValue(iterations), ct));
        return command;
    }

    private static int Run(int n, int sizeMb, int iterations, bool json)
    {
        using var cluster = new LocalCluster();
        var ports = Enumerable.Range(0, n).Select(_ => LocalCluster.FreePort()).ToArray();
        string peers = string.Join(',', ports.Select(port => $"http://127.0.0.1:{port}"));
        var ranks = Enumerable.Range(0, n).Select(r => cluster.Start($"rank-{r}", true, "bench", "allreduce-rank", "--rank", r.ToString(),
            "--peers", peers, "--size-mb", sizeMb.ToString(), "--iterations", iterations.ToString())).ToArray();
        var seconds = cluster.Collect(ranks, TimeSpan.FromMinutes(10));
        long bytes = (long)sizeMb * 1_000_000 / sizeof(float) * sizeof(float);
        double time = seconds.Max(), algbw = bytes / time / 1e9, busbw = algbw * 2 * (n - 1) / n;
        Console.Out.WriteLine($"allreduce workers={n} bytes={bytes} seconds={time:F4} algbw={algbw:F3} GB/s busbw={busbw:F3} GB/s");
        if (json)
            JsonLine.Write(new JsonObject
            {
                ["workers"] = n, ["bytes"] = bytes, ["seconds"] = Math.Round(time, 5),
                ["algbw_gbps"] = Math.Round(algbw, 4), ["busbw_gbps"] = Math.Round(busbw, 4),
            });
        return 0;
    }

    private static async Task<int> RankAsync(int rank, string[] peers, int sizeMb, int iterations, CancellationToken ct)
    {
        int n = peers.Length;
        var outbox = new RingOutbox();
        var port = new Uri(peers[rank]).Port;
        var (host, _) = await CollectiveHost.StartAsync("127.0.0.1", port, outbox, ct);
        await using var _ = host;
        Console.Out.WriteLine("ready");
        if (await Console.In.ReadLineAsync(ct) != "go") return 1;
        await using var transport = GrpcRingTransport.Connect(rank, n, 1, peers[RingPlan.Mod(rank - 1, n)], outbox);
        var ring = new RingAllreduce(transport);
        var buffer = new float[sizeMb * 1_000_000 / sizeof(float)];
        // Warm-up (connections, JIT, buffers) that also checks the result: rank r contributes r + 1 everywhere.
        Array.Fill(buffer, rank + 1f);
        await ring.AllreduceAsync(buffer, 0, cancellationToken: ct);
        float expected = n * (n + 1) / 2f;
        int wrong = Array.FindIndex(buffer, v => v != expected);
        if (wrong >= 0)
        {
            Console.Error.WriteLine($"rank {rank}: element {wrong} is {buffer[wrong]} after the allreduce, expected {expected}");
            return 1;
        }
        double best = double.MaxValue;
        for (int i = 1; i <= iterations; i++)
        {
            await ring.AllreduceAsync(new float[1], 1000 + i, cancellationToken: ct); // line the ranks up
            var clock = Stopwatch.StartNew();
            await ring.AllreduceAsync(buffer, i, cancellationToken: ct);
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }
        Console.Out.WriteLine("seconds " + best.ToString("R", CultureInfo.InvariantCulture));
        return 0;
    }
}
