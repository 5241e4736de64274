using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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
    public static void Forward(Span<float> y, Span<int> argmax, ReadOnlySpan<float> x, int n, in ConvGeometry g, SimdWidth width = default)
    {
        if (width == default) width = Simd.Best;
        int vw = width == SimdWidth.Scalar ? 0 : (int)width;
        if (vw == 0 || g.C % vw != 0)
        {
            Reference(y, argmax, x, n, g);
            return;
        }
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        ref int pa = ref MemoryMarshal.GetReference(argmax);
        int c = g.C, o = 0;
        for (int b = 0; b < n; b++)
        for (int oy = 0; oy < g.OH; oy++)
        for (int ox = 0; ox < g.OW; ox++, o += c)
        {
            int y0 = Math.Max(oy * g.SH - g.PadTop, 0), y1 = Math.Min(oy * g.SH - g.PadTop + g.KH, g.H);
            int x0 = Math.Max(ox * g.SW - g.PadLeft, 0), x1 = Math.Min(ox * g.SW - g.PadLeft + g.KW, g.W);
            int first = ((b * g.H + y0) * g.W + x0) * c;
            for (int ch = 0; ch < c; ch += vw)
            {
                switch (width)
                {
                    case SimdWidth.V512: Window512(ref px, ref py, ref pa, o + ch, first + ch, y0, y1, x0, x1, b, g); break;
                    case SimdWidth.V256: Window256(ref px, ref py, ref pa, o + ch, first + ch, y0, y1, x0, x1, b, g); break;
                    default: Window128(ref px, ref py, ref pa, o + ch, first + ch, y0, y1, x0, x1, b, g); break;
                }
            }
        }
    }

    // One output pixel, 16 channels: keep the running max and, where a later pixel is strictly larger, its index.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Window512(ref float px, ref float py, ref int pa, int o, int first, int y0, int y1, int x0, int x1, int b, in ConvGeometry g)
    {
        var lanes = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        var best = Vector512.LoadUnsafe(ref px, (nuint)first);
        var at = lanes + Vector512.Create(first);
        int ch = first - ((b * g.H + y0) * g.W + x0) * g.C;
        for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++)
        {
            int i = ((b * g.H + iy) * g.W + ix) * g.C + ch;
            if (i == first) continue;
            var v = Vector512.LoadUnsafe(ref px, (nuint)i);
            var more = Vector512.GreaterThan(v, best);
            best = Vector512.ConditionalSelect(more, v, best);
            at = Vector512.ConditionalSelect(more.AsInt32(), lanes + Vector512.Create(i), at);
        }
        best.StoreUnsafe(ref py, (nuint)o);
        at.StoreUnsafe(ref pa, (nuint)o);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Window256(ref float px, ref float py, ref int pa, int o, int first, int y0, int y1, int x0, int x1, int b, in ConvGeometry g)
    {
        var lanes = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        var best = Vector256.LoadUnsafe(ref px, (nuint)first);
        var at = lanes + Vector256.Create(first);
        int ch = first - ((b * g.H + y0) * g.W + x0) * g.C;
        for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++)
        {
            int i = ((b * g.H + iy) * g.W + ix) * g.C + ch;
            if (i == first) continue;
            var v = Vector256.LoadUnsafe(ref px, (nuint)i);
            var more = Vector256.GreaterThan(v, best);
            best = Vector256.ConditionalSelect(more, v, best);
            at = Vector256.ConditionalSelect(more.AsInt32(), lanes + Vector256.Create(i), at);
        }
        best.StoreUnsafe(ref py, (nuint)o);
        at.StoreUnsafe(ref pa, (nuint)o);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Window128(ref float px, ref float py, ref int pa, int o, int first, int y0, int y1, int x0, int x1, int b, in ConvGeometry g)
    {
        var lanes = Vector128.Create(0, 1, 2, 3);
        var best = Vector128.LoadUnsafe(ref px, (nuint)first);
        var at = lanes + Vector128.Create(first);
        int ch = first - ((b * g.H + y0) * g.W + x0) * g.C;
        for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++)
        {
            int i = ((b * g.H + iy) * g.W + ix) * g.C + ch;
            if (i == first) continue;
            var v = Vector128.LoadUnsafe(ref px, (nuint)i);
            var more = Vector128.GreaterThan(v, best);
            best = Vector128.ConditionalSelect(more, v, best);
            at = Vector128.ConditionalSelect(more.AsInt32(), lanes + Vector128.Create(i), at);
        }
        best.StoreUnsafe(ref py, (nuint)o);
        at.StoreUnsafe(ref pa, (nuint)o);
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
