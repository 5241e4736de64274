using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static DistTrain.Engine.Kernels.VectorMath;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// One LSTM step's gate arithmetic for every row of the batch in a single pass, Keras' gate order [i f g o]:
/// i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o), c = f⊙c₋₁ + i⊙g, h = o⊙tanh(c), with z = zx + zh.
/// Rows are (B, 4U) for gates and (B, U) for states. One generic body runs at every width; width Scalar is the
/// twin the vector widths are tested against, and it runs the last U mod width columns of each row.
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
        int u = units, vec = Simd.VectorPart(u, width);
        fixed (float* pzx = zx, pzh = zh, pcp = cPrev, pc = c, ptc = tc, ph = h)
        {
            for (int b = 0; b < batch; b++)
            {
                var row = new Row(pzx + b * 4 * u, pzh + b * 4 * u, pcp + b * u, pc + b * u, ptc + b * u, ph + b * u, u);
                switch (width)
                {
                    case SimdWidth.V512: ForwardColumns<Ops512, Vector512<float>>(row, 0, vec); break;
                    case SimdWidth.V256: ForwardColumns<Ops256, Vector256<float>>(row, 0, vec); break;
                    case SimdWidth.V128: ForwardColumns<Ops128, Vector128<float>>(row, 0, vec); break;
                }
                ForwardColumns<Ops1, float>(row, vec, u);
            }
        }
    }

    /// <summary>One batch row's pointers; for forward (g, z, c₋₁, c, tanh c, h), for backward (gates, dz, c₋₁, dc, tanh c, dh).</summary>
    private readonly struct Row(float* g, float* z, float* cp, float* c, float* t, float* h, int u)
    {
        public readonly float* G = g, Z = z, Cp = cp, C = c, T = t, H = h;
        public readonly int U = u;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ForwardColumns<W, TV>(in Row r, int from, int to) where W : IVectorOps<TV> where TV : struct
    {
        float* g = r.G, z = r.Z;
        int u = r.U;
        for (int j = from; j < to; j += W.Count)
        {
            var i = Sigmoid<W, TV>(W.Add(W.Load(g + j), W.Load(z + j)));
            var f = Sigmoid<W, TV>(W.Add(W.Load(g + u + j), W.Load(z + u + j)));
            var gg = Tanh<W, TV>(W.Add(W.Load(g + 2 * u + j), W.Load(z + 2 * u + j)));
            var o = Sigmoid<W, TV>(W.Add(W.Load(g + 3 * u + j), W.Load(z + 3 * u + j)));
            var cn = W.Fma(f, W.Load(r.Cp + j), W.Mul(i, gg));
            var tn = Tanh<W, TV>(cn);
            W.Store(i, g + j); W.Store(f, g + u + j); W.Store(gg, g + 2 * u + j); W.Store(o, g + 3 * u + j);
            W.Store(cn, r.C + j); W.Store(tn, r.T + j); W.Store(W.Mul(o, tn), r.H + j);
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
        if (width == default) width = Simd.Best;
        int u = units, vec = Simd.VectorPart(u, width);
        fixed (float* pg = gates, pcp = cPrev, ptc = tc, pdh = dh, pdc = dc, pdz = dz)
        {
            for (int b = 0; b < batch; b++)
            {
                var row = new Row(pg + b * 4 * u, pdz + b * 4 * u, pcp + b * u, pdc + b * u, ptc + b * u, pdh + b * u, u);
                switch (width)
                {
                    case SimdWidth.V512: BackwardColumns<Ops512, Vector512<float>>(row, 0, vec); break;
                    case SimdWidth.V256: BackwardColumns<Ops256, Vector256<float>>(row, 0, vec); break;
                    case SimdWidth.V128: BackwardColumns<Ops128, Vector128<float>>(row, 0, vec); break;
                }
                BackwardColumns<Ops1, float>(row, vec, u);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BackwardColumns<W, TV>(in Row r, int from, int to) where W : IVectorOps<TV> where TV : struct
    {
        float* g = r.G, z = r.Z;
        int u = r.U;
        var one = W.Splat(1f);
        for (int j = from; j < to; j += W.Count)
        {
            var i = W.Load(g + j); var f = W.Load(g + u + j); var gg = W.Load(g + 2 * u + j); var o = W.Load(g + 3 * u + j);
            var tn = W.Load(r.T + j); var dhv = W.Load(r.H + j);
            var dct = W.Fma(W.Mul(dhv, o), W.Sub(one, W.Mul(tn, tn)), W.Load(r.C + j));
            W.Store(Flush<W, TV>(W.Mul(W.Mul(dct, gg), W.Mul(i, W.Sub(one, i)))), z + j);
            W.Store(Flush<W, TV>(W.Mul(W.Mul(dct, W.Load(r.Cp + j)), W.Mul(f, W.Sub(one, f)))), z + u + j);
            W.Store(Flush<W, TV>(W.Mul(W.Mul(dct, i), W.Sub(one, W.Mul(gg, gg)))), z + 2 * u + j);
            W.Store(Flush<W, TV>(W.Mul(W.Mul(dhv, tn), W.Mul(o, W.Sub(one, o)))), z + 3 * u + j);
            W.Store(Flush<W, TV>(W.Mul(dct, f)), r.C + j);
        }
    }
}
