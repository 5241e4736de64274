using DistTrain.Engine.Layers;
using DistTrain.Engine.Losses;
using DistTrain.Engine.Tests.Layers;

namespace DistTrain.Engine.Tests.Losses;

/// <summary>Losses against finite differences (h = 1e-3, |Δ| ≤ 1e-3 + 1e-2·|g|) and against values by hand.</summary>
public class LossTests
{
    private const int B = 4, K = 5;

    private static float[] Probabilities(int seed, bool rowsSumToOne)
    {
        var p = TestData.Uniform(B * K, seed, 0.05f, 0.95f);
        if (rowsSumToOne)
            for (int b = 0; b < B; b++) Activations.SoftmaxRow(p.AsSpan(b * K, K));
        return p;
    }

    private static float[] Targets(Loss loss)
    {
        var rng = new Random(7);
        if (loss is SparseCategoricalCrossentropy) return Enumerable.Range(0, B).Select(_ => (float)rng.Next(K)).ToArray();
        if (loss is CategoricalCrossentropy)
        {
            var y = new float[B * K];
            for (int b = 0; b < B; b++) y[b * K + rng.Next(K)] = 1;
            return y;
        }
        return loss is BinaryCrossentropy ? Enumerable.Range(0, B * K).Select(_ => (float)rng.Next(2)).ToArray() : TestData.Uniform(B * K, 8);
    }

    public static IEnumerable<object[]> Cases() =>
    [
        [new MeanSquaredError()],
        [new BinaryCrossentropy(false)], [new BinaryCrossentropy(true)],
        [new CategoricalCrossentropy(false)], [new CategoricalCrossentropy(true)],
        [new SparseCategoricalCrossentropy(false)], [new SparseCategoricalCrossentropy(true)],
    ];

    [Theory]
    [MemberData(nameof(Cases))]
    public void Gradient_matches_finite_differences(Loss loss)
    {
        var pred = loss.FromLogits ? TestData.Uniform(B * K, 3, -3, 3) : Probabilities(3, loss is CategoricalCrossentropy or SparseCategoricalCrossentropy);
        var y = Targets(loss);
        var grad = new float[B * K];
        loss.Compute(pred, y, B, K, grad);
        for (int i = 0; i < pred.Length; i++)
        {
            float saved = pred[i];
            pred[i] = saved + 1e-3f;
            double fp = loss.Compute(pred, y, B, K, default);
            pred[i] = saved - 1e-3f;
            double fm = loss.Compute(pred, y, B, K, default);
            pred[i] = saved;
            GradCheck.Compare((fp - fm) / 2e-3, grad[i], 1e-3, 1e-2, $"{loss.Name} logits={loss.FromLogits} d[{i}]");
        }
    }

    [Theory]
    [InlineData("categorical_crossentropy", ActivationKind.Softmax)]
    [InlineData("sparse_categorical_crossentropy", ActivationKind.Softmax)]
    [InlineData("binary_crossentropy", ActivationKind.Sigmoid)]
    public void Fused_gradient_is_the_derivative_through_the_activation(string name, ActivationKind activation)
    {
        var loss = Loss.Create(name);
        Assert.True(loss.FusesWith(activation));
        var z = TestData.Uniform(B * K, 4, -2, 2);
        var y = Targets(loss);
        float[] Activate(float[] logits)
        {
            var p = (float[])logits.Clone();
            Activations.Forward(activation, p, K);
            return p;
        }
        var g = new float[B * K];
        loss.ComputeFused(Activate(z), y, B, K, g);
        for (int i = 0; i < z.Length; i++)
        {
            float saved = z[i];
            z[i] = saved + 1e-3f;
            double fp = loss.Compute(Activate(z), y, B, K, default);
            z[i] = saved - 1e-3f;
            double fm = loss.Compute(Activate(z), y, B, K, default);
            z[i] = saved;
            GradCheck.Compare((fp - fm) / 2e-3, g[i], 1e-3, 1e-2, $"{name} fused d[{i}]");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_larger_mean_scales_the_gradient_but_not_the_loss(Loss loss)
    {
        var pred = loss.FromLogits ? TestData.Uniform(B * K, 3, -3, 3) : Probabilities(3, loss is CategoricalCrossentropy or SparseCategoricalCrossentropy);
        var y = Targets(loss);
        var local = new float[B * K];
        var global = new float[B * K];
        double a = loss.Compute(pred, y, B, K, local);
        double b = loss.Compute(pred, y, B, K, global, meanOver: 3 * B);
        Assert.Equal(a, b, 12);
        for (int i = 0; i < local.Length; i++) Assert.Equal(local[i] / 3, global[i], 6);
    }

    [Fact]
    public void Values_match_the_definitions()
    {
        // −log(0.7) for one row of probabilities; MSE of (1, 3) against (0, 0) is 5.
        Assert.Equal(-Math.Log(0.7), new SparseCategoricalCrossentropy().Compute([0.2f, 0.7f, 0.1f], [1], 1, 3, default), 5);
        Assert.Equal(5, new MeanSquaredError().Compute([1, 3], [0, 0], 1, 2, default), 6);
        // Binary cross-entropy from logit 0 is log 2 for either label.
        Assert.Equal(Math.Log(2), new BinaryCrossentropy(true).Compute([0f], [1], 1, 1, default), 6);
    }

    // Keras 3's categorical cross-entropy from probabilities, in double: q = p/Σp, c = clip(q, 1e-7, 1 − 1e-7), −Σ y log c.
    private static double KerasCategorical(double[] p, double[] y)
    {
        double sum = p.Sum();
        return -p.Select((v, k) => y[k] * Math.Log(Math.Clamp(v / sum, 1e-7, 1 - 1e-7))).Sum();
    }

    public static IEnumerable<object[]> UnnormalisedRows() =>
    [
        [new[] { 0.2, 0.3, 0.1 }, new[] { 0.0, 1, 0 }],          // sums to 0.6: −log 0.5, where −log 0.3 ignores the sum
        [new[] { 2.0, 6, 2 }, new[] { 0.0, 1, 0 }],              // sums to 10: −log 0.6
        [new[] { 1e-9, 0.5, 0.5 }, new[] { 1.0, 0, 0 }],         // the true class clipped at ε
        [new[] { 0.1, 0.1, 0.2 }, new[] { 0.25, 0.75, 0 }],      // soft targets
        [new[] { 0.7, 1e-3, 3e-4 }, new[] { 0.5, 0.5, 0 }],      // small but unclipped entries
    ];

    [Theory]
    [MemberData(nameof(UnnormalisedRows))]
    public void Categorical_crossentropy_renormalises_probabilities_as_Keras_3_does(double[] p, double[] y)
    {
        var loss = new CategoricalCrossentropy();
        var pf = p.Select(v => (float)v).ToArray();
        var yf = y.Select(v => (float)v).ToArray();
        var grad = new float[p.Length];
        double got = loss.Compute(pf, yf, 1, p.Length, grad);
        double expected = KerasCategorical(pf.Select(v => (double)v).ToArray(), y);
        Assert.True(Math.Abs(got - expected) <= 1e-9 * Math.Max(1, expected), $"loss {got:R}, Keras 3 gives {expected:R}");
        // The gradient is the derivative of that formula (central differences in double, step 1e-4 relative).
        for (int j = 0; j < p.Length; j++)
        {
            double h = 1e-4 * p[j], plus, minus;
            var q = pf.Select(v => (double)v).ToArray();
            q[j] += h; plus = KerasCategorical(q, y);
            q[j] -= 2 * h; minus = KerasCategorical(q, y);
            GradCheck.Compare((plus - minus) / (2 * h), grad[j], 1e-4, 1e-3, $"row [{string.Join(", ", p)}] d[{j}]");
        }
    }

    [Fact]
    public void Categorical_crossentropy_of_a_row_that_sums_to_zero_is_NaN_as_in_Keras()
    {
        Assert.True(double.IsNaN(new CategoricalCrossentropy().Compute([0f, 0f], [1, 0], 1, 2, default)));
    }

    [Fact]
    public void Logit_losses_stay_finite_for_extreme_logits()
    {
        double l1 = new CategoricalCrossentropy(true).Compute([1000f, -1000f], [0, 1], 1, 2, default);
        double l2 = new BinaryCrossentropy(true).Compute([-500f], [1], 1, 1, default);
        Assert.Equal(2000, l1, 3);
        Assert.Equal(500, l2, 3);
    }

    [Fact]
    public void A_label_outside_the_classes_is_refused_by_name()
    {
        var e = Assert.Throws<ArgumentException>(() => new SparseCategoricalCrossentropy().Compute([0.5f, 0.5f], [2], 1, 2, new float[2]));
        Assert.Contains("label 2 of sample 0", e.Message);
    }

    [Fact]
    public void Unknown_loss_names_list_the_known_ones()
    {
        var e = Assert.Throws<ArgumentException>(() => Loss.Create("hinge"));
        Assert.Contains("binary_crossentropy", e.Message);
    }
}
