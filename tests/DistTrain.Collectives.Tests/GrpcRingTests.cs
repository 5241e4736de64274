using DistTrain.Collectives.Grpc;

namespace DistTrain.Collectives.Tests;

/// <summary>The ring over real gRPC on loopback: one Kestrel host per rank, in this process.</summary>
public class GrpcRingTests
{
    private static async Task<float[][]> RunRingAsync(int n, int length, int chunkFloats, long generation = 1)
    {
        var inboxes = Enumerable.Range(0, n).Select(_ => new RingInbox()).ToArray();
        var hosts = new List<Microsoft.AspNetCore.Builder.WebApplication>();
        var addresses = new string[n];
        try
        {
            for (int r = 0; r < n; r++)
            {
                var (app, address) = await CollectiveHost.StartAsync("127.0.0.1", 0, inboxes[r]);
                hosts.Add(app);
                addresses[r] = address;
            }
            var transports = Enumerable.Range(0, n)
                .Select(r => GrpcRingTransport.Connect(r, n, generation, addresses[(r + 1) % n], inboxes[r])).ToArray();
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
    public void A_chunk_from_a_stale_generation_is_refused()
    {
        var inbox = new RingInbox { Expected = (1, 5) };
        var e = Assert.Throws<CollectiveException>(() => inbox.Deliver(new Protos.RingChunk { FromRank = 1, Generation = 4 }));
        Assert.Contains("generation 4", e.Message);
        Assert.Contains("generation 5", e.Message);
    }
}
