namespace DistTrain.Collectives.Tests;

public class BucketPlanTests
{
    private static (int, int)[] Layout(params int[] lengths)
    {
        int offset = 0;
        return lengths.Select(l => { var p = (offset, l); offset += l; return p; }).ToArray();
    }

    [Fact]
    public void Buckets_fill_from_the_end_of_the_buffer_without_splitting_parameters()
    {
        // 4 floats per bucket (16 bytes), sizes [3][2][1][5][2]: from the end {2}, then {5} alone (over the cap), {2, 1}, {3}.
        var buckets = BucketPlan.Create(Layout(3, 2, 1, 5, 2), bucketBytes: 16);
        Assert.Equal([new Bucket(11, 2, 4), new Bucket(6, 5, 3), new Bucket(3, 3, 1), new Bucket(0, 3, 0)], buckets);
    }

    [Fact]
    public void Buckets_cover_the_buffer_exactly_once()
    {
        var layout = Layout(288, 32, 18432, 64, 102400, 64, 640, 10);
        var buckets = BucketPlan.Create(layout, bucketBytes: 100_000);
        Assert.Equal(layout.Sum(p => p.Item2), buckets.Sum(b => b.Length));
        for (int i = 1; i < buckets.Count; i++) Assert.Equal(buckets[i - 1].Start, buckets[i].Start + buckets[i].Length);
        Assert.Equal(0, buckets[^1].Start);
    }

    [Fact]
    public void The_default_cap_puts_a_small_model_in_one_bucket()
    {
        var buckets = BucketPlan.Create(Layout(288, 32, 18432, 64, 102400, 64, 640, 10));
        Assert.Equal([new Bucket(0, 121930, 0)], buckets);
        Assert.Empty(BucketPlan.Create([]));
    }

    [Fact]
    public void A_gap_in_the_layout_is_refused()
    {
        Assert.Contains("contiguous", Assert.Throws<ArgumentException>(() => BucketPlan.Create([(0, 3), (4, 2)])).Message);
    }
}
