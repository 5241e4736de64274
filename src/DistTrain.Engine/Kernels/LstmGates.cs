using System.Runtime.Intrinsics;
using static DistTrain.Engine.Kernels.VectorMath;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// One LSTM step's gate arithmetic for every row of the batch in a single pass, Keras' gate order [i f g o]:
/// i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o), c = f⊙c₋₁ + i⊙g, h = o⊙tanh(c), with z = zx + zh.
/// Rows are (B, 4U) for gates and (B, U) for states. Width Scalar is the reference the vector pass is tested against.
/// </summary>
public static unsafe class LstmGates
{
    /// <param name="zx">(B, 4U): input pre-activations in, activated gates [i f g o] out</param>
    /// <param name="zh">(B, 4U): recurrent pre-activations</param>
    /// <param name="cPrev">(B, U)</param>
    /// <param name="c">(B, U) out</param>
    /// <param name="tc">(B, U) out: tanh(c), kept for backward</param>
    /// <param name="h">(B, U) out</param>
    public static void Forward(Span<float> zx, ReadOnlySpan<float> zh, ReadOnlySpan<float> cPrev, Span<float> c, Span<float> tc,
        Span<float> h, int batch, int units, SimdWidth width = default)
    {
        if (width == default) width = Simd.Best;
        int u = units, vec = width == SimdWidth.V512 ? u / 16 * 16 : 0;
        fixed (float* pzx = zx, pzh = zh, pcp = cPrev, pc = c, ptc = tc, ph = h)
        {
            for (int b = 0; b < batch; b++)
            {
                float* g = pzx + b * 4 * u, r = pzh + b * 4 * u;
                float* cp = pcp + b * u, cc = pc + b * u, t = ptc + b * u, hh = ph + b * u;
                int j = 0;
                for (; j < vec; j += 16)
                {
                    var i = Sigmoid(Vector512.Load(g + j) + Vector512.Load(r + j));
                    var f = Sigmoid(Vector512.Load(g + u + j) + Vector512.Load(r + u + j));
                    var gg = Tanh(Vector512.Load(g + 2 * u + j) + Vector512.Load(r + 2 * u + j));
                    var o = Sigmoid(Vector512.Load(g + 3 * u + j) + Vector512.Load(r + 3 * u + j));
                    var cn = f * Vector512.Load(cp + j) + i * gg;
                    var tn = Tanh(cn);
                    i.Store(g + j); f.Store(g + u + j); gg.Store(g + 2 * u + j); o.Store(g + 3 * u + j);
                    cn.Store(cc + j); tn.Store(t + j); (o * tn).Store(hh + j);
                }
                for (; j < u; j++)
                {
                    float i = Sigmoid(g[j] + r[j]), f = Sigmoid(g[u + j] + r[u + j]);
                    float gg = Tanh(g[2 * u + j] + r[2 * u + j]), o = Sigmoid(g[3 * u + j] + r[3 * u + j]);
                    float cn = f * cp[j] + i * gg, tn = Tanh(cn);
                    g[j] = i; g[u + j] = f; g[2 * u + j] = gg; g[3 * u + j] = o;
                    cc[j] = cn; t[j] = tn; hh[j] = o * tn;
                }
            }
        }
    }

    /// <summary>
    /// Backward of <see cref="Forward"/>: with dc_t = dc + dh⊙o⊙(1 − tanh²c), the gate gradients are
    /// dz_i = dc_t⊙g⊙i(1−i), dz_f = dc_t⊙c₋₁⊙f(1−f), dz_g = dc_t⊙i⊙(1−g²), dz_o = dh⊙tanh(c)⊙o(1−o), and dc₋₁ = dc_t⊙f.
    /// </summary>
    /// <param name="gates">(B, 4U) activated gates from forward</param>
    /// <param name="dh">(B, U) dL/dh_t</param>
    /// <param name="dc">(B, U): dL/dc_t from the step after in, dL/dc₋₁ out</param>
    /// <param name="dz">(B, 4U) out: dL/dz</param>
    public static void Backward(ReadOnlySpan<float> gates, ReadOnlySpan<float> cPrev, ReadOnlySpan<float> tc, ReadOnlySpan<float> dh,
        Span<float> dc, Span<float> dz, int batch, int units, SimdWidth width = default)
    {
        if (width == default) width = Simd.Best;
        int u = units, vec = width == SimdWidth.V512 ? u / 16 * 16 : 0;
        fixed (float* pg = gates, pcp = cPrev, ptc = tc, pdh = dh, pdc = dc, pdz = dz)
        {
            for (int b = 0; b < batch; b++)
            {
                float* g = pg + b * 4 * u, z = pdz + b * 4 * u;
                float* cp = pcp + b * u, t = ptc + b * u, d = pdh + b * u, dcc = pdc + b * u;
                int j = 0;
                var one = Vector512<float>.One;
                for (; j < vec; j += 16)
                {
                    var i = Vector512.Load(g + j); var f = Vector512.Load(g + u + j);
                    var gg = Vector512.Load(g + 2 * u + j); var o = Vector512.Load(g + 3 * u + j);
                    var tn = Vector512.Load(t + j); var dhv = Vector512.Load(d + j);
                    var dct = Vector512.Load(dcc + j) + dhv * o * (one - tn * tn);
                    (dct * gg * i * (one - i)).Store(z + j);
                    (dct * Vector512.Load(cp + j) * f * (one - f)).Store(z + u + j);
                    (dct * i * (one - gg * gg)).Store(z + 2 * u + j);
                    (dhv * tn * o * (one - o)).Store(z + 3 * u + j);
                    (dct * f).Store(dcc + j);
                }
                for (; j < u; j++)
                {
                    float i = g[j], f = g[u + j], gg = g[2 * u + j], o = g[3 * u + j], tn = t[j], dhv = d[j];
                    float dct = dcc[j] + dhv * o * (1 - tn * tn);
                    z[j] = dct * gg * i * (1 - i);
                    z[u + j] = dct * cp[j] * f * (1 - f);
                    z[2 * u + j] = dct * i * (1 - gg * gg);
                    z[3 * u + j] = dhv * tn * o * (1 - o);
                    dcc[j] = dct * f;
                }
            }
        }
    }
}
