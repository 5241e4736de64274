using DistTrain.Engine.Kernels;

namespace DistTrain.Engine.Tests.Kernels;

/// <summary>Every vector width of the engine's own element-wise operators against their scalar forms.</summary>
public class ElementwiseTests
{
    private static readonly SimdWidth[] Widths = new[] { SimdWidth.V128, SimdWidth.V256, SimdWidth.V512 }.Where(Simd.IsSupported).ToArray();

    private static void CheckBinary<T>() where T : IBinaryOperator
    {
        foreach (int n in TestData.EdgeLengths)
        {
            var y = TestData.Uniform(n, n + 1);
            var dy = TestData.Uniform(n, n + 2);
            var expected = new float[n];
            for (int i = 0; i < n; i++) expected[i] = T.Invoke(y[i], dy[i]);
            foreach (var w in Widths)
            {
                var actual = new float[n];
                Elementwise.Binary<T>(y, dy, actual, w);
                TestData.AssertClose(expected, actual, 1e-7, 1e-6, $"{typeof(T).Name} n={n} {w}");
            }
        }
    }

    [Fact] public void Relu_backward() => CheckBinary<ReluBackwardOperator>();
    [Fact] public void Leaky_relu_backward() => CheckBinary<LeakyReluBackwardOperator>();
    [Fact] public void Sigmoid_backward() => CheckBinary<SigmoidBackwardOperator>();
    [Fact] public void Tanh_backward() => CheckBinary<TanhBackwardOperator>();

    [Fact]
    public void Leaky_relu_forward()
    {
        foreach (int n in TestData.EdgeLengths)
        {
            var x = TestData.Uniform(n, n);
            var expected = x.Select(v => v > 0 ? v : 0.2f * v).ToArray();
            foreach (var w in Widths)
            {
                var actual = new float[n];
                Elementwise.Unary<LeakyReluOperator>(x, actual, w);
                Assert.Equal(expected, actual);
            }
        }
    }

    [Fact]
    public void Relu_backward_passes_gradient_only_where_output_is_positive()
    {
        var y = new float[] { 0, 1, -0f, 2 };
        var dy = new float[] { 5, 6, 7, 8 };
        Elementwise.Binary<ReluBackwardOperator>(y, dy, dy);
        Assert.Equal(new float[] { 0, 6, 0, 8 }, dy);
    }

    [Fact]
    public void Mismatched_lengths_are_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => Elementwise.Binary<ReluBackwardOperator>(new float[3], new float[4], new float[3]));
        Assert.Contains("3, 4 and 3", e.Message);
    }
}
