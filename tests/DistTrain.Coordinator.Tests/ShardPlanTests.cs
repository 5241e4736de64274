namespace DistTrain.Coordinator.Tests;

public class ShardPlanTests
{
    [Theory]
    [InlineData(1000, 128, 1)]
    [InlineData(1000, 128, 2)]
    [InlineData(1003, 120, 3)]
    [InlineData(8000, 128, 4)]
    public void Ranks_get_equal_disjoint_batches_that_together_are_the_global_batches(int samples, int g, int n)
    {
        var plans = Enumerable.Range(0, n).Select(r => ShardPlan.ForRank(samples, g, n, r, seed: 1, epoch: 2)).ToArray();
        int steps = samples / g;
        var order = ShardPlan.Permutation(samples, 1, 2);
        foreach (var plan in plans)
        {
            Assert.Equal(steps, plan.Length);
            Assert.All(plan, b => Assert.Equal(g / n, b.Length));
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
    public void Uneven_batches_and_tiny_datasets_are_refused_with_the_numbers()
    {
        Assert.Contains("global batch of 128 cannot be split evenly across 3 workers",
            Assert.Throws<ArgumentException>(() => ShardPlan.ForRank(1000, 128, 3, 0, 1, 0)).Message);
        Assert.Contains("50 training samples, fewer than one global batch of 64",
            Assert.Throws<ArgumentException>(() => ShardPlan.ForRank(50, 64, 2, 0, 1, 0)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ShardPlan.ForRank(1000, 128, 2, 2, 1, 0));
    }
}
