using DistTrain.Collectives;
using DistTrain.Engine;
using DistTrain.Engine.Model;
using DistTrain.Engine.Spec;

namespace DistTrain.Worker.Tests;

/// <summary>
/// N replicas that each see their slice of G samples (⌊G/N⌋ or ⌈G/N⌉) and sum their gradients by ring allreduce must follow one process that
/// sees all G samples: after K steps, max |Δparameter| ≤ 1e-4. The ring here is in memory; the arithmetic is the one the
/// workers run over gRPC.
/// <para>
/// The two differ only in the order of additions (about 1e-7 relative). The CNN is checked on real digits: on uniform
/// noise, many ReLU inputs and max-pool candidates sit within 1e-7 of a tie, one flips within a few steps, and Adam's
/// normalisation turns that gradient jump into a 4e-4 weight difference, which would measure the data's ties rather
/// than the trainer. On real digits the difference stays near 7e-8 for every step.
/// </para>
/// </summary>
public class EquivalenceTests
{
    private const int Steps = 8, GlobalBatch = 12;

    private static (Tensor X, Tensor Y) Data(Sequential model, int seed)
    {
        if (model.InputShape.SequenceEqual([28, 28, 1])) return RealDigits(seed);
        var rng = new Random(seed);
        var x = new Tensor([Steps * GlobalBatch, .. model.InputShape]);
        int vocabulary = model.Layers[0] is Engine.Layers.Embedding e ? e.InputDim : 0;
        for (int i = 0; i < x.Length; i++) x.Span[i] = vocabulary > 0 ? rng.Next(vocabulary) : rng.NextSingle();
        int classes = model.OutputShape[^1];
        var y = new Tensor(Steps * GlobalBatch);
        for (int i = 0; i < y.Length; i++) y.Span[i] = rng.Next(classes > 1 ? classes : 2);
        return (x, y);
    }

    // Real MNIST digits from the data cache that .ci/run fills (never the network).
    private static (Tensor X, Tensor Y) RealDigits(int seed)
    {
        string dir = Path.Combine(DistTrain.Data.DataCache.Root, DistTrain.Data.Mnist.CacheName);
        Assert.True(Directory.Exists(dir), $"the MNIST cache {dir} is missing; run 'disttrain data fetch mnist' first");
        var d = DistTrain.Data.Mnist.LoadDirectory(dir);
        var order = DistTrain.Engine.Model.ShardPlan.Permutation(d.TrainCount, seed, 0);
        int n = 64 * GlobalBatch;
        var x = new Tensor(n, 28, 28, 1);
        var y = new Tensor(n);
        for (int i = 0; i < n; i++)
        {
            d.TrainX.Sample(order[i]).CopyTo(x.Sample(i));
            y.Span[i] = d.TrainY.Span[order[i]];
        }
        return (x, y);
    }

    private static Tensor Rows(Tensor t, int from, int count)
    {
        var r = new Tensor([count, .. t.Shape[1..]]);
        t.Span.Slice(from * t.SampleSize, count * t.SampleSize).CopyTo(r.Span);
        return r;
    }

    private static async Task<double> MaxDifference(Func<Sequential> build, int n, long bucketBytes)
    {
        var single = build();
        var (x, y) = Data(single, 3);
        for (int k = 0; k < Steps; k++) single.TrainOnBatch(Rows(x, k * GlobalBatch, GlobalBatch), Rows(y, k * GlobalBatch, GlobalBatch));

        var ring = InMemoryRingTransport.CreateRing(n);
        var replicas = Enumerable.Range(0, n).Select(_ => build()).ToArray();
        var trainers = replicas.Select((m, r) => new ReplicaTrainer(m, new RingAllreduce(ring[r]), bucketBytes)).ToArray();
        // Each rank's slice as the workers deal it: with N = 5 they are 3, 3, 2, 2, 2 samples of 12.
        int Start(int r) => DistTrain.Engine.Model.ShardPlan.SliceStart(GlobalBatch, n, r);
        for (int k = 0; k < Steps; k++)
            await Task.WhenAll(trainers.Select((t, r) => Task.Run(() => t.StepAsync(Rows(x, k * GlobalBatch + Start(r), Start(r + 1) - Start(r)),
                Rows(y, k * GlobalBatch + Start(r), Start(r + 1) - Start(r)), GlobalBatch))));
        double max = 0;
        foreach (var m in replicas)
            for (int i = 0; i < m.Store.Values.Length; i++) max = Math.Max(max, Math.Abs(m.Store.Values[i] - single.Store.Values[i]));
        return max;
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)] // 12 samples do not divide by 5: slices of 3, 3, 2, 2, 2
    public async Task Mnist_cnn_replicas_match_one_process(int n)
    {
        // Small buckets (64 KB), so that several allreduces overlap backward.
        double diff = await MaxDifference(() => ModelSpec.Resolve("mnist-cnn", seed: 5), n, 64 * 1024);
        Assert.True(diff <= 1e-4, $"max |Δparameter| = {diff}");
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Recurrent_replicas_match_one_process(int n)
    {
        // An LSTM without dropout (dropout masks depend on the local batch shape, so they could not match).
        const string spec = """
            { "input_shape": [10], "seed": 4,
              "layers": [ { "type": "embedding", "input_dim": 50, "output_dim": 8 }, { "type": "lstm", "units": 16 },
                          { "type": "dense", "units": 1, "activation": "sigmoid" } ],
              "optimizer": "adam", "loss": "binary_crossentropy", "metrics": ["accuracy"] }
            """;
        double diff = await MaxDifference(() => ModelSpec.Parse(spec), n, 4 * 1024);
        Assert.True(diff <= 1e-4, $"max |Δparameter| = {diff}");
    }

    [Fact]
    public async Task Every_rank_issues_the_same_operations_in_the_same_order()
    {
        var ring = InMemoryRingTransport.CreateRing(2);
        var models = new[] { ModelSpec.Resolve("mnist-mlp"), ModelSpec.Resolve("mnist-mlp") };
        var trainers = models.Select((m, r) => new ReplicaTrainer(m, new RingAllreduce(ring[r]), 100 * 1024)).ToArray();
        Assert.True(trainers[0].Buckets.Count > 1);
        var (x, y) = Data(models[0], 1);
        await Task.WhenAll(trainers.Select((t, r) => Task.Run(() => t.StepAsync(Rows(x, r * 6, 6), Rows(y, r * 6, 6), 12))));
        Assert.Equal(trainers[0].Buckets.Count, trainers[0].Operations);
        Assert.Equal(trainers[0].Operations, trainers[1].Operations);
        Assert.Equal(models[0].Store.Values, models[1].Store.Values);
    }
}
