using DistTrain.Engine.Callbacks;
using DistTrain.Engine.Layers;
using DistTrain.Engine.Losses;
using DistTrain.Engine.Model;
using DistTrain.Engine.Optimizers;
using DistTrain.Engine.Spec;

namespace DistTrain.Engine.Tests.Model;

[Collection(EngineGlobals.Name)]
public class SequentialTests
{
    // Three Gaussian blobs in 4-D: separable, so a small network must learn them.
    private static (Tensor X, Tensor Y) Blobs(int n, int seed)
    {
        var rng = new Random(seed);
        var x = new Tensor(n, 4);
        var y = new Tensor(n);
        for (int i = 0; i < n; i++)
        {
            int c = rng.Next(3);
            y.Span[i] = c;
            for (int d = 0; d < 4; d++) x.Span[i * 4 + d] = (d == c ? 2.5f : 0) + (float)(rng.NextDouble() - 0.5);
        }
        return (x, y);
    }

    private static Sequential Classifier(int seed = 1)
    {
        var m = new Sequential([4], seed);
        m.Add(new Dense(16, "relu")).Add(new Dense(3, "softmax"));
        m.Compile(new Adam(0.01f), new SparseCategoricalCrossentropy(), ["accuracy"]);
        return m;
    }

    [Fact]
    public void Fit_learns_a_separable_problem_and_reports_history()
    {
        var (x, y) = Blobs(600, 1);
        var m = Classifier();
        var h = m.Fit(x, y, epochs: 10, batchSize: 32, validationSplit: 0.2);
        Assert.Equal(10, h.Epochs);
        Assert.True(h["loss"][^1] < h["loss"][0], "training loss should fall");
        Assert.True(h["val_accuracy"][^1] > 0.95, $"val accuracy {h["val_accuracy"][^1]}");
        var (tx, ty) = Blobs(300, 2);
        Assert.True(m.Evaluate(tx, ty).Accuracy > 0.95);
    }

    [Fact]
    public void The_same_seed_trains_to_the_same_weights()
    {
        var (x, y) = Blobs(200, 3);
        var a = Classifier(5);
        var b = Classifier(5);
        a.Fit(x, y, epochs: 2);
        b.Fit(x, y, epochs: 2);
        Assert.Equal(a.Store.Values, b.Store.Values);
        Assert.NotEqual(Classifier(6).Store.Values, Classifier(5).Store.Values);
    }

    [Fact]
    public void Predict_returns_probabilities_for_every_sample()
    {
        var (x, _) = Blobs(70, 4);
        var p = Classifier().Predict(x, batchSize: 32);
        Assert.Equal([70, 3], p.Shape);
        for (int i = 0; i < 70; i++) Assert.Equal(1, p.Sample(i).ToArray().Sum(), 4);
    }

    [Fact]
    public void Save_then_load_gives_identical_evaluation_and_keeps_training_identically()
    {
        var (x, y) = Blobs(300, 5);
        var m = Classifier();
        m.Fit(x, y, epochs: 2);
        string path = Path.Combine(Path.GetTempPath(), $"dt-{Guid.NewGuid():N}.dtm");
        try
        {
            m.Save(path);
            var loaded = Sequential.Load(path);
            Assert.Equal(m.Evaluate(x, y), loaded.Evaluate(x, y));
            Assert.Equal(m.Optimizer!.Iterations, loaded.Optimizer!.Iterations);
            // Optimizer state came along: one more identical step keeps the weights identical.
            m.TrainOnBatch(x, y);
            loaded.TrainOnBatch(x, y);
            Assert.Equal(m.Store.Values, loaded.Store.Values);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Corrupt_truncated_and_foreign_model_files_are_refused()
    {
        var m = Classifier();
        string path = Path.Combine(Path.GetTempPath(), $"dt-{Guid.NewGuid():N}.dtm");
        try
        {
            m.Save(path);
            var bytes = File.ReadAllBytes(path);
            bytes[bytes.Length / 2] ^= 0x40;
            File.WriteAllBytes(path, bytes);
            Assert.Contains("checksum mismatch", Assert.Throws<InvalidDataException>(() => Sequential.Load(path)).Message);

            m.Save(path);
            File.WriteAllBytes(path, File.ReadAllBytes(path)[..100]);
            Assert.Contains("checksum", Assert.Throws<InvalidDataException>(() => Sequential.Load(path)).Message);

            File.WriteAllText(path, "{ \"not\": \"a model\" } and some more text to pass the length check");
            Assert.Contains("bad magic", Assert.Throws<InvalidDataException>(() => Sequential.Load(path)).Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Early_stopping_stops_and_restores_the_best_weights()
    {
        var (x, y) = Blobs(300, 6);
        var m = Classifier();
        // A huge learning rate makes the validation loss get worse, so training must stop early.
        m.Compile(new Sgd(50f), new SparseCategoricalCrossentropy(), ["accuracy"]);
        var stop = new EarlyStopping("val_loss", patience: 1, restoreBestWeights: true);
        var h = m.Fit(x, y, epochs: 30, validationSplit: 0.3, callbacks: [stop]);
        Assert.True(h.Epochs < 30, "training should have stopped early");
        Assert.True(stop.StoppedEpoch > 0);
        double best = h["val_loss"].Min();
        var (vx, vy) = (Slice(x, 210, 300), Slice(y, 210, 300));
        Assert.Equal(best, m.Evaluate(vx, vy).Loss, 3);
    }

    private static Tensor Slice(Tensor t, int from, int to)
    {
        var r = new Tensor([to - from, .. t.Shape[1..]]);
        t.Span.Slice(from * t.SampleSize, (to - from) * t.SampleSize).CopyTo(r.Span);
        return r;
    }

    [Fact]
    public void Early_stopping_names_a_quantity_fit_does_not_log()
    {
        var (x, y) = Blobs(50, 7);
        var e = Assert.Throws<InvalidOperationException>(() => Classifier().Fit(x, y, epochs: 2, callbacks: [new EarlyStopping("val_loss")]));
        Assert.Contains("'val_loss'", e.Message);
        Assert.Contains("loss, accuracy", e.Message);
    }

    [Fact]
    public void L2_regularisation_adds_its_penalty_and_gradient()
    {
        var m = new Sequential([3], 1);
        m.Add(new Dense(2, kernelRegularizer: Regularizer.Ridge(0.5f), useBias: false));
        m.Compile(new Sgd(), new MeanSquaredError());
        var x = new Tensor(1, 3);
        var y = new Tensor(1, 2);
        var (loss, _, _) = m.ComputeGradients(x, y);
        var w = m.Store.Values;
        Assert.Equal(0.5 * w.Sum(v => (double)v * v), loss, 5);           // zero input: only the penalty remains
        for (int i = 0; i < w.Length; i++) Assert.Equal(2 * 0.5f * w[i], m.Store.Gradients[i], 5);
    }

    [Fact]
    public void Summary_lists_keras_parameter_counts_for_the_mnist_cnn()
    {
        var s = ModelSpec.Resolve("mnist-cnn").Summary();
        Assert.Contains("(None, 26, 26, 32)", s);
        Assert.Contains("320", s);
        Assert.Contains("18,496", s);
        Assert.Contains("102,464", s);
        Assert.Contains("Total params: 121,930", s);
    }

    [Fact]
    public void Wrongly_shaped_data_is_refused_with_both_shapes()
    {
        var m = Classifier();
        var e = Assert.Throws<ArgumentException>(() => m.Fit(new Tensor(5, 3), new Tensor(5), 1));
        Assert.Contains("(5, 3)", e.Message);
        Assert.Contains("(None, 4)", e.Message);
        Assert.Contains("5 inputs but 4 targets", Assert.Throws<ArgumentException>(() => m.Fit(new Tensor(5, 4), new Tensor(4), 1)).Message);
    }

    [Fact]
    public void Training_steps_allocate_nothing_once_warm()
    {
        var m = ModelSpec.Resolve("mnist-cnn");
        var x = TestData.Tensor(1, 16, 28, 28, 1);
        var y = new Tensor(16);
        for (int i = 0; i < 3; i++) m.TrainOnBatch(x, y);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 3; i++) m.TrainOnBatch(x, y);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 4096, $"three warm steps allocated {allocated} bytes");
    }
}
