using DistTrain.Engine.Kernels;

namespace DistTrain.Engine.Tests.Kernels;

/// <summary>The fused Vector512 gate passes and the fused Adam against their scalar twins, at unit counts around 16.</summary>
public class SequenceKernelTests
{
    private static readonly int[] Units = [1, 7, 15, 16, 17, 33, 64];

    [Fact]
    public void Lstm_gates_match_scalar()
    {
        if (!Simd.IsSupported(SimdWidth.V512)) return; // the vector pass exists only for Vector512
        foreach (int u in Units)
        {
            int b = 3;
            var zx = TestData.Uniform(b * 4 * u, u, -3, 3);
            var zh = TestData.Uniform(b * 4 * u, u + 1, -3, 3);
            var cp = TestData.Uniform(b * u, u + 2);
            float[] Run(SimdWidth w, out float[] c, out float[] tc, out float[] h, out float[] dz, out float[] dc)
            {
                var g = (float[])zx.Clone();
                c = new float[b * u]; tc = new float[b * u]; h = new float[b * u];
                LstmGates.Forward(g, zh, cp, c, tc, h, b, u, w);
                dz = new float[b * 4 * u];
                dc = TestData.Uniform(b * u, 9);
                LstmGates.Backward(g, cp, tc, TestData.Uniform(b * u, 8), dc, dz, b, u, w);
                return g;
            }
            var g1 = Run(SimdWidth.Scalar, out var c1, out var t1, out var h1, out var d1, out var dc1);
            var g2 = Run(SimdWidth.V512, out var c2, out var t2, out var h2, out var d2, out var dc2);
            foreach (var (e, a, what) in new[] { (g1, g2, "gates"), (c1, c2, "c"), (t1, t2, "tanh c"), (h1, h2, "h"), (d1, d2, "dz"), (dc1, dc2, "dc") })
                TestData.AssertClose(e, a, 2e-6, 2e-5, $"LSTM {what} U={u}");
        }
    }

    [Fact]
    public void Gru_gates_match_scalar()
    {
        if (!Simd.IsSupported(SimdWidth.V512)) return;
        foreach (int u in Units)
        {
            int b = 2;
            var zx = TestData.Uniform(b * 3 * u, u, -3, 3);
            var zh = TestData.Uniform(b * 3 * u, u + 1, -3, 3);
            var hp = TestData.Uniform(b * u, u + 2);
            var dh = TestData.Uniform(b * u, u + 3);
            (float[], float[], float[], float[], float[]) Run(SimdWidth w)
            {
                var g = (float[])zx.Clone();
                var h = new float[b * u];
                GruGates.Forward(g, zh, hp, h, b, u, resetAfter: true, zrDone: false, w);
                var dzx = new float[b * 3 * u];
                var dzh = new float[b * 3 * u];
                var direct = new float[b * u];
                GruGates.Backward(g, zh, hp, dh, dzx, dzh, direct, b, u, resetAfter: true, w);
                return (g, h, dzx, dzh, direct);
            }
            var a = Run(SimdWidth.Scalar);
            var v = Run(SimdWidth.V512);
            TestData.AssertClose(a.Item1, v.Item1, 2e-6, 2e-5, $"GRU gates U={u}");
            TestData.AssertClose(a.Item2, v.Item2, 2e-6, 2e-5, $"GRU h U={u}");
            TestData.AssertClose(a.Item3, v.Item3, 2e-6, 2e-5, $"GRU dzx U={u}");
            TestData.AssertClose(a.Item4, v.Item4, 2e-6, 2e-5, $"GRU dzh U={u}");
            TestData.AssertClose(a.Item5, v.Item5, 2e-6, 2e-5, $"GRU dh direct U={u}");
        }
    }

    [Fact]
    public void Rnn_gates_match_scalar()
    {
        foreach (int n in TestData.EdgeLengths)
        {
            var zx = TestData.Uniform(n, n, -3, 3);
            var zh = TestData.Uniform(n, n + 1, -3, 3);
            var h1 = new float[n];
            var h2 = new float[n];
            RnnGates.Forward(zx, zh, h1, SimdWidth.Scalar);
            RnnGates.Forward(zx, zh, h2);
            TestData.AssertClose(h1, h2, 2e-6, 2e-5, $"RNN n={n}");
        }
    }

    [Fact]
    public void Adam_kernel_matches_scalar_at_every_width()
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
            var expected = Run(SimdWidth.Scalar);
            foreach (var w in new[] { SimdWidth.V128, SimdWidth.V256, SimdWidth.V512 }.Where(Simd.IsSupported))
                TestData.AssertClose(expected, Run(w), 1e-7, 1e-6, $"Adam n={n} {w}");
        }
    }

    [Fact]
    public void Rows_helpers_match_scalar()
    {
        foreach (int n in TestData.EdgeLengths)
        {
            var src = TestData.Uniform(n, n);
            var dst = TestData.Uniform(n, n + 1);
            var expected = dst.Select((v, i) => v + 0.5f * src[i]).ToArray();
            Rows.MultiplyAddInto(dst, src, 0.5f);
            TestData.AssertClose(expected, dst, 1e-6, 1e-6, $"rows n={n}");
            var copy = new float[n];
            Rows.Copy(src, copy);
            Assert.Equal(src, copy);
        }
    }
}
