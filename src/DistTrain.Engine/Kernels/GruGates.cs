using System.Runtime.CompilerServices;
using static DistTrain.Engine.Kernels.VectorMath;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// One GRU step's gate arithmetic in a single pass, Keras' gate order [z r h] and reset_after = true:
/// z = σ(x_z + r_z), r = σ(x_r + r_r), ĥ = tanh(x_h + r⊙r_h), h = z⊙h₋₁ + (1 − z)⊙ĥ, where x = xW + b_in and
/// r_· = h₋₁U + b_rec. For reset_after = false the caller has already put (r⊙h₋₁)U_h in r_h and passes zrDone.
/// One generic loop at every width; width Scalar is the twin the vector widths are tested against, and it runs the
/// last U mod width columns of each row.
/// </summary>
public static unsafe class GruGates
{
    /// <summary>The z and r gates only: zx[z, r] = σ(zx + zh) in place (B, 3U rows, first 2U columns).</summary>
    public static void ForwardZr(Span<float> zx, ReadOnlySpan<float> zh, int batch, int units, SimdWidth width = default)
    {
        int u = units;
        fixed (float* pzx = zx, pzh = zh)
        {
            for (int b = 0; b < batch; b++)
            {
                var row = new SigmoidSumRow(pzx + b * 3 * u, pzh + b * 3 * u);
                WidthDispatch.Run(ref row, 2 * u, width);
            }
        }
    }

    /// <summary>g = σ(g + r) in place.</summary>
    private readonly struct SigmoidSumRow(float* g, float* r) : IWidthLoop
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run<W, TV>(int from, int to) where W : IVectorOps<TV> where TV : struct
        {
            for (int j = from; j < to; j += W.Count) W.Store(Sigmoid<W, TV>(W.Add(W.Load(g + j), W.Load(r + j))), g + j);
        }
    }

    /// <param name="zx">(B, 3U): input pre-activations in; out [z r ĥ] (z, r already activated when zrDone)</param>
    /// <param name="zh">(B, 3U): recurrent pre-activations (with recurrent bias)</param>
    /// <param name="resetAfter">true: ĥ = tanh(x_h + r⊙zh_h); false: ĥ = tanh(x_h + zh_h), zh_h computed from r⊙h₋₁</param>
    public static void Forward(Span<float> zx, ReadOnlySpan<float> zh, ReadOnlySpan<float> hPrev, Span<float> h, int batch, int units,
        bool resetAfter, bool zrDone, SimdWidth width = default)
    {
        int u = units;
        fixed (float* pzx = zx, pzh = zh, php = hPrev, ph = h)
        {
            for (int b = 0; b < batch; b++)
            {
                var row = new ForwardRow(pzx + b * 3 * u, pzh + b * 3 * u, php + b * u, ph + b * u, u, resetAfter, zrDone);
                WidthDispatch.Run(ref row, u, width);
            }
        }
    }

    /// <summary>One batch row of <see cref="Forward"/>: gates g (3U) in/out, zh r (3U), h₋₁ and h (U each).</summary>
    private readonly struct ForwardRow(float* g, float* r, float* hp, float* h, int u, bool resetAfter, bool zrDone) : IWidthLoop
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run<W, TV>(int from, int to) where W : IVectorOps<TV> where TV : struct
        {
            var one = W.Splat(1f);
            for (int j = from; j < to; j += W.Count)
            {
                var z = W.Load(g + j);
                var rr = W.Load(g + u + j);
                if (!zrDone)
                {
                    z = Sigmoid<W, TV>(W.Add(z, W.Load(r + j)));
                    rr = Sigmoid<W, TV>(W.Add(rr, W.Load(r + u + j)));
                }
                var rh = W.Load(r + 2 * u + j);
                var hh = Tanh<W, TV>(W.Add(W.Load(g + 2 * u + j), resetAfter ? W.Mul(rr, rh) : rh));
                W.Store(z, g + j); W.Store(rr, g + u + j); W.Store(hh, g + 2 * u + j);
                W.Store(W.Add(W.Mul(z, W.Load(hp + j)), W.Mul(W.Sub(one, z), hh)), h + j);
            }
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
        int u = units;
        fixed (float* pg = gates, pzh = zh, php = hPrev, pdh = dh, pdx = dzx, pdr = dzh, pd = dhPrevDirect)
        {
            for (int b = 0; b < batch; b++)
            {
                var row = new BackwardRow(pg + b * 3 * u, pzh + b * 3 * u, php + b * u, pdh + b * u, pdx + b * 3 * u, pdr + b * 3 * u,
                    pd + b * u, u, resetAfter);
                WidthDispatch.Run(ref row, u, width);
            }
        }
    }

    /// <summary>One batch row of <see cref="Backward"/>: gates g and zh r (3U), h₋₁ and dh (U), out dzx x and dzh y (3U), direct (U).</summary>
    private readonly struct BackwardRow(float* g, float* r, float* hp, float* dh, float* x, float* y, float* direct, int u, bool resetAfter)
        : IWidthLoop
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run<W, TV>(int from, int to) where W : IVectorOps<TV> where TV : struct
        {
            var one = W.Splat(1f);
            for (int j = from; j < to; j += W.Count)
            {
                var z = W.Load(g + j); var rr = W.Load(g + u + j); var hh = W.Load(g + 2 * u + j);
                var dv = W.Load(dh + j);
                var dhh = Flush<W, TV>(W.Mul(W.Mul(dv, W.Sub(one, z)), W.Sub(one, W.Mul(hh, hh))));
                var dz = Flush<W, TV>(W.Mul(W.Mul(dv, W.Sub(W.Load(hp + j), hh)), W.Mul(z, W.Sub(one, z))));
                W.Store(dz, x + j); W.Store(dhh, x + 2 * u + j);
                W.Store(dz, y + j);
                if (resetAfter)
                {
                    var dr = Flush<W, TV>(W.Mul(W.Mul(dhh, W.Load(r + 2 * u + j)), W.Mul(rr, W.Sub(one, rr))));
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
}
