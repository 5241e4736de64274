using DistTrain.Collectives.Grpc;

namespace DistTrain.Collectives.Tests;

/// <summary>The ring over real gRPC on loopback: one Kestrel host per rank, in this process.</summary>
public class GrpcRingTests
{
    private static async Task<float[][]> RunRingAsync(int n, int length, int chunkFloats, long generation = 1)
    {
        var outboxes = Enumerable.Range(0, n).Select(_ => new RingOutbox()).ToArray();
        var hosts = new List<Microsoft.AspNetCore.Builder.WebApplication>();
        var addresses = new string[n];
        try
        {
            for (int r = 0; r < n; r++)
            {
                var (app, address) = await CollectiveHost.StartAsync("127.0.0.1", 0, outboxes[r]);
                hosts.Add(app);
                addresses[r] = address;
            }
            var transports = Enumerable.Range(0, n)
                .Select(r => GrpcRingTransport.Connect(r, n, generation, addresses[RingPlan.Mod(r - 1, n)], outboxes[r])).ToArray();
            var buffers = Enumerable.Range(0, n).Select(r => Enumerable.Range(0, length).Select(i => (float)(r + 1) * (i % 101)).ToArray()).ToArray();
            var options = new RingOptions(chunkFloats, TimeSpan.FromSeconds(30));
            await Task.WhenAll(Enumerable.Range(0, n).Select(r => new RingAllreduce(transports[r], options).AllreduceAsync(buffers[r], 0)));
            foreach (var t in transports) await t.DisposeAsync();
            return buffers;
        }
        finally
        {
            foreach (var h in hosts) await h.DisposeAsync();
        }
    }

    [Theory]
    [InlineData(2, 0)]
    [InlineData(3, 2)]
    [InlineData(3, 100_003)]
    [InlineData(4, 1_000_000)]
    public async Task Grpc_ring_sums_across_ranks(int n, int length)
    {
        var results = await RunRingAsync(n, length, chunkFloats: 64 * 1024);
        float factor = n * (n + 1) / 2f; // Σ (r + 1)
        foreach (var result in results)
            for (int i = 0; i < length; i++) Assert.Equal(factor * (i % 101), result[i]);
    }

    [Fact]
    public async Task Chunks_larger_than_the_default_grpc_cap_pass()
    {
        // 2 M floats in one 8 MB chunk: over gRPC's 4 MB default message cap, which both sides lift.
        var results = await RunRingAsync(2, 4 * 1024 * 1024, chunkFloats: 2 * 1024 * 1024);
        Assert.Equal(3f * 7, results[1][7]);
    }

    [Fact]
    public async Task A_link_from_a_stale_generation_or_a_foreign_rank_is_refused()
    {
        var outbox = new RingOutbox(TimeSpan.FromSeconds(5));
        var (host, address) = await CollectiveHost.StartAsync("127.0.0.1", 0, outbox);
        await using var _ = host;
        outbox.Open(toRank: 1, generation: 5);
        foreach (var (rank, generation, says) in new[] { (1, 4L, "generation 4"), (2, 5L, "rank 2") })
        {
            using var channel = GrpcRingTransport.CreateChannel(address);
            using var call = channel.CreateCallInvoker().AsyncServerStreamingCall(CollectiveService.LinkMethod, null, new global::Grpc.Core.CallOptions(),
                new Protos.LinkRequest { Rank = rank, Generation = generation });
            var e = await Assert.ThrowsAsync<global::Grpc.Core.RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(global::Grpc.Core.StatusCode.FailedPrecondition, e.StatusCode);
            Assert.Contains(says, e.Status.Detail);
            Assert.Contains("rank 1, generation 5", e.Status.Detail);
        }
    }

    [Fact]
    public async Task A_link_waits_for_its_sender_to_join_the_ring()
    {
        // The receiver may call Link before the sender has its assignment; the call waits rather than failing.
        var results = new float[2][];
        var outboxes = new[] { new RingOutbox(), new RingOutbox() };
        var hosts = new List<Microsoft.AspNetCore.Builder.WebApplication>();
        try
        {
            var addresses = new string[2];
            for (int r = 0; r < 2; r++)
            {
                var (app, address) = await CollectiveHost.StartAsync("127.0.0.1", 0, outboxes[r]);
                hosts.Add(app);
                addresses[r] = address;
            }
            await using var t0 = GrpcRingTransport.Connect(0, 2, 3, addresses[1], outboxes[0]);
            var first = Task.Run(async () => { var b = new float[] { 1, 2, 3 }; await new RingAllreduce(t0).AllreduceAsync(b, 0); return b; });
            await Task.Delay(500);
            await using var t1 = GrpcRingTransport.Connect(1, 2, 3, addresses[0], outboxes[1]);
            var second = new float[] { 10, 20, 30 };
            await new RingAllreduce(t1).AllreduceAsync(second, 0);
            Assert.Equal(new float[] { 11, 22, 33 }, await first);
            Assert.Equal(new float[] { 11, 22, 33 }, second);
        }
        finally
        {
            foreach (var h in hosts) await h.DisposeAsync();
        }
    }
}
