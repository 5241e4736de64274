using DistTrain.Engine.Optimizers;

namespace DistTrain.Engine.Tests.Optimizers;

/// <summary>Each optimizer's update against its Keras formula, evaluated in double over three steps (tolerance 1e-6).</summary>
public class OptimizerTests
{
    private static readonly double[] P0 = [0.5, -1.0, 2.0, 0.0];
    private static readonly double[][] Grads = [[0.1, -0.2, 0.3, 0.0], [-0.3, 0.1, 0.2, 0.5], [0.05, 0.05, -0.4, -0.1]];

    private static void Check(Optimizer opt, Func<double[], double[], int, double[]> reference)
    {
        var p = P0.Select(v => (float)v).ToArray();
        var expected = (double[])P0.Clone();
        for (int t = 0; t < Grads.Length; t++)
        {
            opt.Step(p, Grads[t].Select(v => (float)v).ToArray());
            expected = reference(expected, Grads[t], t + 1);
            for (int i = 0; i < p.Length; i++) Assert.Equal(expected[i], p[i], 5);
        }
        Assert.Equal(Grads.Length, opt.Iterations);
    }

    [Fact]
    public void Sgd()
    {
        Check(new Sgd(0.1f), (p, g, _) => p.Select((v, i) => v - 0.1 * g[i]).ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Sgd_with_momentum(bool nesterov)
    {
        var v = new double[4];
        Check(new Sgd(0.1f, 0.9f, nesterov), (p, g, _) =>
        {
            var r = new double[4];
            for (int i = 0; i < 4; i++)
            {
                v[i] = 0.9 * v[i] - 0.1 * g[i];
                r[i] = nesterov ? p[i] + 0.9 * v[i] - 0.1 * g[i] : p[i] + v[i];
            }
            return r;
        });
    }

    [Fact]
    public void Adagrad()
    {
        var a = Enumerable.Repeat(0.1, 4).ToArray();
        Check(new Adagrad(0.1f), (p, g, _) =>
        {
            var r = new double[4];
            for (int i = 0; i < 4; i++)
            {
                a[i] += g[i] * g[i];
                r[i] = p[i] - 0.1 * g[i] / Math.Sqrt(a[i] + 1e-7);
            }
            return r;
        });
    }

    /// <summary>
    /// Keras 3 puts ε inside the root: p −= lr·g/√(a + ε). From a zero accumulator with a gradient of 1e-4, that is
    /// lr·1e-4/√(1e-8 + 1e-7) ≈ 0.30·lr, where 1e-4/(√1e-8 + ε) would give about 1.0·lr; the edge cases must match the
    /// formula to 1e-6 relative.
    /// </summary>
    [Theory]
    [InlineData(1e-4, 0.0)]
    [InlineData(1e-5, 0.0)]
    [InlineData(0.0, 0.0)]
    [InlineData(3.0, 0.0)]
    [InlineData(1e-4, 0.1)]
    public void Adagrad_keeps_epsilon_inside_the_root(double gradient, double initialAccumulator)
    {
        var opt = new Adagrad(0.5f, (float)initialAccumulator, 1e-7f);
        var p = new float[] { 0f };
        opt.Step(p, [(float)gradient]);
        double a = initialAccumulator + (double)(float)gradient * (float)gradient;
        double expected = -0.5 * (float)gradient / Math.Sqrt(a + 1e-7);
        Assert.True(Math.Abs(p[0] - expected) <= 1e-6 * Math.Abs(expected) + 1e-12, $"update {p[0]:R}, Keras 3 gives {expected:R}");
    }

    [Theory]
    [InlineData(0f, false)]
    [InlineData(0.9f, true)]
    public void RmsProp(float momentum, bool centered)
    {
        double[] v = new double[4], m = new double[4], mg = new double[4];
        Check(new RmsProp(0.01f, 0.9f, momentum, 1e-7f, centered), (p, g, _) =>
        {
            var r = new double[4];
            for (int i = 0; i < 4; i++)
            {
                v[i] = 0.9 * v[i] + 0.1 * g[i] * g[i];
                double d = v[i] + 1e-7;
                if (centered)
                {
                    mg[i] = 0.9 * mg[i] + 0.1 * g[i];
                    d = v[i] - mg[i] * mg[i] + 1e-7;
                }
                double inc = 0.01 * g[i] / Math.Sqrt(d);
                if (momentum > 0)
                {
                    m[i] = momentum * m[i] + inc;
                    r[i] = p[i] - m[i];
                }
                else r[i] = p[i] - inc;
            }
            return r;
        });
    }

    [Fact]
    public void Adam()
    {
        double[] m = new double[4], v = new double[4];
        Check(new Adam(0.01f), (p, g, t) =>
        {
            var r = new double[4];
            double alpha = 0.01 * Math.Sqrt(1 - Math.Pow(0.999, t)) / (1 - Math.Pow(0.9, t));
            for (int i = 0; i < 4; i++)
            {
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
                r[i] = p[i] - alpha * m[i] / (Math.Sqrt(v[i]) + 1e-7);
            }
            return r;
        });
    }

    [Fact]
    public void Defaults_are_keras_defaults()
    {
        Assert.Equal(0.01f, new Sgd().LearningRate);
        var adam = (Adam)Optimizer.Create("adam");
        Assert.Equal((0.001f, 0.9f, 0.999f, 1e-7f), (adam.LearningRate, adam.Beta1, adam.Beta2, adam.Epsilon));
        Assert.Equal(0.001f, Optimizer.Create("rmsprop").LearningRate);
        Assert.Equal(0.1f, ((Adagrad)Optimizer.Create("adagrad")).InitialAccumulatorValue);
    }
}
