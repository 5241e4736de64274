namespace DistTrain.Collectives.Tests;

/// <summary>The ring algorithm over the in-memory transport: every N from 1 to 5 and the awkward lengths.</summary>
public class RingAllreduceTests
{
    private static float[][] Inputs(int n, int length) =>
        Enumerable.Range(0, n).Select(r => Enumerable.Range(0, length).Select(i => (float)((r + 1) * 1000 + i % 97) / 7).ToArray()).ToArray();

    private static async Task<float[][]> RunAsync(int n, int length, bool average, RingOptions? options = null)
    {
        var inputs = Inputs(n, length);
        var ring = InMemoryRingTransport.CreateRing(n);
        await Task.WhenAll(ring.Select((t, r) => Task.Run(() => new RingAllreduce(t, options).AllreduceAsync(inputs[r], 7, average))));
        return inputs;
    }

    public static IEnumerable<object[]> Cases()
    {
        for (int n = 1; n <= 5; n++)
            foreach (int length in new[] { 0, 1, Math.Max(0, n - 1), n + 1, 7919, 104_729 }.Distinct())
                yield return [n, length];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Every_rank_ends_with_the_sum(int n, int length)
    {
        var expected = new double[length];
        foreach (var input in Inputs(n, length))
            for (int i = 0; i < length; i++) expected[i] += input[i];
        // Small chunks, so that segments go out in several pipelined messages.
        var results = await RunAsync(n, length, average: false, new RingOptions(ChunkFloats: 1000));
        foreach (var result in results)
            for (int i = 0; i < length; i++)
                Assert.True(Math.Abs(expected[i] - result[i]) <= 1e-3 * Math.Abs(expected[i]) + 1e-4, $"N={n} L={length} [{i}]: {expected[i]} vs {result[i]}");
        // Bitwise identical on every rank: each segment is summed once, in one order, then copied around.
        for (int r = 1; r < n; r++) Assert.Equal(results[0], results[r]);
    }

    [Fact]
    public async Task Average_divides_by_the_world_size()
    {
        var results = await RunAsync(4, 10, average: true);
        var inputs = Inputs(4, 10);
        for (int i = 0; i < 10; i++) Assert.Equal(inputs.Average(x => x[i]), results[2][i], 3);
    }

    [Fact]
    public async Task Ranks_that_disagree_on_the_length_fail_loudly()
    {
        var ring = InMemoryRingTransport.CreateRing(2);
        var options = new RingOptions(Timeout: TimeSpan.FromSeconds(5));
        var a = new RingAllreduce(ring[0], options).AllreduceAsync(new float[10], 1);
        var b = new RingAllreduce(ring[1], options).AllreduceAsync(new float[12], 1);
        var e = await Assert.ThrowsAnyAsync<CollectiveException>(() => Task.WhenAll(a, b));
        Assert.Contains("where", e.Message);
        Assert.Matches("rank [01]", e.Message);
    }

    [Fact]
    public async Task Ranks_that_disagree_on_the_operation_fail_naming_both()
    {
        var ring = InMemoryRingTransport.CreateRing(2);
        var options = new RingOptions(Timeout: TimeSpan.FromSeconds(5));
        var a = new RingAllreduce(ring[0], options).AllreduceAsync(new float[10], 1);
        var b = new RingAllreduce(ring[1], options).AllreduceAsync(new float[10], 2);
        var e = await Assert.ThrowsAnyAsync<CollectiveException>(() => Task.WhenAll(a, b));
        Assert.Contains("operation", e.Message);
        Assert.Contains("disagree", e.Message);
    }

    [Fact]
    public async Task A_silent_peer_times_out_with_its_rank_and_step()
    {
        var ring = InMemoryRingTransport.CreateRing(3);
        var options = new RingOptions(Timeout: TimeSpan.FromMilliseconds(300));
        // Rank 2 never joins, so rank 0 (its right neighbour) waits for it.
        var started = DateTime.UtcNow;
        var e = await Assert.ThrowsAsync<CollectiveException>(() => new RingAllreduce(ring[0], options).AllreduceAsync(new float[9], 5));
        Assert.Contains("rank 0: rank 2 sent nothing", e.Message);
        Assert.Contains("operation 5, reduce-scatter step 0", e.Message);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5));
    }
}
