using DistTrain.Engine.Kernels;

namespace DistTrain.Engine.Tests.Kernels;

/// <summary>
/// The fused recurrent gate passes, the fused Adam and the short-row helpers at every vector width this CPU runs,
/// against their scalar width, at unit counts and lengths around every vector width.
/// </summary>
public class SequenceKernelTests
{
    private static readonly int[] Units = [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 64];

    [Theory]
    [MemberData(nameof(TestData.VectorWidths), MemberType = typeof(TestData))]
    public void Lstm_gates_match_scalar(SimdWidth width)
    {
        foreach (int u in Units)
        {
            int b = 3;
            var zx = TestData.Uniform(b * 4 * u, u, -3, 3);
            var zh = TestData.Uniform(b * 4 * u, u + 1, -3, 3);
            var cp = TestData.Uniform(b * u, u + 2);
            float[][] Run(SimdWidth w)
            {
                var g = (float[])zx.Clone();
                float[] c = new float[b * u], tc = new float[b * u], h = new float[b * u];
                LstmGates.Forward(g, zh, cp, c, tc, h, b, u, w);
                var dz = new float[b * 4 * u];
                var dc = TestData.Uniform(b * u, 9);
                LstmGates.Backward(g, cp, tc, TestData.Uniform(b * u, 8), dc, dz, b, u, w);
                return [g, c, tc, h, dz, dc];
            }
            var expected = Run(SimdWidth.Scalar);
            var actual = Run(width);
            string[] what = ["gates", "c", "tanh c", "h", "dz", "dc"];
            for (int i = 0; i < what.Length; i++) TestData.AssertClose(expected[i], actual[i], 2e-6, 2e-5, $"LSTM {what[i]} U={u} {width}");
        }
    }

    [Theory]
    [MemberData(nameof(TestData.VectorWidths), MemberType = typeof(TestData))]
    public void Gru_gates_match_scalar(SimdWidth width)
    {
        foreach (bool resetAfter in new[] { true, false })
        foreach (int u in Units)
        {
            int b = 2;
            var zx = TestData.Uniform(b * 3 * u, u, -3, 3);
            var zh = TestData.Uniform(b * 3 * u, u + 1, -3, 3);
            var hp = TestData.Uniform(b * u, u + 2);
            var dh = TestData.Uniform(b * u, u + 3);
            float[][] Run(SimdWidth w)
            {
                var g = (float[])zx.Clone();
                var h = new float[b * u];
                if (!resetAfter) GruGates.ForwardZr(g, zh, b, u, w);
                GruGates.Forward(g, zh, hp, h, b, u, resetAfter, zrDone: !resetAfter, w);
                float[] dzx = new float[b * 3 * u], dzh = new float[b * 3 * u], direct = new float[b * u];
                GruGates.Backward(g, zh, hp, dh, dzx, dzh, direct, b, u, resetAfter, w);
                return [g, h, dzx, dzh, direct];
            }
            var expected = Run(SimdWidth.Scalar);
            var actual = Run(width);
            string[] what = ["gates", "h", "dzx", "dzh", "dh direct"];
            for (int i = 0; i < what.Length; i++)
                TestData.AssertClose(expected[i], actual[i], 2e-6, 2e-5, $"GRU {what[i]} U={u} resetAfter={resetAfter} {width}");
        }
    }

    [Theory]
    [MemberData(nameof(TestData.VectorWidths), MemberType = typeof(TestData))]
    public void Rnn_gates_match_scalar(SimdWidth width)
    {
        foreach (int n in TestData.EdgeLengths)
        {
            var zx = TestData.Uniform(n, n, -3, 3);
            var zh = TestData.Uniform(n, n + 1, -3, 3);
            var dh = TestData.Uniform(n, n + 2);
            float[] h1 = new float[n], h2 = new float[n], d1 = new float[n], d2 = new float[n];
            RnnGates.Forward(zx, zh, h1, SimdWidth.Scalar);
            RnnGates.Forward(zx, zh, h2, width);
            RnnGates.Backward(h1, dh, d1, SimdWidth.Scalar);
            RnnGates.Backward(h1, dh, d2, width);
            TestData.AssertClose(h1, h2, 2e-6, 2e-5, $"RNN h n={n} {width}");
            TestData.AssertClose(d1, d2, 1e-7, 1e-6, $"RNN dz n={n} {width}");
        }
    }

    [Fact]
    public void Backward_through_time_flushes_gradients_below_two_to_the_minus_80()
    {
        // One LSTM unit per width and the scalar tail: dc = 1e-30 (below the limit) and 1e-20 (above) carried back
        // through f = σ(0) = 0.5 with no new gradient (dh = 0): the first becomes exactly 0, the second halves.
        foreach (var width in Simd.Supported)
        {
            int u = 21, b = 1;
            var gates = new float[4 * u];
            Array.Fill(gates, 0.5f);
            var dc = new float[u];
            for (int j = 0; j < u; j++) dc[j] = j % 2 == 0 ? 1e-30f : 1e-20f;
            var dz = new float[4 * u];
            LstmGates.Backward(gates, new float[u], new float[u], new float[u], dc, dz, b, u, width);
            for (int j = 0; j < u; j++)
            {
                Assert.Equal(j % 2 == 0 ? 0f : 0.5e-20f, dc[j]);
                Assert.False(float.IsSubnormal(dz[j]), $"dz[{j}] = {dz[j]} is subnormal at {width}");
            }
        }
    }

    [Fact]
    public void Adam_and_flush_to_zero_zero_decayed_moments_at_every_width()
    {
        // Moments of a parameter with no gradient decay by β each step; below 2^-80 they become exactly 0 rather
        // than subnormal. Larger ones keep decaying normally.
        foreach (var width in Simd.Supported)
        {
            int n = 37;
            var m = new float[n];
            var v = new float[n];
            for (int i = 0; i < n; i++) { m[i] = i % 2 == 0 ? 1e-30f : 1e-10f; v[i] = i % 2 == 0 ? 1e-30f : 1e-10f; }
            var p = new float[n];
            AdamKernel.Update(p, new float[n], m, v, 0.01f, 0.9f, 0.999f, 1e-7f, width);
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(i % 2 == 0 ? 0f : 0.9f * 1e-10f, m[i], 1e-16f);
                Assert.Equal(i % 2 == 0 ? 0f : 0.999f * 1e-10f, v[i], 1e-16f);
            }
            var x = new float[n];
            for (int i = 0; i < n; i++) x[i] = i % 3 == 0 ? 1e-40f : i % 3 == 1 ? -1e-25f : 1e-20f;
            FlushToZero.Apply(x, width);
            for (int i = 0; i < n; i++) Assert.Equal(i % 3 == 2 ? 1e-20f : 0f, x[i]);
        }
    }

    [Theory]
    [MemberData(nameof(TestData.VectorWidths), MemberType = typeof(TestData))]
    public void Adam_kernel_matches_scalar(SimdWidth width)
    {
        foreach (int n in TestData.EdgeLengths)
        {
            var g = TestData.Uniform(n, n);
            float[] Run(SimdWidth w)
            {
                var p = TestData.Uniform(n, n + 1);
                var m = TestData.Uniform(n, n + 2);
                var v = TestData.Uniform(n, n + 3, 0, 1);
                AdamKernel.Update(p, g, m, v, 0.01f, 0.9f, 0.999f, 1e-7f, w);
                return [.. p, .. m, .. v];
            }
            TestData.AssertClose(Run(SimdWidth.Scalar), Run(width), 1e-7, 1e-6, $"Adam n={n} {width}");
        }
    }

    [Theory]
    [MemberData(nameof(TestData.VectorWidths), MemberType = typeof(TestData))]
    public void Rows_helpers_match_scalar(SimdWidth width)
    {
        foreach (int n in TestData.EdgeLengths)
        {
            var src = TestData.Uniform(n, n);
            var dst = TestData.Uniform(n, n + 1);
            var expected = dst.Select((v, i) => MathF.FusedMultiplyAdd(src[i], 0.5f, v)).ToArray();
            Rows.MultiplyAddInto(dst, src, 0.5f, width);
            Assert.Equal(expected, dst);
            var copy = new float[n];
            Rows.Copy(src, copy, width);
            Assert.Equal(src, copy);
        }
    }
}
