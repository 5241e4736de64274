namespace DistTrain.Collectives.Tests;

/// <summary>Ring broadcast over the in-memory transport: every root, awkward lengths, exact bits, and loud disagreement.</summary>
public class RingBroadcastTests
{
    public static IEnumerable<object[]> Cases()
    {
        for (int n = 1; n <= 5; n++)
            for (int root = 0; root < n; root++)
                foreach (int length in new[] { 0, 1, 2999, 10_001 })
                    yield return [n, root, length];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Every_rank_ends_with_the_roots_bits(int n, int root, int length)
    {
        var buffers = Enumerable.Range(0, n).Select(r => Enumerable.Range(0, length).Select(i => (float)(r * 31 + i)).ToArray()).ToArray();
        // Bits a sum would not keep: negative zero and a NaN payload.
        if (length > 1)
        {
            buffers[root][0] = -0f;
            buffers[root][1] = BitConverter.Int32BitsToSingle(0x7FC0_1234);
        }
        var expected = buffers[root].ToArray();
        var ring = InMemoryRingTransport.CreateRing(n);
        var options = new RingOptions(ChunkFloats: 1000);
        await Task.WhenAll(ring.Select((t, r) => Task.Run(() => new RingBroadcast(t, options).BroadcastAsync(buffers[r], root, 3))));
        foreach (var b in buffers)
            Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), b.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public async Task A_silent_root_times_out_naming_it()
    {
        var ring = InMemoryRingTransport.CreateRing(3);
        var options = new RingOptions(Timeout: TimeSpan.FromMilliseconds(300));
        // Rank 0, the root, never sends: rank 1 waits on it and says so; rank 2 waits on rank 1.
        var error = await Assert.ThrowsAsync<CollectiveException>(() => new RingBroadcast(ring[1], options).BroadcastAsync(new float[10], 0, 5));
        Assert.Contains("rank 1: rank 0 sent nothing", error.Message);
        Assert.Contains("broadcast", error.Message);
    }
}
