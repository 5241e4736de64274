using DistTrain.Collectives;
using DistTrain.Engine;
using DistTrain.Engine.Model;
using DistTrain.Engine.Spec;

namespace DistTrain.Worker.Tests;

/// <summary>
/// Rank 0's checkpoints, taken mid-epoch while two replicas train over the in-memory ring, resume a fresh pair of
/// replicas at the exact step: the run ends with the parameters of the run straight through, bit for bit, dropout included.
/// </summary>
public class CheckpointResumeTests
{
    private const string Spec = """
        { "input_shape": [6], "seed": 3,
          "layers": [ { "type": "dense", "units": 16, "activation": "relu" }, { "type": "dropout", "rate": 0.3, "seed": 4 },
                      { "type": "dense", "units": 1, "activation": "sigmoid" } ],
          "optimizer": { "type": "adam", "learning_rate": 0.01 }, "loss": "binary_crossentropy", "metrics": ["accuracy"] }
        """;

    private static readonly TrainingPlan Plan = new(Epochs: 3, GlobalBatch: 30, Seed: 1, CheckpointEvery: 5);

    private readonly (Tensor X, Tensor Y) _train = DistributedTrainerTests.Blobs(600, 1), _test = DistributedTrainerTests.Blobs(101, 2);

    private async Task<List<CheckpointSnapshot>> RunAsync(Sequential[] models, TrainingProgress[] progress)
    {
        var ring = InMemoryRingTransport.CreateRing(models.Length);
        var snapshots = new List<CheckpointSnapshot>();
        await Task.WhenAll(Enumerable.Range(0, models.Length).Select(r => Task.Run(() =>
            new DistributedTrainer(models[r], new RingAllreduce(ring[r]), Plan, progress[r]) { OnCheckpoint = snapshots.Add }
                .TrainAsync(_train.X, _train.Y, _test.X, _test.Y))));
        return snapshots;
    }

    [Theory]
    [InlineData(1, 5)]   // mid-epoch
    [InlineData(1, 20)]  // the epoch's last step, before its evaluation
    [InlineData(2, 10)]
    public async Task A_pair_resumed_from_a_mid_epoch_checkpoint_ends_bitwise_equal_to_the_pair_straight_through(int epoch, int step)
    {
        var straight = new[] { ModelSpec.Parse(Spec), ModelSpec.Parse(Spec) };
        var snapshots = await RunAsync(straight, [new(), new()]);
        var at = Assert.Single(snapshots, s => s.Training.Epoch == epoch && s.Training.Step == step);

        var resumed = new[] { ModelSpec.Parse(Spec), ModelSpec.Parse(Spec) };
        var progress = new[] { new TrainingProgress(), new TrainingProgress() };
        for (int r = 0; r < 2; r++) CheckpointLoader.Apply(ModelFile.Read(at.Serialize(), "snapshot"), resumed[r], progress[r], "snapshot");
        await RunAsync(resumed, progress);

        Assert.True(straight[0].Store.Values.AsSpan().SequenceEqual(resumed[0].Store.Values),
            $"max |Δθ| = {straight[0].Store.Values.Zip(resumed[0].Store.Values, (a, b) => Math.Abs(a - b)).Max():E2}");
        Assert.Equal(3, progress[0].History.Count);
    }
}
