using DistTrain.Engine.Kernels;
using DistTrain.Engine.Layers;

namespace DistTrain.Engine.Tests.Layers;

public class LayerBehaviourTests
{
    [Theory]
    [InlineData(Padding.Valid, 1, 1)]
    [InlineData(Padding.Same, 1, 3)]
    [InlineData(Padding.Valid, 2, 4)]
    [InlineData(Padding.Same, 2, 32)]
    public void Conv2D_matches_the_direct_convolution(Padding padding, int stride, int channels)
    {
        var (layer, store) = GradCheck.Build(() => new Conv2D(5, (3, 3), (stride, stride), padding), [9, 8, channels]);
        var conv = (Conv2D)layer;
        var x = TestData.Tensor(1, 3, 9, 8, channels);
        var y = conv.Forward(x, training: false);
        var g = ConvGeometry.Create(9, 8, channels, 3, 3, stride, stride, padding, "ref");
        var expected = new float[y.Length];
        ConvReference.Forward(expected, x.Span, conv.Parameters[0].Value, conv.Parameters[1].Value, 3, 5, g);
        TestData.AssertClose(expected, y.Span, 1e-5, 1e-4, $"conv {padding} stride {stride} C={channels}");
        _ = store;
    }

    /// <summary>
    /// Replicas draw their own dropout masks: stream 0 is the seed's own (what one process draws), and stream r gives
    /// other masks, so N replicas do not repeat one mask across the global batch. A residual block passes it on.
    /// </summary>
    [Fact]
    public void Each_random_stream_draws_its_own_dropout_masks_and_stream_0_is_the_seed()
    {
        float[] Masks(int? stream)
        {
            var (layer, _) = GradCheck.Build(() => new Residual([new Dense(16), new Dropout(0.5f, seed: 3)]), [16]);
            if (stream is { } s) layer.UseRandomStream(s);
            var x = TestData.Tensor(1, 8, 16);
            return [.. layer.Forward(x, training: true).Span, .. layer.Forward(x, training: true).Span];
        }
        Assert.Equal(Masks(null), Masks(0));
        Assert.Equal(Masks(1), Masks(1));
        Assert.NotEqual(Masks(0), Masks(1));
        Assert.NotEqual(Masks(1), Masks(2));
    }

    [Fact]
    public void Same_padding_output_size_follows_keras()
    {
        var g = ConvGeometry.Create(28, 28, 1, 3, 3, 2, 2, Padding.Same, "c");
        Assert.Equal((14, 14, 0, 0), (g.OH, g.OW, g.PadTop, g.PadLeft)); // TF puts the odd padding row at the bottom
        var v = ConvGeometry.Create(28, 28, 1, 3, 3, 1, 1, Padding.Valid, "c");
        Assert.Equal((26, 26), (v.OH, v.OW));
    }

    [Fact]
    public void Conv2D_refuses_a_window_larger_than_its_input()
    {
        var e = Assert.Throws<ArgumentException>(() => GradCheck.Build(() => new Conv2D(2, (5, 5)), [3, 3, 1]));
        Assert.Contains("5×5 window", e.Message);
        Assert.Contains("3×3", e.Message);
    }

    [Fact]
    public void Conv2D_refuses_a_flat_input_naming_its_shape()
    {
        var e = Assert.Throws<ArgumentException>(() => GradCheck.Build(() => new Conv2D(2, (3, 3)), [784]));
        Assert.Contains("(None, 784)", e.Message);
    }

    [Fact]
    public void Dropout_is_the_identity_at_inference_and_keeps_the_expectation_in_training()
    {
        var (layer, _) = GradCheck.Build(() => new Dropout(0.5f, seed: 1), [1000]);
        var x = new Tensor(4, 1000);
        x.Span.Fill(1);
        Assert.Same(x, layer.Forward(x, training: false));
        var y = layer.Forward(x, training: true).Span.ToArray();
        Assert.All(y, v => Assert.True(v == 0 || v == 2));
        Assert.InRange(y.Average(), 0.9, 1.1);
    }

    [Fact]
    public void BatchNormalization_normalises_in_training_and_updates_running_statistics()
    {
        var (layer, store) = GradCheck.Build(() => new BatchNormalization(momentum: 0.5f), [2]);
        store.Values.AsSpan().Clear();
        ((BatchNormalization)layer).Parameters[0].Value.Fill(1); // γ = 1, β = 0
        var x = new Tensor(new float[] { 1, 10, 3, 20, 5, 30 }, 3, 2);
        var y = layer.Forward(x, training: true).Span.ToArray();
        Assert.Equal(0, y[0] + y[2] + y[4], 4);
        Assert.Equal(-y[4], y[0], 4);
        // moving_mean = 0.5·0 + 0.5·mean = (1.5, 10); moving_variance = 0.5·1 + 0.5·var = (0.5 + 4/3, 0.5 + 100/3)
        var mean = layer.Parameters[2].Value.ToArray();
        var variance = layer.Parameters[3].Value.ToArray();
        Assert.Equal(1.5f, mean[0], 5);
        Assert.Equal(10f, mean[1], 5);
        Assert.Equal(0.5f + 4f / 3, variance[0], 4);
        Assert.Equal(0.5f + 100f / 3, variance[1], 3);
    }

    [Fact]
    public void Augmentation_is_the_identity_at_inference_and_changes_images_in_training()
    {
        var (layer, _) = GradCheck.Build(() => new RandomRotation(0.2f, seed: 3), [6, 6, 1]);
        var x = TestData.Tensor(2, 2, 6, 6, 1);
        Assert.Same(x, layer.Forward(x, training: false));
        var y = layer.Forward(x, training: true);
        Assert.NotEqual(x.Span.ToArray(), y.Span.ToArray());
    }

    [Fact]
    public void Augmentation_repeats_for_the_same_seed()
    {
        var x = TestData.Tensor(2, 2, 6, 6, 1);
        var a = GradCheck.Build(() => new RandomZoom(0.3f, seed: 8), [6, 6, 1]).Layer.Forward(x, true).Span.ToArray();
        var b = GradCheck.Build(() => new RandomZoom(0.3f, seed: 8), [6, 6, 1]).Layer.Forward(x, true).Span.ToArray();
        Assert.Equal(a, b);
    }

    [Fact]
    public void Residual_refuses_a_body_that_changes_the_shape()
    {
        var e = Assert.Throws<ArgumentException>(() => GradCheck.Build(() => new Residual([new Dense(3)]), [5]));
        Assert.Contains("(None, 5) to (None, 3)", e.Message);
    }

    [Fact]
    public void Softmax_is_stable_for_large_logits()
    {
        var row = new float[] { 1000, 1001, 999 };
        Activations.SoftmaxRow(row);
        Assert.All(row, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(1, row.Sum(), 5);
    }
}
