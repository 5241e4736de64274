namespace DistTrain.Collectives.Tests;

public class RingPlanTests
{
    [Theory]
    [InlineData(0, 3)]
    [InlineData(1, 3)]
    [InlineData(2, 3)]
    [InlineData(4, 3)]
    [InlineData(10, 4)]
    [InlineData(1_000_003, 5)]
    public void Segments_cover_the_buffer_in_order_and_differ_by_at_most_one(int length, int n)
    {
        var s = RingPlan.Segments(length, n);
        Assert.Equal(n, s.Length);
        Assert.Equal(0, s[0].Offset);
        for (int i = 1; i < n; i++) Assert.Equal(s[i - 1].Offset + s[i - 1].Length, s[i].Offset);
        Assert.Equal(length, s.Sum(x => x.Length));
        Assert.True(s.Max(x => x.Length) - s.Min(x => x.Length) <= 1);
    }

    [Fact]
    public void Chunks_split_a_segment_and_an_empty_segment_is_one_empty_chunk()
    {
        Assert.Equal(3, RingPlan.ChunkCount(10, 4));
        Assert.Equal((8, 2), RingPlan.Chunk(10, 4, 2));
        Assert.Equal(1, RingPlan.ChunkCount(0, 4));
        Assert.Equal((0, 0), RingPlan.Chunk(0, 4, 0));
    }

    [Fact]
    public void Bad_arguments_are_named()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RingPlan.Segments(-1, 2));
        Assert.Contains("world size", Assert.Throws<ArgumentOutOfRangeException>(() => RingPlan.Segments(5, 0)).Message);
    }
}
