using System.Runtime.Intrinsics;

namespace DistTrain.Engine.Kernels;

/// <summary>
/// Max pooling over NHWC windows with argmax bookkeeping: y[n, oy, ox, c] = max over the window of x, and
/// argmax[...] = the flat index into x that won (the first one, on ties). Padded positions never win.
/// The vector path runs along the channels, which are contiguous in NHWC; <see cref="Reference"/> is its scalar twin.
/// </summary>
public static class MaxPool
{
    /// <param name="y">(n, OH, OW, C)</param>
    /// <param name="argmax">(n, OH, OW, C) flat indices into x</param>
    /// <param name="x">(n, H, W, C)</param>
    public static unsafe void Forward(Span<float> y, Span<int> argmax, ReadOnlySpan<float> x, int n, in ConvGeometry g, SimdWidth width = default)
    {
        if (width == default) width = Simd.Best;
        int vw = width == SimdWidth.Scalar ? 0 : (int)width;
        if (vw == 0 || g.C % vw != 0)
        {
            Reference(y, argmax, x, n, g);
            return;
        }
        fixed (float* px = x, py = y)
        fixed (int* pa = argmax)
        {
            switch (width)
            {
                case SimdWidth.V512: Pool<Ops512, Vector512<float>, Vector512<int>>(py, pa, px, n, g); break;
                case SimdWidth.V256: Pool<Ops256, Vector256<float>, Vector256<int>>(py, pa, px, n, g); break;
                default: Pool<Ops128, Vector128<float>, Vector128<int>>(py, pa, px, n, g); break;
            }
        }
    }

    // Per output pixel and strip of W.Count channels: keep the running max and, where a later pixel is strictly
    // larger, its index, so the first maximum wins ties as in the reference.
    private static unsafe void Pool<W, TV, TI>(float* y, int* argmax, float* x, int n, in ConvGeometry g)
        where W : IVectorOps<TV>, IVectorIndexOps<TV, TI> where TV : struct where TI : struct
    {
        int c = g.C, o = 0;
        for (int b = 0; b < n; b++)
        for (int oy = 0; oy < g.OH; oy++)
        for (int ox = 0; ox < g.OW; ox++, o += c)
        {
            int y0 = Math.Max(oy * g.SH - g.PadTop, 0), y1 = Math.Min(oy * g.SH - g.PadTop + g.KH, g.H);
            int x0 = Math.Max(ox * g.SW - g.PadLeft, 0), x1 = Math.Min(ox * g.SW - g.PadLeft + g.KW, g.W);
            int first = ((b * g.H + y0) * g.W + x0) * c;
            for (int ch = 0; ch < c; ch += W.Count)
            {
                var best = W.Load(x + first + ch);
                var at = W.AddIndex(W.Lanes, W.SplatIndex(first + ch));
                for (int iy = y0; iy < y1; iy++)
                for (int ix = x0; ix < x1; ix++)
                {
                    int i = ((b * g.H + iy) * g.W + ix) * c + ch;
                    if (i == first + ch) continue;
                    W.KeepGreater(W.Load(x + i), W.AddIndex(W.Lanes, W.SplatIndex(i)), ref best, ref at);
                }
                W.Store(best, y + o + ch);
                W.StoreIndex(at, argmax + o + ch);
            }
        }
    }

    /// <summary>The scalar definition, one channel at a time.</summary>
    public static void Reference(Span<float> y, Span<int> argmax, ReadOnlySpan<float> x, int n, in ConvGeometry g)
    {
        int c = g.C, o = 0;
        for (int b = 0; b < n; b++)
        for (int oy = 0; oy < g.OH; oy++)
        for (int ox = 0; ox < g.OW; ox++, o += c)
        for (int ch = 0; ch < c; ch++)
        {
            float best = float.NegativeInfinity;
            int at = -1;
            for (int ky = 0; ky < g.KH; ky++)
            for (int kx = 0; kx < g.KW; kx++)
            {
                int iy = oy * g.SH + ky - g.PadTop, ix = ox * g.SW + kx - g.PadLeft;
                if ((uint)iy >= (uint)g.H || (uint)ix >= (uint)g.W) continue;
                int i = ((b * g.H + iy) * g.W + ix) * c + ch;
                if (at < 0 || x[i] > best)
                {
                    best = x[i];
                    at = i;
                }
            }
            y[o + ch] = best;
            argmax[o + ch] = at;
        }
    }

    /// <summary>dx[argmax[i]] += dy[i]; dx must be zeroed by the caller.</summary>
    public static void Backward(Span<float> dx, ReadOnlySpan<int> argmax, ReadOnlySpan<float> dy)
    {
        for (int i = 0; i < dy.Length; i++) dx[argmax[i]] += dy[i];
    }
}
