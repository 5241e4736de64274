using DistTrain.Collectives;
using DistTrain.Engine;
using DistTrain.Engine.Model;
using DistTrain.Engine.Spec;

namespace DistTrain.Worker.Tests;

/// <summary>
/// Training that carries on across rings of different sizes, in one process over the in-memory ring: a rank is lost
/// mid-epoch (its peers are stopped mid-step, as a broken link stops them), the survivors form a smaller ring and
/// redo the step, then a fresh replica joins and receives the state. The run must make the updates of a run that
/// never broke, and every sample of every epoch must be trained on exactly once.
/// </summary>
public class ElasticTrainerTests
{
    // No batch normalization: it normalises each rank's slice, so its updates depend on the ring's size (as DDP's do).
    private const string Spec = """
        { "input_shape": [6], "seed": 3,
          "layers": [ { "type": "dense", "units": 8, "activation": "relu" }, { "type": "dense", "units": 1, "activation": "sigmoid" } ],
          "optimizer": { "type": "adam", "learning_rate": 0.01 }, "loss": "binary_crossentropy", "metrics": ["accuracy"] }
        """;

    private static readonly TrainingPlan Plan = new(Epochs: 3, GlobalBatch: 30, Seed: 1, ConsistencyCheckEvery: 7);

    private readonly (Tensor X, Tensor Y) _train = DistributedTrainerTests.Blobs(600, 1), _test = DistributedTrainerTests.Blobs(301, 2);

    // One ring of these members, until it ends or `breakAt` (epoch, step) is committed on rank `breaker`.
    private async Task RunRingAsync(Sequential[] models, TrainingProgress[] progress, Dictionary<int, EpochResult> epochs,
        (int Rank, int Epoch, int Step)? breakAt = null)
    {
        int n = models.Length;
        var ring = InMemoryRingTransport.CreateRing(n);
        using var broken = new CancellationTokenSource();
        var runs = Enumerable.Range(0, n).Select(r => Task.Run(async () =>
        {
            var trainer = new DistributedTrainer(models[r], new RingAllreduce(ring[r]), Plan, progress[r])
            {
                OnStep = s =>
                {
                    if (breakAt is { } b && r == b.Rank && s.Epoch == b.Epoch && s.Step == b.Step) broken.Cancel();
                },
                OnEpoch = e =>
                {
                    if (r == 0) lock (epochs) epochs[e.Epoch] = e;
                },
            };
            await trainer.TrainAsync(_train.X, _train.Y, _test.X, _test.Y, broken.Token);
        })).ToArray();
        if (breakAt is null) await Task.WhenAll(runs);
        else await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Task.WhenAll(runs));
    }

    private static Sequential NewModel() => ModelSpec.Parse(Spec);

    [Fact]
    public async Task Losing_a_rank_then_gaining_a_joiner_makes_the_updates_of_a_run_that_never_broke()
    {
        var reference = Enumerable.Range(0, 3).Select(_ => NewModel()).ToArray();
        var referenceEpochs = new Dictionary<int, EpochResult>();
        await RunRingAsync(reference, [new(), new(), new()], referenceEpochs);

        var models = Enumerable.Range(0, 3).Select(_ => NewModel()).ToArray();
        var progress = new TrainingProgress[] { new(), new(), new() };
        var epochs = new Dictionary<int, EpochResult>();
        // Rank 2 is lost right after it commits step 5 of epoch 2; its peers are stopped wherever they are.
        await RunRingAsync(models, progress, epochs, breakAt: (2, 2, 5));
        // The survivors go on as a ring of two, until a fresh replica joins after step 3 of epoch 3.
        await RunRingAsync([models[0], models[1]], [progress[0], progress[1]], epochs, breakAt: (0, 3, 3));
        var joiner = NewModel();
        await RunRingAsync([models[0], models[1], joiner], [progress[0], progress[1], new()], epochs);

        float worst = 0;
        for (int i = 0; i < reference[0].Store.Values.Length; i++)
            worst = Math.Max(worst, Math.Abs(reference[0].Store.Values[i] - joiner.Store.Values[i]));
        Assert.True(worst <= 1e-5f, $"max |Δθ| = {worst}");
        Assert.Equal(models[0].Store.Values, joiner.Store.Values);
        Assert.Equal(models[0].Store.State, joiner.Store.State);
        Assert.Equal([1, 2, 3], epochs.Keys.Order());
        foreach (var (epoch, e) in epochs)
        {
            Assert.Equal((600L, 0L, 0L), (e.Samples, e.LostSamples, e.DuplicatedSamples));
            Assert.Equal(referenceEpochs[epoch].TestAccuracy, e.TestAccuracy, 3);
        }
    }
}
