using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static DistTrain.Engine.Kernels.VectorMath;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// One GRU step's gate arithmetic in a single pass, Keras' gate order [z r h] and reset_after = true:
/// z = σ(x_z + r_z), r = σ(x_r + r_r), ĥ = tanh(x_h + r⊙r_h), h = z⊙h₋₁ + (1 − z)⊙ĥ, where x = xW + b_in and
/// r_· = h₋₁U + b_rec. For reset_after = false the caller has already put (r⊙h₋₁)U_h in r_h and passes zrDone.
/// One generic body at every width; width Scalar is the twin the vector widths are tested against, and it runs the
/// last U mod width columns of each row.
/// </summary>
public static unsafe class GruGates
{
    /// <summary>The z and r gates only: zx[z, r] = σ(zx + zh) in place (B, 3U rows, first 2U columns).</summary>
    public static void ForwardZr(Span<float> zx, ReadOnlySpan<float> zh, int batch, int units, SimdWidth width = default)
    {
        if (width == default) width = Simd.Best;
        int u = units, vec = Simd.VectorPart(2 * u, width);
        fixed (float* pzx = zx, pzh = zh)
        {
            for (int b = 0; b < batch; b++)
            {
                float* g = pzx + b * 3 * u, r = pzh + b * 3 * u;
                switch (width)
                {
                    case SimdWidth.V512: SigmoidSum<Ops512, Vector512<float>>(g, r, 0, vec); break;
                    case SimdWidth.V256: SigmoidSum<Ops256, Vector256<float>>(g, r, 0, vec); break;
                    case SimdWidth.V128: SigmoidSum<Ops128, Vector128<float>>(g, r, 0, vec); break;
                }
                SigmoidSum<Ops1, float>(g, r, vec, 2 * u);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SigmoidSum<W, TV>(float* g, float* r, int from, int to) where W : IVectorOps<TV> where TV : struct
    {
        for (int j = from; j < to; j += W.Count) W.Store(Sigmoid<W, TV>(W.Add(W.Load(g + j), W.Load(r + j))), g + j);
    }

    /// <param name="zx">(B, 3U): input pre-activations in; out [z r ĥ] (z, r already activated when zrDone)</param>
    /// <param name="zh">(B, 3U): recurrent pre-activations (with recurrent bias)</param>
    /// <param name="resetAfter">true: ĥ = tanh(x_h + r⊙zh_h); false: ĥ = tanh(x_h + zh_h), zh_h computed from r⊙h₋₁</param>
    public static void Forward(Span<float> zx, ReadOnlySpan<float> zh, ReadOnlySpan<float> hPrev, Span<float> h, int batch, int units,
        bool resetAfter, bool zrDone, SimdWidth width = default)
    {
        if (width == default) width = Simd.Best;
        int u = units, vec = Simd.VectorPart(u, width);
        var mode = new Mode(resetAfter, zrDone);
        fixed (float* pzx = zx, pzh = zh, php = hPrev, ph = h)
        {
            for (int b = 0; b < batch; b++)
            {
                var row = new Row(pzx + b * 3 * u, pzh + b * 3 * u, php + b * u, ph + b * u, null, null, u);
                switch (width)
                {
                    case SimdWidth.V512: ForwardColumns<Ops512, Vector512<float>>(row, mode, 0, vec); break;
                    case SimdWidth.V256: ForwardColumns<Ops256, Vector256<float>>(row, mode, 0, vec); break;
                    case SimdWidth.V128: ForwardColumns<Ops128, Vector128<float>>(row, mode, 0, vec); break;
                }
                ForwardColumns<Ops1, float>(row, mode, vec, u);
            }
        }
    }

    private readonly record struct Mode(bool ResetAfter, bool ZrDone);

    /// <summary>One batch row's pointers: gates (3U), zh (3U), h₋₁ (U), and h (U) forward or dh (U) backward;
    /// backward also dzx (3U), dzh (3U) and the direct dh₋₁ (U) in H.</summary>
    private readonly struct Row(float* g, float* r, float* hp, float* h, float* dzx, float* dzh, int u)
    {
        public readonly float* G = g, R = r, Hp = hp, H = h, Dzx = dzx, Dzh = dzh;
        public readonly int U = u;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ForwardColumns<W, TV>(in Row row, Mode mode, int from, int to) where W : IVectorOps<TV> where TV : struct
    {
        float* g = row.G, r = row.R;
        int u = row.U;
        var one = W.Splat(1f);
        for (int j = from; j < to; j += W.Count)
        {
            var z = W.Load(g + j);
            var rr = W.Load(g + u + j);
            if (!mode.ZrDone)
            {
                z = Sigmoid<W, TV>(W.Add(z, W.Load(r + j)));
                rr = Sigmoid<W, TV>(W.Add(rr, W.Load(r + u + j)));
            }
            var rh = W.Load(r + 2 * u + j);
            var hh = Tanh<W, TV>(W.Add(W.Load(g + 2 * u + j), mode.ResetAfter ? W.Mul(rr, rh) : rh));
            W.Store(z, g + j); W.Store(rr, g + u + j); W.Store(hh, g + 2 * u + j);
            W.Store(W.Add(W.Mul(z, W.Load(row.Hp + j)), W.Mul(W.Sub(one, z), hh)), row.H + j);
        }
    }

    /// <summary>
    /// Backward of <see cref="Forward"/> with reset_after = true: dĥ' = dh⊙(1−z)⊙(1−ĥ²), dz' = dh⊙(h₋₁ − ĥ)⊙z(1−z),
    /// dr' = dĥ'⊙r_h⊙r(1−r); dzx = [dz' dr' dĥ'], dzh = [dz' dr' dĥ'⊙r], and dh₋₁ (direct) = dh⊙z.
    /// With reset_after = false only dz', dĥ' and the direct term are written; the caller finishes dr'.
/// Every gradient is flushed below <see cref="VectorMath.FlushLimit"/>.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> gates, ReadOnlySpan<float> zh, ReadOnlySpan<float> hPrev, ReadOnlySpan<float> dh,
        Span<float> dzx, Span<float> dzh, Span<float> dhPrevDirect, int batch, int units, bool resetAfter, SimdWidth width = default)
    {
        if (width == default) width = Simd.Best;
        int u = units, vec = Simd.VectorPart(u, width);
        fixed (float* pg = gates, pzh = zh, php = hPrev, pdh = dh, pdx = dzx, pdr = dzh, pd = dhPrevDirect)
        {
            for (int b = 0; b < batch; b++)
            {
                var row = new Row(pg + b * 3 * u, pzh + b * 3 * u, php + b * u, pdh + b * u, pdx + b * 3 * u, pdr + b * 3 * u, u);
                float* direct = pd + b * u;
                switch (width)
                {
                    case SimdWidth.V512: BackwardColumns<Ops512, Vector512<float>>(row, direct, resetAfter, 0, vec); break;
                    case SimdWidth.V256: BackwardColumns<Ops256, Vector256<float>>(row, direct, resetAfter, 0, vec); break;
                    case SimdWidth.V128: BackwardColumns<Ops128, Vector128<float>>(row, direct, resetAfter, 0, vec); break;
                }
                BackwardColumns<Ops1, float>(row, direct, resetAfter, vec, u);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BackwardColumns<W, TV>(in Row row, float* direct, bool resetAfter, int from, int to)
        where W : IVectorOps<TV> where TV : struct
    {
        float* g = row.G, x = row.Dzx, y = row.Dzh;
        int u = row.U;
        var one = W.Splat(1f);
        for (int j = from; j < to; j += W.Count)
        {
            var z = W.Load(g + j); var rr = W.Load(g + u + j); var hh = W.Load(g + 2 * u + j);
            var dv = W.Load(row.H + j);
            var dhh = Flush<W, TV>(W.Mul(W.Mul(dv, W.Sub(one, z)), W.Sub(one, W.Mul(hh, hh))));
            var dz = Flush<W, TV>(W.Mul(W.Mul(dv, W.Sub(W.Load(row.Hp + j), hh)), W.Mul(z, W.Sub(one, z))));
            W.Store(dz, x + j); W.Store(dhh, x + 2 * u + j);
            W.Store(dz, y + j);
            if (resetAfter)
            {
                var dr = Flush<W, TV>(W.Mul(W.Mul(dhh, W.Load(row.R + 2 * u + j)), W.Mul(rr, W.Sub(one, rr))));
                W.Store(dr, x + u + j); W.Store(dr, y + u + j); W.Store(W.Mul(dhh, rr), y + 2 * u + j);
            }
            else
            {
                W.Store(dhh, y + 2 * u + j);
            }
            W.Store(Flush<W, TV>(W.Mul(dv, z)), direct + j);
        }
    }
}
