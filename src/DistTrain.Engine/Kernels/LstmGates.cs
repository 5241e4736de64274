using System.Runtime.CompilerServices;
using static DistTrain.Engine.Kernels.VectorMath;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// One LSTM step's gate arithmetic for every row of the batch in a single pass, Keras' gate order [i f g o]:
/// i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o), c = f⊙c₋₁ + i⊙g, h = o⊙tanh(c), with z = zx + zh.
/// Rows are (B, 4U) for gates and (B, U) for states. One generic loop runs at every width (<see cref="WidthDispatch"/>);
/// width Scalar is the twin the vector widths are tested against, and it runs the last U mod width columns of each row.
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
        int u = units;
        fixed (float* pzx = zx, pzh = zh, pcp = cPrev, pc = c, ptc = tc, ph = h)
        {
            for (int b = 0; b < batch; b++)
            {
                var row = new ForwardRow(pzx + b * 4 * u, pzh + b * 4 * u, pcp + b * u, pc + b * u, ptc + b * u, ph + b * u, u);
                WidthDispatch.Run(ref row, u, width);
            }
        }
    }

    /// <summary>One batch row of <see cref="Forward"/>: gates g (4U) in/out, zh (4U), c₋₁, c, tanh c and h (U each).</summary>
    private readonly struct ForwardRow(float* g, float* z, float* cp, float* c, float* t, float* h, int u) : IWidthLoop
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run<W, TV>(int from, int to) where W : IVectorOps<TV> where TV : struct
        {
            for (int j = from; j < to; j += W.Count)
            {
                var i = Sigmoid<W, TV>(W.Add(W.Load(g + j), W.Load(z + j)));
                var f = Sigmoid<W, TV>(W.Add(W.Load(g + u + j), W.Load(z + u + j)));
                var gg = Tanh<W, TV>(W.Add(W.Load(g + 2 * u + j), W.Load(z + 2 * u + j)));
                var o = Sigmoid<W, TV>(W.Add(W.Load(g + 3 * u + j), W.Load(z + 3 * u + j)));
                var cn = W.Fma(f, W.Load(cp + j), W.Mul(i, gg));
                var tn = Tanh<W, TV>(cn);
                W.Store(i, g + j); W.Store(f, g + u + j); W.Store(gg, g + 2 * u + j); W.Store(o, g + 3 * u + j);
                W.Store(cn, c + j); W.Store(tn, t + j); W.Store(W.Mul(o, tn), h + j);
            }
        }
    }

    /// <summary>
    /// Backward of <see cref="Forward"/>: with dc_t = dc + dh⊙o⊙(1 − tanh²c), the gate gradients are
    /// dz_i = dc_t⊙g⊙i(1−i), dz_f = dc_t⊙c₋₁⊙f(1−f), dz_g = dc_t⊙i⊙(1−g²), dz_o = dh⊙tanh(c)⊙o(1−o), and dc₋₁ = dc_t⊙f.
    /// dz and dc₋₁ are flushed below <see cref="VectorMath.FlushLimit"/>, as every backward-through-time kernel is.
    /// </summary>
    /// <param name="gates">(B, 4U) activated gates from forward</param>
    /// <param name="dh">(B, U) dL/dh_t</param>
    /// <param name="dc">(B, U): dL/dc_t from the step after in, dL/dc₋₁ out</param>
    /// <param name="dz">(B, 4U) out: dL/dz</param>
    public static void Backward(ReadOnlySpan<float> gates, ReadOnlySpan<float> cPrev, ReadOnlySpan<float> tc, ReadOnlySpan<float> dh,
        Span<float> dc, Span<float> dz, int batch, int units, SimdWidth width = default)
    {
        int u = units;
        fixed (float* pg = gates, pcp = cPrev, ptc = tc, pdh = dh, pdc = dc, pdz = dz)
        {
            for (int b = 0; b < batch; b++)
            {
                var row = new BackwardRow(pg + b * 4 * u, pdz + b * 4 * u, pcp + b * u, pdc + b * u, ptc + b * u, pdh + b * u, u);
                WidthDispatch.Run(ref row, u, width);
            }
        }
    }

    /// <summary>One batch row of <see cref="Backward"/>: gates g (4U), dz (4U) out, c₋₁, dc in/out, tanh c and dh (U each).</summary>
    private readonly struct BackwardRow(float* g, float* z, float* cp, float* dc, float* t, float* dh, int u) : IWidthLoop
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run<W, TV>(int from, int to) where W : IVectorOps<TV> where TV : struct
        {
            var one = W.Splat(1f);
            for (int j = from; j < to; j += W.Count)
            {
                var i = W.Load(g + j); var f = W.Load(g + u + j); var gg = W.Load(g + 2 * u + j); var o = W.Load(g + 3 * u + j);
                var tn = W.Load(t + j); var dhv = W.Load(dh + j);
                var dct = W.Fma(W.Mul(dhv, o), W.Sub(one, W.Mul(tn, tn)), W.Load(dc + j));
                W.Store(Flush<W, TV>(W.Mul(W.Mul(dct, gg), W.Mul(i, W.Sub(one, i)))), z + j);
                W.Store(Flush<W, TV>(W.Mul(W.Mul(dct, W.Load(cp + j)), W.Mul(f, W.Sub(one, f)))), z + u + j);
                W.Store(Flush<W, TV>(W.Mul(W.Mul(dct, i), W.Sub(one, W.Mul(gg, gg)))), z + 2 * u + j);
                W.Store(Flush<W, TV>(W.Mul(W.Mul(dhv, tn), W.Mul(o, W.Sub(one, o)))), z + 3 * u + j);
                W.Store(Flush<W, TV>(W.Mul(dct, f)), dc + j);
            }
        }
    }
}
