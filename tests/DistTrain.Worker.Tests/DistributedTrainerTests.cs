using DistTrain.Collectives;
using DistTrain.Engine;
using DistTrain.Engine.Model;
using DistTrain.Engine.Spec;

namespace DistTrain.Worker.Tests;

public class DistributedTrainerTests
{
    // Two separable blobs in 6-D: any replica count must learn them, and all replicas must agree.
    internal static (Tensor X, Tensor Y) Blobs(int n, int seed)
    {
        var rng = new Random(seed);
        var x = new Tensor(n, 6);
        var y = new Tensor(n);
        for (int i = 0; i < n; i++)
        {
            int c = rng.Next(2);
            y.Span[i] = c;
            for (int d = 0; d < 6; d++) x.Span[i * 6 + d] = (d % 2 == c ? 1.5f : 0) + (float)(rng.NextDouble() - 0.5);
        }
        return (x, y);
    }

    private const string Spec = """
        { "input_shape": [6], "seed": 3,
          "layers": [ { "type": "dense", "units": 8, "activation": "relu" }, { "type": "dense", "units": 1, "activation": "sigmoid" } ],
          "optimizer": { "type": "adam", "learning_rate": 0.01 }, "loss": "binary_crossentropy", "metrics": ["accuracy"] }
        """;

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)] // a global batch of 30 in slices of 8, 8, 7 and 7
    public async Task Ranks_train_together_and_report_identical_combined_results(int n)
    {
        var (x, y) = Blobs(600, 1);
        var (tx, ty) = Blobs(301, 2); // 301 does not divide by N: every test sample must still be counted once
        var ring = InMemoryRingTransport.CreateRing(n);
        var models = Enumerable.Range(0, n).Select(_ => ModelSpec.Parse(Spec)).ToArray();
        var plan = new TrainingPlan(Epochs: 3, GlobalBatch: 30, Seed: 1, ConsistencyCheckEvery: 5);
        var results = await Task.WhenAll(Enumerable.Range(0, n).Select(r => Task.Run(() =>
            new DistributedTrainer(models[r], new RingAllreduce(ring[r]), plan).TrainAsync(x, y, tx, ty))));
        Assert.All(results, r => Assert.Equal(3, r.Count));
        for (int r = 1; r < n; r++)
        {
            Assert.Equal(results[0].Select(e => (e.Loss, e.TestAccuracy)), results[r].Select(e => (e.Loss, e.TestAccuracy)));
            Assert.Equal(models[0].Store.Values, models[r].Store.Values);
        }
        Assert.True(results[0][^1].TestAccuracy > 0.95, $"test accuracy {results[0][^1].TestAccuracy}");
        // The combined test figures equal one process evaluating all 301 samples.
        var whole = models[0].Evaluate(tx, ty);
        Assert.Equal(whole.Accuracy, results[0][^1].TestAccuracy, 6);
        Assert.Equal(whole.Loss, results[0][^1].TestLoss, 4);
    }

    // Batch normalization, also inside a residual block: each rank's moving statistics start from its own slice.
    private const string BatchNormSpec = """
        { "input_shape": [6], "seed": 3,
          "layers": [ { "type": "dense", "units": 8 }, { "type": "batch_normalization" }, { "type": "activation", "activation": "relu" },
                      { "type": "residual", "layers": [ { "type": "dense", "units": 8 }, { "type": "batch_normalization", "momentum": 0.9 } ] },
                      { "type": "dense", "units": 1, "activation": "sigmoid" } ],
          "optimizer": { "type": "adam", "learning_rate": 0.01 }, "loss": "binary_crossentropy", "metrics": ["accuracy"] }
        """;

    /// <summary>
    /// With a hash check after every step (which covers the moving statistics), batch-norm replicas stay identical:
    /// every step averages the ranks' moving statistics. Each rank's moving mean moved from its own slice's mean, so the
    /// average is the moving mean of the per-rank means; the test accuracy matches one process's bar.
    /// </summary>
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)] // slices of 8, 8, 7 and 7
    public async Task Batch_norm_replicas_keep_identical_moving_statistics(int n)
    {
        var (x, y) = Blobs(600, 1);
        var (tx, ty) = Blobs(301, 2);
        var ring = InMemoryRingTransport.CreateRing(n);
        var models = Enumerable.Range(0, n).Select(_ => ModelSpec.Parse(BatchNormSpec)).ToArray();
        var plan = new TrainingPlan(Epochs: 3, GlobalBatch: 30, Seed: 1, ConsistencyCheckEvery: 1);
        var results = await Task.WhenAll(Enumerable.Range(0, n).Select(r => Task.Run(() =>
            new DistributedTrainer(models[r], new RingAllreduce(ring[r]), plan).TrainAsync(x, y, tx, ty))));
        Assert.NotEmpty(models[0].Store.State);
        Assert.NotEqual(0f, models[0].Store.State[0]); // the moving mean moved from its zero start
        for (int r = 1; r < n; r++)
        {
            Assert.Equal(models[0].Store.State, models[r].Store.State);
            Assert.Equal(models[0].Store.Values, models[r].Store.Values);
        }
        Assert.True(results[0][^1].TestAccuracy > 0.95, $"test accuracy {results[0][^1].TestAccuracy}");
    }

    [Fact]
    public async Task A_replica_that_drifts_is_named_by_the_consistency_check()
    {
        var ring = InMemoryRingTransport.CreateRing(3);
        var models = Enumerable.Range(0, 3).Select(_ => ModelSpec.Parse(Spec)).ToArray();
        models[2].Store.Values[5] += 1e-3f; // rank 2 no longer holds the same parameters
        var plan = new TrainingPlan(1, 30, 1);
        var checks = Enumerable.Range(0, 3).Select(r => Task.Run(() =>
            new DistributedTrainer(models[r], new RingAllreduce(ring[r]), plan).CheckConsistencyAsync(step: 17))).ToArray();
        var e = await Assert.ThrowsAsync<CollectiveException>(() => checks[0]);
        Assert.Equal("replicas diverged at step 17: the parameters of rank 2 differ from rank 0's", e.Message);
    }

    [Fact]
    public void Parameter_hashes_survive_the_float_exchange_exactly()
    {
        ulong h = ParameterHash.Of([1f, 2f, 3f], [4f]);
        Assert.NotEqual(h, ParameterHash.Of([1f, 2f, 3.0000002f], [4f]));
        ParameterHash.Verify([h, h, h], 1);
    }
}
