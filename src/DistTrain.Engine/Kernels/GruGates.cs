using System.Runtime.Intrinsics;
using static DistTrain.Engine.Kernels.VectorMath;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// One GRU step's gate arithmetic in a single pass, Keras' gate order [z r h] and reset_after = true:
/// z = σ(x_z + r_z), r = σ(x_r + r_r), ĥ = tanh(x_h + r⊙r_h), h = z⊙h₋₁ + (1 − z)⊙ĥ, where x = xW + b_in and
/// r_· = h₋₁U + b_rec. For reset_after = false the caller has already put (r⊙h₋₁)U_h in r_h and passes hOnly.
/// Width Scalar is the reference.
/// </summary>
public static unsafe class GruGates
{
    /// <summary>The z and r gates only: zx[z, r] = σ(zx + zh) in place (B, 3U rows, first 2U columns).</summary>
    public static void ForwardZr(Span<float> zx, ReadOnlySpan<float> zh, int batch, int units)
    {
        int u = units;
        for (int b = 0; b < batch; b++)
        for (int j = 0; j < 2 * u; j++)
            zx[b * 3 * u + j] = Sigmoid(zx[b * 3 * u + j] + zh[b * 3 * u + j]);
    }

    /// <param name="zx">(B, 3U): input pre-activations in; out [z r ĥ] (z, r already activated when zrDone)</param>
    /// <param name="zh">(B, 3U): recurrent pre-activations (with recurrent bias)</param>
    /// <param name="resetAfter">true: ĥ = tanh(x_h + r⊙zh_h); false: ĥ = tanh(x_h + zh_h), zh_h computed from r⊙h₋₁</param>
    public static void Forward(Span<float> zx, ReadOnlySpan<float> zh, ReadOnlySpan<float> hPrev, Span<float> h, int batch, int units,
        bool resetAfter, bool zrDone, SimdWidth width = default)
    {
        if (width == default) width = Simd.Best;
        int u = units, vec = width == SimdWidth.V512 && !zrDone ? u / 16 * 16 : 0;
        fixed (float* pzx = zx, pzh = zh, php = hPrev, ph = h)
        {
            for (int b = 0; b < batch; b++)
            {
                float* g = pzx + b * 3 * u, r = pzh + b * 3 * u, hp = php + b * u, hn = ph + b * u;
                int j = 0;
                for (; j < vec; j += 16)
                {
                    var z = Sigmoid(Vector512.Load(g + j) + Vector512.Load(r + j));
                    var rr = Sigmoid(Vector512.Load(g + u + j) + Vector512.Load(r + u + j));
                    var rh = Vector512.Load(r + 2 * u + j);
                    var hh = Tanh(Vector512.Load(g + 2 * u + j) + (resetAfter ? rr * rh : rh));
                    z.Store(g + j); rr.Store(g + u + j); hh.Store(g + 2 * u + j);
                    (z * Vector512.Load(hp + j) + (Vector512<float>.One - z) * hh).Store(hn + j);
                }
                for (; j < u; j++)
                {
                    float z = zrDone ? g[j] : Sigmoid(g[j] + r[j]);
                    float rr = zrDone ? g[u + j] : Sigmoid(g[u + j] + r[u + j]);
                    float hh = Tanh(g[2 * u + j] + (resetAfter ? rr * r[2 * u + j] : r[2 * u + j]));
                    g[j] = z; g[u + j] = rr; g[2 * u + j] = hh;
                    hn[j] = z * hp[j] + (1 - z) * hh;
                }
            }
        }
    }

    /// <summary>
    /// Backward of <see cref="Forward"/> with reset_after = true: dĥ' = dh⊙(1−z)⊙(1−ĥ²), dz' = dh⊙(h₋₁ − ĥ)⊙z(1−z),
    /// dr' = dĥ'⊙r_h⊙r(1−r); dzx = [dz' dr' dĥ'], dzh = [dz' dr' dĥ'⊙r], and dh₋₁ (direct) = dh⊙z.
    /// With reset_after = false only dz', dĥ' and the direct term are written; the caller finishes dr'.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> gates, ReadOnlySpan<float> zh, ReadOnlySpan<float> hPrev, ReadOnlySpan<float> dh,
        Span<float> dzx, Span<float> dzh, Span<float> dhPrevDirect, int batch, int units, bool resetAfter, SimdWidth width = default)
    {
        if (width == default) width = Simd.Best;
        int u = units, vec = width == SimdWidth.V512 && resetAfter ? u / 16 * 16 : 0;
        fixed (float* pg = gates, pzh = zh, php = hPrev, pdh = dh, pdx = dzx, pdr = dzh, pd = dhPrevDirect)
        {
            for (int b = 0; b < batch; b++)
            {
                float* g = pg + b * 3 * u, r = pzh + b * 3 * u, hp = php + b * u, d = pdh + b * u;
                float* x = pdx + b * 3 * u, y = pdr + b * 3 * u, direct = pd + b * u;
                int j = 0;
                var one = Vector512<float>.One;
                for (; j < vec; j += 16)
                {
                    var z = Vector512.Load(g + j); var rr = Vector512.Load(g + u + j); var hh = Vector512.Load(g + 2 * u + j);
                    var dv = Vector512.Load(d + j);
                    var dhh = dv * (one - z) * (one - hh * hh);
                    var dz = dv * (Vector512.Load(hp + j) - hh) * z * (one - z);
                    var dr = dhh * Vector512.Load(r + 2 * u + j) * rr * (one - rr);
                    dz.Store(x + j); dr.Store(x + u + j); dhh.Store(x + 2 * u + j);
                    dz.Store(y + j); dr.Store(y + u + j); (dhh * rr).Store(y + 2 * u + j);
                    (dv * z).Store(direct + j);
                }
                for (; j < u; j++)
                {
                    float z = g[j], rr = g[u + j], hh = g[2 * u + j], dv = d[j];
                    float dhh = dv * (1 - z) * (1 - hh * hh);
                    float dz = dv * (hp[j] - hh) * z * (1 - z);
                    x[j] = dz; x[2 * u + j] = dhh;
                    y[j] = dz; y[2 * u + j] = resetAfter ? dhh * rr : dhh;
                    if (resetAfter)
                    {
                        float dr = dhh * r[2 * u + j] * rr * (1 - rr);
                        x[u + j] = dr;
                        y[u + j] = dr;
                    }
                    direct[j] = dv * z;
                }
            }
        }
    }
}
