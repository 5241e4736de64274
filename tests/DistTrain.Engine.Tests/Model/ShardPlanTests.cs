using DistTrain.Engine.Model;

namespace DistTrain.Engine.Tests.Model;

public class ShardPlanTests
{
    [Theory]
    [InlineData(1000, 128, 1)]
    [InlineData(1000, 128, 2)]
    [InlineData(1003, 120, 3)]
    [InlineData(8000, 128, 4)]
    [InlineData(8000, 128, 3)]   // 43, 43, 42
    [InlineData(1000, 130, 4)]   // 33, 33, 32, 32
    [InlineData(500, 7, 7)]      // one sample each
    public void Ranks_get_disjoint_batches_that_together_are_the_global_batches(int samples, int g, int n)
    {
        var plans = Enumerable.Range(0, n).Select(r => ShardPlan.ForRank(samples, g, n, r, seed: 1, epoch: 2)).ToArray();
        int steps = samples / g;
        var order = ShardPlan.Permutation(samples, 1, 2);
        for (int r = 0; r < n; r++)
        {
            Assert.Equal(steps, plans[r].Length);
            // The first G mod N ranks take one sample more.
            Assert.All(plans[r], b => Assert.Equal(g / n + (r < g % n ? 1 : 0), b.Length));
        }
        for (int k = 0; k < steps; k++)
        {
            // Rank order reassembles the single-process batch k exactly.
            var global = plans.SelectMany(p => p[k]).ToArray();
            Assert.Equal(order.AsSpan(k * g, g).ToArray(), global);
        }
        var used = plans.SelectMany(p => p.SelectMany(b => b)).ToArray();
        Assert.Equal(used.Length, used.Distinct().Count());
        Assert.Equal(samples - samples % g, used.Length); // the remainder sits out this epoch
    }

    [Fact]
    public void Each_epoch_has_its_own_permutation_and_the_same_seed_repeats_it()
    {
        Assert.Equal(ShardPlan.Permutation(100, 7, 0), ShardPlan.Permutation(100, 7, 0));
        Assert.NotEqual(ShardPlan.Permutation(100, 7, 0), ShardPlan.Permutation(100, 7, 1));
        Assert.NotEqual(ShardPlan.Permutation(100, 7, 0), ShardPlan.Permutation(100, 8, 0));
        Assert.Equal(Enumerable.Range(0, 100), ShardPlan.Permutation(100, 7, 3).Order());
    }

    [Fact]
    public void Batches_smaller_than_the_world_and_tiny_datasets_are_refused_with_the_numbers()
    {
        Assert.Contains("a global batch of 2 leaves some of the 3 workers without a sample; use at least 3",
            Assert.Throws<ArgumentException>(() => ShardPlan.ForRank(1000, 2, 3, 0, 1, 0)).Message);
        Assert.Contains("50 training samples, fewer than one global batch of 64",
            Assert.Throws<ArgumentException>(() => ShardPlan.ForRank(50, 64, 2, 0, 1, 0)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ShardPlan.ForRank(1000, 128, 2, 2, 1, 0));
    }
}
