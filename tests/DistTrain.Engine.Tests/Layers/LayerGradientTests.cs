using DistTrain.Engine.Kernels;
using DistTrain.Engine.Layers;

namespace DistTrain.Engine.Tests.Layers;

/// <summary>
/// Finite-difference checks of every layer's backward (tolerances in <see cref="GradCheck"/>: central differences
/// with h = 1e-3 in float32, |Δ| ≤ 3e-3 + 2e-2·|g|).
/// </summary>
public class LayerGradientTests
{
    [Theory]
    [InlineData("linear")]
    [InlineData("relu")]
    [InlineData("leaky_relu")]
    [InlineData("sigmoid")]
    [InlineData("tanh")]
    [InlineData("softmax")]
    public void Dense(string activation) => GradCheck.Run(() => new Dense(5, activation), [7]);

    [Fact]
    public void Dense_on_a_rank_3_input_applies_to_the_last_axis() => GradCheck.Run(() => new Dense(4, "tanh"), [3, 6]);

    [Theory]
    [InlineData(Padding.Valid, 1, "relu")]
    [InlineData(Padding.Same, 1, "tanh")]
    [InlineData(Padding.Valid, 2, "linear")]
    [InlineData(Padding.Same, 2, "sigmoid")]
    public void Conv2D(Padding padding, int stride, string activation) =>
        GradCheck.Run(() => new Conv2D(4, (3, 3), (stride, stride), padding, activation), [7, 6, 3], batch: 2);

    [Fact]
    public void Conv2D_with_a_rectangular_kernel() => GradCheck.Run(() => new Conv2D(3, (2, 3), (1, 2), Padding.Same), [5, 7, 2], batch: 2);

    [Theory]
    [InlineData(Padding.Valid)]
    [InlineData(Padding.Same)]
    public void MaxPooling2D(Padding padding) => GradCheck.Run(() => new MaxPooling2D((2, 2), null, padding), [5, 5, 3]);

    [Fact]
    public void MaxPooling2D_with_overlapping_windows() => GradCheck.Run(() => new MaxPooling2D((3, 3), (2, 2)), [7, 7, 2]);

    [Theory]
    [InlineData(Padding.Valid)]
    [InlineData(Padding.Same)]
    public void AveragePooling2D(Padding padding) => GradCheck.Run(() => new AveragePooling2D((2, 2), null, padding), [5, 5, 3]);

    [Fact]
    public void Flatten() => GradCheck.Run(() => new Flatten(), [3, 4, 2]);

    [Fact]
    public void Dropout_in_training() => GradCheck.Run(() => new Dropout(0.4f, seed: 9), [20], rebuildEachTime: true);

    [Fact]
    public void BatchNormalization_in_training() => GradCheck.Run(() => new BatchNormalization(), [4, 3], batch: 5);

    [Fact]
    public void BatchNormalization_in_inference() => GradCheck.Run(() => new BatchNormalization(), [6], batch: 4, training: false);

    [Theory]
    [InlineData("relu")]
    [InlineData("softmax")]
    public void Activation(string activation) => GradCheck.Run(() => new ActivationLayer(activation), [9]);

    [Fact]
    public void Residual_block() =>
        GradCheck.Run(() => new Residual([new Conv2D(3, (3, 3), padding: Padding.Same, activation: "relu"), new BatchNormalization()]), [5, 5, 3], batch: 2);

    [Theory]
    [InlineData("constant")]
    [InlineData("reflect")]
    [InlineData("nearest")]
    [InlineData("wrap")]
    public void RandomTranslation(string fill) =>
        GradCheck.Run(() => new RandomTranslation(0.3f, 0.3f, fill, seed: 4), [8, 8, 2], rebuildEachTime: true);

    [Fact]
    public void RandomRotation() => GradCheck.Run(() => new RandomRotation(0.1f, "constant", seed: 5), [8, 8, 1], rebuildEachTime: true);

    [Fact]
    public void RandomZoom() => GradCheck.Run(() => new RandomZoom(0.3f, null, "reflect", seed: 6), [8, 8, 1], rebuildEachTime: true);
}
