using System.Security.Cryptography;
using System.Text;
using DistTrain.Engine.Callbacks;
using DistTrain.Engine.Layers;
using DistTrain.Engine.Losses;
using DistTrain.Engine.Model;
using DistTrain.Engine.Optimizers;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Tests.Model;

/// <summary>
/// A run saved mid-epoch and resumed from its file ends bit for bit where the uninterrupted run ends: the same
/// batches, the same dropout masks and augmentations, the same optimizer state, the same history.
/// </summary>
[Collection(EngineGlobals.Name)]
public class ResumeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-resume-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (Tensor X, Tensor Y) Data(int n, int[] shape, int classes, int seed)
    {
        var x = TestData.Tensor(seed, [n, .. shape]);
        var y = new Tensor(n);
        for (int i = 0; i < n; i++) y.Span[i] = i % classes;
        return (x, y);
    }

    private static Sequential Mlp()
    {
        var m = new Sequential([6], seed: 4);
        m.Add(new Dense(24, "relu")).Add(new BatchNormalization()).Add(new Dropout(0.4f, seed: 7)).Add(new Dense(3, "softmax"));
        m.Compile(new Adam(0.01f), new SparseCategoricalCrossentropy(), ["accuracy"]);
        return m;
    }

    private static Sequential Augmented()
    {
        var m = new Sequential([8, 8, 1], seed: 2);
        m.Add(new RandomRotation(0.1f, seed: 5)).Add(new RandomTranslation(0.2f, 0.2f, seed: 6)).Add(new Flatten())
            .Add(new Dense(16, "relu")).Add(new Dropout(0.3f, seed: 8)).Add(new Dense(4, "softmax"));
        m.Compile(new Sgd(0.05f, momentum: 0.9f), new SparseCategoricalCrossentropy(), ["accuracy"]);
        return m;
    }

    // Saves the model's file once, after batch `batch` of epoch `epoch`.
    private sealed class SaveAt(Sequential model, int epoch, int batch, string path) : Callback
    {
        public override void OnBatchEnd(BatchLogs logs)
        {
            if (logs.Epoch == epoch && logs.Batch == batch) model.Save(path);
        }
    }

    [Theory]
    [InlineData("mlp", 1, 3)]
    [InlineData("mlp", 0, 0)]
    [InlineData("augmented", 2, 5)]
    public void A_run_resumed_mid_epoch_ends_bitwise_equal_to_the_run_straight_through(string kind, int epoch, int batch)
    {
        Func<Sequential> make = kind == "mlp" ? Mlp : Augmented;
        var (x, y) = kind == "mlp" ? Data(200, [6], 3, 1) : Data(120, [8, 8, 1], 4, 2);
        var (vx, vy) = kind == "mlp" ? Data(40, [6], 3, 3) : Data(30, [8, 8, 1], 4, 4);
        string path = Path.Combine(_dir, $"{kind}.dtm");

        var straight = make();
        var full = straight.Fit(x, y, epochs: 4, batchSize: 16, validationData: (vx, vy), callbacks: [new SaveAt(straight, epoch, batch, path)]);

        var (resumed, training) = ModelFile.Read(path);
        Assert.NotNull(training);
        Assert.Equal((epoch, batch + 1), (training!.Epoch, training.Step));
        var rest = resumed.Fit(x, y, epochs: 4, batchSize: 16, validationData: (vx, vy), resumeFrom: training);

        Assert.True(straight.Store.Values.AsSpan().SequenceEqual(resumed.Store.Values), "parameters differ after the resume");
        Assert.True(straight.Store.State.AsSpan().SequenceEqual(resumed.Store.State), "batch-norm state differs after the resume");
        Assert.Equal(straight.Optimizer!.Iterations, resumed.Optimizer!.Iterations);
        foreach (var key in full.Values.Keys) Assert.Equal(full[key], rest[key]);
    }

    [Fact]
    public void A_saved_run_keeps_its_position_plan_history_and_random_states()
    {
        var (x, y) = Data(100, [6], 3, 1);
        var m = Mlp();
        m.Fit(x, y, epochs: 2, batchSize: 10);
        string path = Path.Combine(_dir, "done.dtm");
        m.Save(path);
        var t = ModelFile.Read(path).Training!;
        Assert.Equal((2, 0, 10, 10, 4, 2), (t.Epoch, t.Step, t.StepsPerEpoch, t.GlobalBatch, t.Seed, t.Epochs));
        Assert.Equal(2, t.History.Count);
        Assert.Equal(m.RandomStates, t.Random);
        Assert.Equal(new RandomState(0, 19, 24 * 10), t.Random[0]); // the last step (global step 19) drew 24 units × 10 samples
    }

    [Fact]
    public void A_checkpoint_refuses_another_batch_size_or_too_few_epochs_naming_both()
    {
        var (x, y) = Data(100, [6], 3, 1);
        var m = Mlp();
        m.Fit(x, y, epochs: 2, batchSize: 10);
        var t = m.TrainingState!;
        Assert.Contains("batches of 10", Assert.Throws<ArgumentException>(() => m.Fit(x, y, epochs: 4, batchSize: 20, resumeFrom: t)).Message);
        var (x2, y2) = Data(50, [6], 3, 1);
        Assert.Contains("other data", Assert.Throws<ArgumentException>(() => m.Fit(x2, y2, epochs: 4, batchSize: 10, resumeFrom: t)).Message);
        Assert.Contains("already at epoch 2", Assert.Throws<ArgumentException>(() => m.Fit(x, y, epochs: 1, batchSize: 10, resumeFrom: t)).Message);
        var job = t with { Sampler = TrainingCheckpoint.ShardSampler, WorldSize = 2 };
        Assert.Contains("distributed job (2 workers)", Assert.Throws<ArgumentException>(() => m.Fit(x, y, epochs: 4, batchSize: 10, resumeFrom: job)).Message);
    }

    [Fact]
    public void A_version_1_file_still_loads_without_a_training_state()
    {
        var m = Mlp();
        var (x, y) = Data(60, [6], 3, 1);
        m.Fit(x, y, epochs: 1, batchSize: 10);
        // Version 1's layout: as version 2 without the training-state block.
        using var body = new MemoryStream();
        using (var w = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
        {
            w.Write("DTMODEL\0"u8);
            w.Write(1u);
            var spec = Encoding.UTF8.GetBytes(ModelSpec.ToJson(m).ToJsonString());
            w.Write(spec.Length);
            w.Write(spec);
            foreach (var block in new[] { m.Store.Values, m.Store.State })
            {
                w.Write(block.Length);
                foreach (float v in block) w.Write(v);
            }
            w.Write(m.Optimizer!.Iterations);
            w.Write(m.Optimizer.Slots.Count);
            foreach (var s in m.Optimizer.Slots)
            {
                w.Write(s.Length);
                foreach (float v in s) w.Write(v);
            }
        }
        body.Write(SHA256.HashData(body.ToArray()));
        string path = Path.Combine(_dir, "v1.dtm");
        File.WriteAllBytes(path, body.ToArray());

        var (loaded, training) = ModelFile.Read(path);
        Assert.Null(training);
        Assert.True(m.Store.Values.AsSpan().SequenceEqual(loaded.Store.Values));
        Assert.Equal(m.Optimizer.Iterations, loaded.Optimizer!.Iterations);
    }

    [Fact]
    public void Random_streams_differ_by_stream_and_step_and_repeat_after_a_seek()
    {
        var r = new LayerRandom(3);
        r.Seek(5);
        var first = Enumerable.Range(0, 8).Select(_ => r.NextSingle()).ToArray();
        r.Seek(6);
        var next = Enumerable.Range(0, 8).Select(_ => r.NextSingle()).ToArray();
        r.UseStream(1);
        r.Seek(5);
        var other = Enumerable.Range(0, 8).Select(_ => r.NextSingle()).ToArray();
        r.UseStream(0);
        r.Seek(5);
        Assert.Equal(first, Enumerable.Range(0, 8).Select(_ => r.NextSingle()));
        Assert.NotEqual(first, next);
        Assert.NotEqual(first, other);
        Assert.All(first, v => Assert.InRange(v, 0f, 1f));
    }
}
